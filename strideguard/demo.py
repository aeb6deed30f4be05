"""``strideguard demo``: a demo athlete, a 16-week history as real FIT files, imported."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from sqlalchemy import delete, select

from alerts import timing
from alerts.digest import build_digest, load_digest_inputs
from alerts.links import LinkSigner
from alerts.render import digest_links, render_html, render_text, subject
from store.models import Activity, Athlete, Finding
from strideguard import units
from strideguard.analysis_service import analyse_athlete
from strideguard.app import App
from strideguard.cli_insights import finding_json
from strideguard.demo_history import HR_MAX, HR_REST, write_demo_map, write_history
from strideguard.instance_secret import secret_key
from strideguard.report import render_findings_table
from strideguard.web.auth import ensure_demo_user

DEMO_HANDLE = "demo"
DEMO_NAME = "Demo Runner"
DEMO_TIME_ZONE = "Europe/Copenhagen"
DEMO_MAP_NAME = "demo-neighbourhood.osm.gz"


def run_demo(app: App, *, console: Console, weeks: int = 16, now: datetime | None = None) -> int:
    """Recreate the demo athlete from scratch and import its history; return the athlete id."""
    tz = ZoneInfo(DEMO_TIME_ZONE)
    today = (now or datetime.now(tz)).astimezone(tz).date()
    started = time.perf_counter()
    with app.sessions.begin() as session:
        session.execute(delete(Athlete).where(Athlete.handle == DEMO_HANDLE))
        athlete = Athlete(
            handle=DEMO_HANDLE,
            display_name=DEMO_NAME,
            time_zone=DEMO_TIME_ZONE,
            hr_max=float(HR_MAX),
            hr_rest=float(HR_REST),
        )
        session.add(athlete)
        session.flush()
        athlete_id = athlete.id
    # The demo's neighbourhood map (like an OSM extract of your city dropped into data/osm):
    # it lets surface classification measure road versus trail instead of guessing.
    map_path = app.settings.osm_dir / DEMO_MAP_NAME
    map_path.parent.mkdir(parents=True, exist_ok=True)
    write_demo_map(map_path, end=today, tz=tz, weeks=weeks)
    with tempfile.TemporaryDirectory(prefix="strideguard-demo-") as tmp:
        with console.status(f"Writing {weeks} weeks of FIT files…"):
            files = write_history(Path(tmp), end=today, tz=tz, weeks=weeks)
        written = sum(f.stat().st_size for f in files)
        with console.status(f"Importing {len(files)} FIT files…"):
            report = app.importer().import_paths(athlete_id, [Path(tmp)], kind="demo")
    with app.sessions.begin() as session:
        athlete = session.get_one(Athlete, athlete_id)
        analyse_athlete(session, athlete, as_of=today)
        findings = [
            finding_json(row)
            for row in session.scalars(
                select(Finding)
                .where(Finding.athlete_id == athlete_id)
                .order_by(Finding.local_date, Finding.rule_id)
            )
        ]
    digest_paths = _write_digest(app, athlete, today=today)
    email, password = ensure_demo_user(app, athlete_id)
    elapsed = time.perf_counter() - started
    with app.sessions() as session:
        stored = session.scalars(
            select(Activity).where(Activity.athlete_id == athlete_id).order_by(Activity.start_utc)
        ).all()
        runs = [a for a in stored if a.sport == "running"]
        run_km = sum((a.distance_m or 0.0) for a in runs)
    console.print(
        f"[bold]{DEMO_NAME}[/] ({DEMO_TIME_ZONE}): wrote {len(files)} FIT files "
        f"({units.size(written)}) and imported them in {elapsed:.1f} s"
    )
    console.print(
        f"{report.count('imported')} files imported, {report.count('failed')} failed: "
        f"{len(stored)} activities, {len(runs)} runs, {units.km(run_km)} of running"
        + (f" from {stored[0].local_date} to {stored[-1].local_date}" if stored else "")
    )
    render_findings_table(console, findings, title="What the rules found in the demo history")
    rules = sorted({f["rule_id"] for f in findings})
    console.print(f"{len(findings)} findings from {len(rules)} rules: {', '.join(rules)}")
    console.print(
        "The weekly prevention digest for the week just ended: "
        + ", ".join(str(p) for p in digest_paths)
    )
    console.print(
        f"Web dashboard: [bold]strideguard serve[/], open http://127.0.0.1:8000 and sign in as "
        f"[bold]{email}[/] with password [bold]{password}[/]"
    )
    console.print(
        "Next: [bold]strideguard report[/] for the weekly summary, "
        "[bold]strideguard activities[/] for the list."
    )
    return athlete_id


def _write_digest(app: App, athlete: Athlete, *, today: date) -> tuple[Path, Path]:
    """The demo athlete's digest of the local week just ended, as text and HTML files."""
    monday = timing.week_monday(today) - timedelta(days=7)
    with app.sessions() as session:
        data = build_digest(load_digest_inputs(session, athlete, monday))
    now = datetime.now(UTC)
    links = digest_links(LinkSigner(secret_key(app.settings), app.settings.base_url), data, now=now)
    out = app.settings.data_dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    label = timing.iso_week_label(monday)
    text_path, html_path = out / f"digest-{label}.txt", out / f"digest-{label}.html"
    text_path.write_text(f"Subject: {subject(data)}\n\n{render_text(data, links)}")
    html_path.write_text(render_html(data, links))
    return text_path.resolve(), html_path.resolve()
