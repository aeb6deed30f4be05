"""Plan and render (not send) the weekly digests of 10,000 synthetic athletes, on one core.

`uv run python -m bench.digest_bench [--athletes N]`. Inputs are built before timing: the
athletes and their notification settings in a temporary SQLite database (for the planning
pass, which really inserts the ledger rows), and five weeks of runs, logs and findings per
athlete in memory (for the digests). Timed: one planning pass over every athlete (slot in the
athlete's zone, insert-or-ignore into the ledger), then the digest data, text and HTML of each.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alerts.digest import DigestInputs, FindingView, build_digest
from alerts.links import LinkSigner
from alerts.planning import plan_all
from alerts.render import digest_links, render_digest
from analysis.model import ActivityDerived, ActivitySummary, PainLog, SurfaceBreakdown
from store.db import make_engine, migrate, session_factory
from store.models import Athlete
from store.notifications import NotificationSettings

ZONES = ("Pacific/Auckland", "Europe/Berlin", "America/Los_Angeles", "UTC", "Asia/Kolkata")
MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 23, 20, tzinfo=UTC)  # after every zone's Monday 07:00


def synthetic_inputs(athlete_id: int, rng: random.Random) -> DigestInputs:
    acts: list[ActivitySummary] = []
    for day_back in range(35):
        day = MONDAY + timedelta(days=6 - day_back)
        if rng.random() < 0.55:
            km = rng.uniform(5, 22)
            acts.append(
                ActivitySummary(
                    id=athlete_id * 100 + len(acts),
                    local_date=day,
                    start=datetime(day.year, day.month, day.day, 6, tzinfo=UTC),
                    sport="running",
                    sub_sport=None,
                    elapsed_s=km * 340,
                    moving_s=km * 330,
                    distance_m=km * 1000,
                    derived=ActivityDerived(
                        surface=SurfaceBreakdown(
                            hard_m=km * 600, soft_m=km * 300, unknown_m=km * 100, confidence=0.8
                        )
                    ),
                )
            )
    findings = [
        FindingView(
            rule_id=rule,
            subject=f"x:{i}",
            local_date=MONDAY + timedelta(days=i),
            severity=rng.choice(["low", "moderate", "high"]),
            evidence_grade=grade,
            message=f"Synthetic finding {i}: 12.5 km, 35 % above the reference.",
            action="Keep the next runs easy.",
            citation="Frandsen et al. 2025",
        )
        for i, (rule, grade) in enumerate(
            rng.sample(
                [("single_run_spike", "B"), ("monotony", "D"), ("missing_strength", "A")],
                k=rng.randint(0, 3),
            )
        )
    ]
    return DigestInputs(
        athlete_id=athlete_id,
        handle=f"a{athlete_id}",
        display_name=f"Athlete {athlete_id}",
        units=rng.choice(["km", "mi"]),
        strength_goal=2,
        muted_rules=frozenset(),
        week_monday=MONDAY,
        activities=acts,
        loads={a.id: rng.uniform(30, 150) for a in acts},
        strength_log_dates=[MONDAY + timedelta(days=1)] if rng.random() < 0.5 else [],
        pain_logs=[PainLog(local_date=MONDAY + timedelta(days=2), area="upper_back", score=3)]
        if rng.random() < 0.2
        else [],
        findings=findings,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--athletes", type=int, default=10_000)
    n = parser.parse_args().athletes
    rng = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            for i in range(n):
                athlete = Athlete(handle=f"a{i}", display_name=f"A {i}", time_zone=ZONES[i % 5])
                session.add(athlete)
                session.flush()
                session.add(
                    NotificationSettings(
                        athlete_id=athlete.id, email=f"a{i}@example.test", push_urls=[]
                    )
                )
        inputs = [synthetic_inputs(i + 1, rng) for i in range(n)]
        signer = LinkSigner("bench-secret-0123456789abcdef", "https://strideguard.example")

        t0 = time.perf_counter()
        with sessions.begin() as session:
            report = plan_all(session, now=NOW)
        t_plan = time.perf_counter() - t0
        assert report.planned.get("digest") == n, report.planned

        t0 = time.perf_counter()
        size = 0
        for item in inputs:
            digest = build_digest(item)
            rendered = render_digest(digest, digest_links(signer, digest, now=NOW))
            size += len(rendered.text) + len(rendered.html)
        t_render = time.perf_counter() - t0
        engine.dispose()

    total = t_plan + t_render
    print(f"athletes:            {n:,}")
    print(f"plan (ledger, SQLite): {t_plan:8.2f} s  ({n / t_plan:,.0f} athletes/s)")
    print(f"build + render:       {t_render:8.2f} s  ({n / t_render:,.0f} athletes/s)")
    print(f"total:                {total:8.2f} s  ({n / total:,.0f} athletes/s)")
    print(f"rendered:             {size / n / 1024:8.1f} KiB per athlete (text + HTML)")
    print(f"target: < 60 s on one core -> {'OK' if total < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
