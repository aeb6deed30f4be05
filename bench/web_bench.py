"""Web benchmark: the dashboard's data routes and the upload route over loopback.

Builds, in a temporary data directory, the demo athlete (`strideguard.demo.run_demo`, 16 weeks
of FIT files imported) and a 5-year athlete (synthetic stored rows with derived metrics, about
5 runs a week plus strength sessions), starts ``uvicorn`` on 127.0.0.1 (ephemeral port) with 1
and then 2 workers, and drives each route with a bounded httpx-based async load generator
(a fixed number of requests or a time limit, whichever comes first, at fixed concurrency).
Prints requests/s and p50/p95 latency per route, then the time from uploading a one-hour FIT
file to its findings being visible through the API.

    uv run python -m bench.web_bench                 # everything (a few minutes)
    uv run python -m bench.web_bench --requests 200  # fewer requests per route

Targets: p95 < 150 ms for the 5-year athlete's dashboard data; upload -> findings < 2 s.
The load generator shares the machine with the server, so on 2 cores the figures are a floor.
Only 127.0.0.1 traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console

from analysis.codec import derived_to_json
from analysis.model import ActivityDerived, SurfaceBreakdown, SurfaceMethod
from store import models
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.demo import DEMO_TIME_ZONE, run_demo
from strideguard.demo_history import encode_activity, plan_history
from strideguard.settings import Settings
from strideguard.web.auth import create_api_token, create_user

DASHBOARD_ROUTES = (
    "/api/dashboard/fitness",
    "/api/dashboard/surfaces",
    "/api/dashboard/runs",
    "/api/dashboard/strength",
)
SECRET = "web-bench-secret"


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- data ------------------------------------------------------------------------------------


def _token(app: App, user_id: int) -> str:
    with app.sessions.begin() as session:
        _, token = create_api_token(session, user_id, "bench")
    return token


def build_demo(app: App) -> str:
    """The demo athlete (16 weeks of real FIT files through the importer); its API token."""
    athlete_id = run_demo(app, console=Console(quiet=True))
    with app.sessions() as session:
        from store.accounts import User

        user = session.query(User).filter_by(athlete_id=athlete_id).one()
        return _token(app, user.id)


def _derived(rng: random.Random, minutes: float, km: float, treadmill: bool) -> dict[str, object]:
    hist: dict[int, float] = {}
    for _ in range(12):
        bpm = int(rng.gauss(145, 10))
        hist[bpm] = hist.get(bpm, 0.0) + minutes * 60 / 12
    metres = km * 1000
    if treadmill:
        surface = SurfaceBreakdown(treadmill_m=metres, confidence=1.0, method=SurfaceMethod.INDOOR)
    else:
        hard = metres * rng.uniform(0.3, 0.9)
        soft = (metres - hard) * rng.uniform(0, 0.6)
        unknown = (metres - hard - soft) * 0.2
        surface = SurfaceBreakdown(
            hard_m=hard,
            soft_m=soft,
            unknown_m=unknown,
            moderate_m=metres - hard - soft - unknown,
            confidence=rng.uniform(0.5, 0.95),
            method=SurfaceMethod.MAP,
        )
    return derived_to_json(ActivityDerived(hr_seconds_by_bpm=hist, surface=surface))


def build_five_years(app: App, email: str = "five@example.com") -> str:
    """An athlete with 5 years of stored rows (about 5 runs a week); its API token."""
    rng = random.Random(5)
    with app.sessions.begin() as session:
        user = create_user(session, email=email, password="bench-password-5y")
        athlete = session.get_one(models.Athlete, user.athlete_id)
        athlete.time_zone, athlete.hr_max, athlete.hr_rest = "Europe/Oslo", 188.0, 50.0
        today = local_today(athlete)
        day = today - timedelta(days=5 * 365)
        n = 0
        rows: list[object] = []
        while day <= today:
            if rng.random() < 5 / 7:
                km = max(3.0, rng.gauss(11 if day.weekday() == 6 else 8, 2.5))
                minutes = km * rng.uniform(4.6, 6.2)
                treadmill = rng.random() < 0.08
                start = datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)
                rows.append(
                    models.Activity(
                        athlete_id=athlete.id,
                        source=models.ActivitySource.MANUAL,
                        source_id=f"bench-{n}",
                        sport="running",
                        sub_sport="treadmill" if treadmill else "street",
                        start_utc=start,
                        local_offset_s=3600,
                        local_date=day,
                        elapsed_s=minutes * 62,
                        moving_s=minutes * 60,
                        distance_m=km * 1000,
                        avg_hr=145.0,
                        max_hr=175.0,
                        has_gps=not treadmill,
                        derived=_derived(rng, minutes, km, treadmill),
                    )
                )
                n += 1
            if day.weekday() in (1, 4) and rng.random() < 0.6:
                rows.append(models.StrengthLog(athlete_id=athlete.id, local_date=day, minutes=20))
            day += timedelta(days=1)
        session.add_all(rows)
        session.flush()
        analyse_athlete(session, athlete, as_of=today)
        user_id = user.id
    print(f"5-year athlete: {n} runs, {len(rows) - n} strength logs")
    return _token(app, user_id)


def one_hour_fit() -> bytes:
    """A demo-style run of about an hour (HR, pace, GPS), encoded as a FIT file."""
    tz = ZoneInfo(DEMO_TIME_ZONE)
    planned = [
        p for p in plan_history(end=datetime.now(tz).date(), tz=tz, weeks=16, seed=11) if p.is_run
    ]
    best = min(planned, key=lambda p: abs(p.duration_s - 3600))
    print(f"one-hour file: {best.workout}, {best.duration_s / 60:.0f} min, {best.distance_m:.0f} m")
    return encode_activity(best)


# -- the server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, data_dir: Path, workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = os.environ | {
            "STRIDEGUARD_DATA_DIR": str(data_dir),
            "STRIDEGUARD_SECRET_KEY": SECRET,
            "STRIDEGUARD_IMPORT_WORKERS": "1",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "strideguard.web.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- load ----------------------------------------------------------------------------------------


async def _load(
    url: str,
    token: str,
    *,
    label: str,
    requests: int,
    seconds: float,
    concurrency: int,
    upload: bytes | None = None,
) -> Result:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    remaining = requests
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                began = time.perf_counter()
                if upload is None:
                    response = await client.get(url)
                else:
                    files = [("files", ("run.fit", upload, "application/octet-stream"))]
                    response = await client.post(url, files=files)
                latencies.append(time.perf_counter() - began)
                if response.status_code >= 400:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return Result(
        label=label,
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=1000 * statistics.median(latencies),
        p95_ms=1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
    )


def _print(results: list[Result]) -> None:
    print(f"{'route':58} {'n':>5} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        print(
            f"{r.label:58} {r.requests:5d} {r.errors:4d} {r.rps:8.1f} {r.p50_ms:8.1f} "
            f"{r.p95_ms:8.1f}"
        )


def findings_visible(base: str, token: str, data: bytes) -> float:
    """Seconds from starting the upload to the job saying its findings are stored and the
    activity's findings being listed by ``/api/findings``."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        before = {f["id"] for f in client.get("/api/findings", params={"limit": 1000}).json()}
        began = time.perf_counter()
        job = client.post("/api/uploads", files=[("files", ("hour.fit", data))]).json()
        while not job["findings_ready"] and job["status"] not in ("failed",):
            time.sleep(0.02)
            job = client.get(f"/api/uploads/{job['id']}").json()
        ids = [i for f in job["files"] for i in f["activity_ids"]]
        findings = client.get("/api/findings", params={"limit": 1000}).json()
        elapsed = time.perf_counter() - began
    subjects = {f["subject"] for f in findings if f["id"] not in before}
    print(
        f"  job {job['status']}, activities {ids}, {len(findings)} findings "
        f"({len(subjects)} new or changed subjects)"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="per route and run")
    parser.add_argument("--seconds", type=float, default=15.0, help="time limit per route")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="strideguard-web-bench-") as tmp:
        data_dir = Path(tmp)
        app = App(Settings(data_dir=data_dir, secret_key=SECRET, import_workers=1))
        began = time.perf_counter()
        demo = build_demo(app)
        print(f"demo athlete built in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        five = build_five_years(app)
        print(f"5-year athlete built in {time.perf_counter() - began:.1f} s")
        hour = one_hour_fit()
        with app.sessions.begin() as session:
            fresh_user = create_user(session, email="new@example.com", password="bench-pw-new")
            fresh_id = fresh_user.id
        fresh = _token(app, fresh_id)
        sample = hour
        app.close()

        for workers in args.workers:
            server = Server(data_dir, workers)
            try:
                print(f"\n== uvicorn, {workers} worker(s), concurrency {args.concurrency} ==")
                results: list[Result] = []
                for name, token in (("demo", demo), ("5 years", five)):
                    # First request per worker computes and caches: measured separately.
                    cold = asyncio.run(
                        _load(
                            server.url + DASHBOARD_ROUTES[0],
                            token,
                            label=f"{name}: first request (cache miss)",
                            requests=1,
                            seconds=60,
                            concurrency=1,
                        )
                    )
                    results.append(cold)
                    for route in DASHBOARD_ROUTES:
                        asyncio.run(  # warm every worker's cache
                            _load(
                                server.url + route,
                                token,
                                label="warm-up",
                                requests=4 * workers,
                                seconds=60,
                                concurrency=workers,
                            )
                        )
                        results.append(
                            asyncio.run(
                                _load(
                                    server.url + route,
                                    token,
                                    label=f"{name}: GET {route}",
                                    requests=args.requests,
                                    seconds=args.seconds,
                                    concurrency=args.concurrency,
                                )
                            )
                        )
                results.append(
                    asyncio.run(
                        _load(
                            server.url + "/api/uploads",
                            demo,
                            label="demo: POST /api/uploads (1-hour FIT, 202)",
                            requests=min(args.requests, 40),
                            seconds=args.seconds,
                            concurrency=2,
                            upload=sample,
                        )
                    )
                )
                _print(results)
            finally:
                server.stop()

        print("\n== one-hour FIT uploaded -> findings visible (1 worker) ==")
        server = Server(data_dir, 1)
        try:
            for name, token in (("new athlete", fresh), ("5-year athlete", five)):
                seconds = findings_visible(server.url, token, hour)
                print(f"{name}: {seconds:.2f} s (target < 2 s)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
