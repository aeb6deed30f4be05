"""``strideguard user create`` and the demo's account."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from store.models import Athlete
from strideguard.app import App
from strideguard.cli import cli
from strideguard.settings import Settings
from strideguard.web.app import create_app
from strideguard.web.auth import ensure_demo_user
from tests.web.conftest import TestClient, sign_in


def test_user_create_from_stdin(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIDEGUARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRIDEGUARD_DATABASE_URL", db_url)
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["user", "create", "--email", "Op@Example.com", "--password-stdin"],
        input="s3cret-pass\n",
    )
    assert made.exit_code == 0, made.output
    again = runner.invoke(
        cli,
        ["user", "create", "--email", "op@example.com", "--password-stdin"],
        input="s3cret-pass\n",
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    short = runner.invoke(
        cli, ["user", "create", "--email", "b@example.com", "--password-stdin"], input="x\n"
    )
    assert short.exit_code == 1
    core = App(Settings())
    try:
        with TestClient(create_app(core)) as client:
            sign_in(client, "op@example.com", "s3cret-pass")
    finally:
        core.close()


def test_demo_user_can_sign_in(db_url: str, tmp_path: Path) -> None:
    core = App(Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key="k"))
    try:
        with core.sessions.begin() as session:
            athlete = Athlete(handle="demo", display_name="Demo Runner")
            session.add(athlete)
            session.flush()
            athlete_id = athlete.id
        email, password = ensure_demo_user(core, athlete_id)
        assert ensure_demo_user(core, athlete_id) == (email, password)  # idempotent
        with TestClient(create_app(core)) as client:
            sign_in(client, email, password)
            assert client.get("/api/profile").json()["display_name"] == "Demo Runner"
    finally:
        core.close()
