"""The dashboard: chart data against hand computation, escaping, isolation, text equivalents,
and the SVG charts rendering in a real browser."""

from __future__ import annotations

import re
import threading
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from analysis.codec import derived_to_json
from analysis.model import ActivityDerived, SurfaceBreakdown, SurfaceMethod
from store import models
from strideguard.app import App
from strideguard.settings import Settings
from strideguard.web import charts, dashboard
from strideguard.web.app import create_app
from tests.web.conftest import RUN, TestClient, make_user, new_client, sign_in, upload
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port

TODAY = datetime.now(UTC).date()  # the accounts below live in UTC


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    dashboard.CACHE.clear()
    yield
    dashboard.CACHE.clear()


def _surface(hard: float, moderate: float, soft: float, treadmill: float, unknown: float) -> Any:
    return derived_to_json(
        ActivityDerived(
            hr_seconds_by_bpm={140: 1800.0},
            surface=SurfaceBreakdown(
                hard_m=hard,
                moderate_m=moderate,
                soft_m=soft,
                treadmill_m=treadmill,
                unknown_m=unknown,
                confidence=0.8,
                method=SurfaceMethod.MAP,
            ),
        )
    )


def _add(
    core: App,
    athlete_id: int,
    day: date,
    *,
    sport: str = "running",
    km: float = 10.0,
    derived: Any = None,
    n: int = 0,
) -> int:
    with core.sessions.begin() as session:
        row = models.Activity(
            athlete_id=athlete_id,
            source=models.ActivitySource.MANUAL,
            source_id=f"{day}-{sport}-{n}",
            sport=sport,
            sub_sport=None,
            start_utc=datetime.combine(day, time(7, n % 60), UTC),
            local_offset_s=0,
            local_date=day,
            elapsed_s=km * 330,
            moving_s=km * 320,
            distance_m=km * 1000,
            avg_hr=145.0,
            max_hr=170.0,
            has_gps=True,
            derived=derived,
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def runner(core: App, web: FastAPI) -> tuple[TestClient, int, str]:
    _, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    csrf = sign_in(client, "runner@example.com")
    return client, athlete_id, csrf


def test_weekly_surface_metres_are_the_sums_of_the_stored_breakdowns(
    core: App, runner: tuple[TestClient, int, str]
) -> None:
    client, athlete_id, _ = runner
    monday = TODAY - timedelta(days=TODAY.weekday())
    last_week = monday - timedelta(days=7)
    rows = [
        (last_week, _surface(6000, 2000, 1000, 0, 1000), 10.0),
        (last_week + timedelta(days=2), _surface(0, 0, 0, 8000, 0), 8.0),
        (monday, _surface(3000, 0, 2500, 0, 500), 6.0),
        (monday, None, 4.0),  # no breakdown: all of it unknown
    ]
    for i, (day, derived, km) in enumerate(rows):
        _add(core, athlete_id, day, km=km, derived=derived, n=i)
    _add(core, athlete_id, monday, sport="cycling", km=30.0, n=9)  # not a run: not counted

    weeks = client.get("/api/dashboard/surfaces", params={"weeks": 2}).json()
    assert [w["week"] for w in weeks] == [last_week.isoformat(), monday.isoformat()]
    expected = {
        last_week.isoformat(): {
            "hard_m": 6000 + 0,
            "moderate_m": 2000,
            "soft_m": 1000,
            "treadmill_m": 8000,
            "unknown_m": 1000,
        },
        monday.isoformat(): {
            "hard_m": 3000,
            "moderate_m": 0,
            "soft_m": 2500,
            "treadmill_m": 0,
            "unknown_m": 500 + 4000,
        },
    }
    for week in weeks:
        for bucket, metres in expected[week["week"]].items():
            assert week[bucket] == pytest.approx(metres), (week["week"], bucket)


def test_runs_ceiling_spikes_and_strength_against_hand_computation(
    core: App, runner: tuple[TestClient, int, str]
) -> None:
    client, athlete_id, csrf = runner
    d0 = TODAY - timedelta(days=40)
    plan = [(d0, 10.0), (d0 + timedelta(days=3), 12.5), (d0 + timedelta(days=20), 8.0)]
    plan += [(TODAY - timedelta(days=10), 6.0), (TODAY - timedelta(days=2), 13.0)]
    ids = [_add(core, athlete_id, day, km=km, n=i) for i, (day, km) in enumerate(plan)]
    headers = {"X-CSRF-Token": csrf}
    for back in (0, 1, 8):
        client.post(
            "/api/logs/strength",
            json={"minutes": 20, "local_date": (TODAY - timedelta(days=back)).isoformat()},
            headers=headers,
        )

    data = client.get("/api/dashboard/runs", params={"days": 60}).json()
    by_id = {r["activity_id"]: r for r in data["runs"]}
    assert set(by_id) == set(ids)
    # Bands by hand (ratio to the longest run that started in the 30 days before):
    # 12.5 / 10 = 1.25 -> small; 8 / 12.5 -> none; 6 / 8 -> none (12.5 is 37 days back);
    # 13 / 8 = 1.625 -> moderate (the 6 km is shorter).
    assert [by_id[i]["spike"] for i in ids] == ["none", "small", "none", "none", "moderate"]
    with core.sessions() as session:
        for activity_id in (ids[1], ids[4]):
            finding = (
                session.query(models.Finding)
                .filter_by(rule_id="single_run_spike", subject=f"activity:{activity_id}")
                .one()
            )
            assert finding.inputs["band"] == by_id[activity_id]["spike"]
    ceiling = {c["date"]: c for c in data["ceiling"]}
    assert len(data["ceiling"]) == 60
    for offset in range(60):
        day = TODAY - timedelta(days=offset)
        window = [km for d, km in plan if day - timedelta(days=29) <= d <= day]
        expected = max(window) if window else None
        point = ceiling[day.isoformat()]
        assert point["longest_km"] == pytest.approx(expected), day
        if expected is not None:
            assert point["ceiling_km"] == pytest.approx(expected * 1.1)
    # Today's point agrees with the analysis' own ceiling.
    api = client.get("/api/load/ceiling").json()
    assert ceiling[TODAY.isoformat()]["ceiling_km"] == pytest.approx(api["ceiling_km"])

    weeks = client.get("/api/dashboard/strength", params={"weeks": 3}).json()
    monday = TODAY - timedelta(days=TODAY.weekday())
    logged = [TODAY - timedelta(days=b) for b in (0, 1, 8)]
    for week in weeks:
        start = date.fromisoformat(week["week"])
        assert week["sessions"] == sum(1 for d in logged if start <= d < start + timedelta(7))
        assert week["goal"] == 2
    assert weeks[-1]["week"] == monday.isoformat()

    fitness = client.get("/api/dashboard/fitness", params={"days": 30}).json()
    daily = client.get("/api/load/daily", params={"days": 30}).json()
    assert [(f["date"], f["ctl"], f["tsb"]) for f in fitness] == [
        (d["date"], d["ctl"], d["tsb"]) for d in daily
    ]


def test_cache_is_reused_and_invalidated_by_new_data(
    core: App, runner: tuple[TestClient, int, str]
) -> None:
    client, athlete_id, csrf = runner
    _add(core, athlete_id, TODAY - timedelta(days=3), km=5.0)
    client.get("/api/dashboard/strength")
    misses = dashboard.CACHE.misses
    for path in ("fitness", "surfaces", "runs", "strength"):
        assert client.get(f"/api/dashboard/{path}").status_code == 200
    assert dashboard.CACHE.misses == misses  # all served from the cache
    assert client.get("/api/dashboard/strength").json()[-1]["sessions"] == 0
    client.post("/api/logs/strength", json={"minutes": 15}, headers={"X-CSRF-Token": csrf})
    assert client.get("/api/dashboard/strength").json()[-1]["sessions"] == 1
    client.put("/api/profile", json={"strength_goal_per_week": 4}, headers={"X-CSRF-Token": csrf})
    assert client.get("/api/dashboard/strength").json()[-1]["goal"] == 4
    _add(core, athlete_id, TODAY, km=7.0, n=5)  # written behind the web app's back
    assert any(r["distance_km"] == 7.0 for r in client.get("/api/dashboard/runs").json()["runs"])


_FIGURE = re.compile(r'<figure class="chart" id="chart-(\w+)">(.*?)</figure>', re.S)


def test_every_chart_has_a_title_description_and_text_equivalent(
    core: App, runner: tuple[TestClient, int, str]
) -> None:
    client, athlete_id, _ = runner
    for i in range(12):
        _add(
            core,
            athlete_id,
            TODAY - timedelta(days=3 * i),
            km=5 + i % 4,
            n=i,
            derived=_surface(3000, 1000, 1000, 0, 0),
        )
    page = client.get("/dashboard")
    assert page.status_code == 200
    figures = dict(_FIGURE.findall(page.text))
    assert set(figures) == {"fitness", "surfaces", "runs", "strength"}
    for key, body in figures.items():
        assert re.search(r"<svg[^>]*viewBox=\"0 0 \d+ \d+\"[^>]*width=\"100%\"", body), key
        assert re.search(r"<title id=\"svg-\w+-title\">[^<]+</title>", body), key
        assert re.search(r"<desc id=\"svg-\w+-desc\">[^<]+</desc>", body), key
        summary = re.search(r'<p class="chart-summary">([^<]+)</p>', body)
        assert summary is not None, key
        assert len(summary.group(1).strip()) > 20, key
        assert '<table class="chart-table">' in body, key
    # The home page leads to the dashboard.
    assert 'href="/dashboard"' in client.get("/").text


def test_text_is_escaped_everywhere(core: App, runner: tuple[TestClient, int, str]) -> None:
    client, athlete_id, csrf = runner
    evil = '<script>alert("x")</script>'
    client.put("/api/profile", json={"display_name": evil}, headers={"X-CSRF-Token": csrf})
    activity_id = _add(core, athlete_id, TODAY, km=1.0, derived=_surface(1000, 0, 0, 0, 0))
    with core.sessions.begin() as session:
        session.get_one(models.Activity, activity_id).device = evil
    for url in ("/dashboard", f"/activities/{activity_id}"):
        text = client.get(url).text
        assert "<script>" not in text, url
        assert "&lt;script&gt;" in text, url
    # And the chart building blocks themselves.
    table = charts._table(["<th>"], [("<b>", "&")], '"caption"')
    assert "<b>" not in table
    assert "&lt;b&gt;" in table
    assert "&amp;" in table
    assert "&#34;caption&#34;" in table or "&quot;caption&quot;" in table
    bar = charts.surface_bar({"hard_m": 5.0, "method": evil, "confidence": 1.0})
    assert "<script>" not in bar.svg
    assert "&lt;script&gt;" in bar.svg
    assert "<script>" in bar.summary  # plain text: the template escapes it
    fade_summary, fade_table = charts.form_fade({"cadence_spm": 170.0, "cadence_change_pct": -2.5})
    assert "-2.5 %" in fade_summary
    assert "170 spm" in fade_table


def test_activity_charts_from_a_real_fit_file_and_isolation(
    core: App, web: FastAPI, samples_dir: Path
) -> None:
    make_user(core, "alice@example.com")
    make_user(core, "bob@example.com")
    alice = new_client(web)
    csrf = sign_in(alice, "alice@example.com")
    job = upload(alice, [(RUN, (samples_dir / RUN).read_bytes())], csrf)
    activity_id = job["files"][0]["activity_ids"][0]

    data = alice.get(f"/api/dashboard/activities/{activity_id}").json()
    assert 10 < len(data["trace"]) <= 600
    assert any(p["hr_bpm"] for p in data["trace"])
    assert any(p["speed_mps"] for p in data["trace"])
    assert [p["t_s"] for p in data["trace"]] == sorted(p["t_s"] for p in data["trace"])
    page = alice.get(f"/activities/{activity_id}").text
    assert 'class="line line-hr"' in page
    assert 'class="line line-pace"' in page
    assert 'id="chart-zones"' in page
    assert 'id="chart-surface"' in page
    assert 'id="form-fade"' in page

    bob = new_client(web)
    sign_in(bob, "bob@example.com")
    assert bob.get(f"/api/dashboard/activities/{activity_id}").status_code == 404
    assert bob.get(f"/activities/{activity_id}").status_code == 404
    assert bob.get("/api/dashboard/runs").json()["runs"] == []
    assert alice.get("/dashboard").status_code == 200
    assert new_client(web).get("/api/dashboard/fitness").status_code == 401


def test_downsample_keeps_at_most_600_points() -> None:
    t = [float(i) for i in range(3600)]
    points = charts.downsample(t, [150.0] * 3600, [3.0] * 1800 + [None] * 1800, 600)
    assert len(points) == 600
    assert points[0].hr_bpm == 150.0
    assert points[-1].speed_mps is None
    assert charts.downsample([], [], []) == []


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, App]]:
    """The app on a loopback port (as in test_browser), with its `App` to seed rows."""
    core = App(Settings(data_dir=tmp_path / "data", import_workers=1, secret_key="browser"))
    port = _free_port()
    config = uvicorn.Config(create_app(core), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = clock.monotonic() + 20
    while not instance.started:
        if clock.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        clock.sleep(0.05)
    yield f"http://127.0.0.1:{port}", core
    instance.should_exit = True
    thread.join(timeout=20)
    core.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_dashboard_svg_charts_render_in_chromium(live: tuple[str, App], samples_dir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.web.conftest import PASSWORD

    server, core = live
    _, athlete_id = make_user(core, "runner@example.com")
    for i in range(60):
        day = TODAY - timedelta(days=2 * i)
        km = 14.0 if i == 5 else 6 + i % 5
        _add(core, athlete_id, day, km=km, n=i, derived=_surface(4000, 1000, 500, 0, 500))
    with core.sessions.begin() as session:
        for back in (1, 4, 9, 15):
            session.add(
                models.StrengthLog(
                    athlete_id=athlete_id, local_date=TODAY - timedelta(days=back), minutes=20
                )
            )

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/login")
            page.fill("input[name=email]", "runner@example.com")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.click("#dashboard-link a")
            expect(page).to_have_url(server + "/dashboard")
            svgs = page.locator("svg.chart-svg")
            expect(svgs).to_have_count(4)
            for i in range(4):
                svg = svgs.nth(i)
                name = svg.get_attribute("id")
                box = svg.bounding_box()
                assert box is not None, name
                assert box["width"] > 300, name
                assert box["height"] > 100, name
                assert box["width"] <= 390, name  # fits the phone screen
                assert svg.locator("rect, polyline, circle").count() > 2, name
                # Something is painted: the drawn shapes have an extent in the layout.
                area = svg.evaluate("e => e.getBBox().width * e.getBBox().height")
                assert area > 10_000, name
            expect(
                page.locator(
                    "#svg-runs circle.spike-moderate, #svg-runs circle.spike-large, "
                    "#svg-runs circle.spike-small"
                )
            ).not_to_have_count(0)

            # A real FIT file: the activity page draws its HR and pace trace.
            page.goto(server + "/upload")
            page.set_input_files("#files", [str(samples_dir / RUN)])
            expect(page.locator("#done")).to_be_visible(timeout=60_000)
            with core.sessions() as session:
                fit_id = (
                    session.query(models.Activity.id)
                    .filter_by(athlete_id=athlete_id, source=models.ActivitySource.FIT)
                    .scalar()
                )
            page.goto(f"{server}/activities/{fit_id}")
            expect(page.locator("#svg-trace polyline.line-hr").first).to_be_visible()
            expect(page.locator("#svg-trace polyline.line-pace").first).to_be_visible()
            assert errors == []
        finally:
            browser.close()
