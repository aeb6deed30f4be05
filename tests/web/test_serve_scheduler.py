"""``serve --with-scheduler``: the scheduler runs inside the web process, led through the lock."""

from __future__ import annotations

from pathlib import Path

from connector.strava.crypto import TokenCipher
from strideguard.app import App
from strideguard.cli_alerts import leader_only, make_ticks
from strideguard.cli_web import with_scheduler
from strideguard.settings import Settings
from strideguard.web.app import create_app
from tests.web.conftest import TestClient


def _core(tmp_path: Path, db_url: str, *, strava: bool) -> App:
    extra = (
        {
            "strava_client_id": 1234,
            "strava_client_secret": "app-secret",
            "strava_token_keys": TokenCipher.generate_key(),
        }
        if strava
        else {}
    )
    return App(
        Settings(
            data_dir=tmp_path / "data",
            database_url=db_url,
            secret_key="test-secret-key-long-enough-for-links",
            **extra,
        )
    )


def test_web_process_runs_the_scheduler_with_strava_jobs(tmp_path: Path, db_url: str) -> None:
    core = _core(tmp_path, db_url, strava=True)
    try:
        web = with_scheduler(create_app(core))
        with TestClient(web) as client:
            assert client.get("/healthz").status_code == 200
            sched = web.state.scheduler
            assert sched.running
            ids = {job.id for job in sched.get_jobs()}
            assert ids == {
                "alerts-plan",
                "alerts-dispatch",
                "strava-events",
                "strava-catch-up",
                "strava-purge-raw",
            }
        assert not sched.running
    finally:
        core.close()


def test_without_strava_only_the_purge_is_added(tmp_path: Path, db_url: str) -> None:
    from strideguard.cli_alerts import strava_jobs

    core = _core(tmp_path, db_url, strava=False)
    try:
        jobs = strava_jobs(core, make_ticks(core))
        assert [job_id for job_id, _func, _every in jobs] == ["strava-purge-raw"]
    finally:
        core.close()


def test_only_the_lease_holder_runs_extra_jobs(tmp_path: Path, db_url: str) -> None:
    core = _core(tmp_path, db_url, strava=False)
    try:
        first, second = make_ticks(core), make_ticks(core)  # two workers
        ran: list[str] = []
        job_a = leader_only(first, "job", lambda: ran.append("a"))
        job_b = leader_only(second, "job", lambda: ran.append("b"))
        job_a()
        job_b()
        assert ran == ["a"]
        first.release()  # a clean shutdown hands over at once
        job_b()
        job_a()
        assert ran == ["a", "b"]
    finally:
        core.close()
