"""The analysis over stored rows: findings are stored once, follow the profile, use the logs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from analysis.codec import derived_to_json
from analysis.model import ActivityDerived
from store import models
from strideguard.analysis_service import analyse_athlete, local_today

AS_OF = date(2026, 11, 26)


def _run(athlete_id: int, day: date, km: float, *, hr: int = 140) -> models.Activity:
    start = datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)
    minutes = km * 6
    derived = ActivityDerived(hr_seconds_by_bpm={hr: minutes * 60})
    return models.Activity(
        athlete_id=athlete_id,
        source=models.ActivitySource.FIT,
        source_id=f"{day.isoformat()}:{km}",
        sport="running",
        sub_sport="street",
        start_utc=start,
        local_offset_s=3600,
        local_date=day,
        elapsed_s=minutes * 60,
        moving_s=minutes * 60,
        distance_m=km * 1000,
        avg_hr=hr,
        max_hr=hr + 20,
        has_gps=True,
        derived=derived_to_json(derived),
    )


@pytest.fixture
def athlete(sessions: sessionmaker[Session]) -> int:
    """Six weeks of 8 km runs three times a week, then a 12 km run (1.5 x: moderate spike)."""
    with sessions.begin() as session:
        row = models.Athlete(
            handle="r", display_name="R", time_zone="Europe/Copenhagen", hr_max=190, hr_rest=50
        )
        session.add(row)
        session.flush()
        day = AS_OF - timedelta(days=42)
        while day < AS_OF - timedelta(days=2):
            if day.weekday() in (1, 3, 5):
                session.add(_run(row.id, day, 8.0))
            day += timedelta(days=1)
        session.add(_run(row.id, AS_OF - timedelta(days=1), 12.0))
        return row.id


def _findings(session: Session, athlete_id: int) -> list[models.Finding]:
    return list(
        session.scalars(select(models.Finding).where(models.Finding.athlete_id == athlete_id))
    )


def test_running_twice_never_duplicates_findings(
    sessions: sessionmaker[Session], athlete: int
) -> None:
    with sessions.begin() as session:
        analyse_athlete(session, session.get_one(models.Athlete, athlete), as_of=AS_OF)
        first = {(f.rule_id, f.subject): f.id for f in _findings(session, athlete)}
    with sessions.begin() as session:
        analyse_athlete(session, session.get_one(models.Athlete, athlete), as_of=AS_OF)
        second = {(f.rule_id, f.subject): f.id for f in _findings(session, athlete)}
    assert first == second
    spike = [key for key in first if key[0] == "single_run_spike"]
    assert len(spike) == 1


def test_spike_finding_carries_its_numbers(sessions: sessionmaker[Session], athlete: int) -> None:
    with sessions.begin() as session:
        analyse_athlete(session, session.get_one(models.Athlete, athlete), as_of=AS_OF)
        (spike,) = [f for f in _findings(session, athlete) if f.rule_id == "single_run_spike"]
    assert spike.severity == "moderate"
    assert spike.evidence_grade == "B"
    assert "12.0 km" in spike.message
    assert "8.0 km" in spike.message
    assert spike.local_date == AS_OF - timedelta(days=1)
    assert "Frandsen" in spike.citation
    assert spike.push


def test_muting_a_rule_removes_its_findings(sessions: sessionmaker[Session], athlete: int) -> None:
    with sessions.begin() as session:
        row = session.get_one(models.Athlete, athlete)
        analyse_athlete(session, row, as_of=AS_OF)
        before = {f.rule_id for f in _findings(session, athlete)}
        row.muted_rules = ["single_run_spike"]
        analyse_athlete(session, row, as_of=AS_OF)
        after = {f.rule_id for f in _findings(session, athlete)}
    assert "single_run_spike" in before
    assert after == before - {"single_run_spike"}


def test_profile_change_recomputes_load_from_the_stored_histogram(
    sessions: sessionmaker[Session], athlete: int
) -> None:
    with sessions.begin() as session:
        row = session.get_one(models.Athlete, athlete)
        first = analyse_athlete(session, row, as_of=AS_OF)
        row.hr_max = 175.0
        second = analyse_athlete(session, row, as_of=AS_OF)
    some_id = next(iter(first.loads))
    assert first.loads[some_id].method == "trimp_samples"
    # A lower HR max puts the same 140 bpm at a higher fraction of the reserve: more load.
    assert second.loads[some_id].load > first.loads[some_id].load


def test_logged_strength_sessions_count(sessions: sessionmaker[Session], athlete: int) -> None:
    monday = AS_OF - timedelta(days=AS_OF.weekday())
    with sessions.begin() as session:
        row = session.get_one(models.Athlete, athlete)
        analyse_athlete(session, row, as_of=AS_OF)
        current = f"week:{monday.isoformat()}"
        before = [f for f in _findings(session, athlete) if f.subject == current]
        assert [f.inputs["sessions"] for f in before if f.rule_id == "missing_strength"] == [0]
        for day in (monday, monday + timedelta(days=1)):
            session.add(models.StrengthLog(athlete_id=athlete, local_date=day, minutes=20))
        session.flush()
        analyse_athlete(session, row, as_of=AS_OF)
        after = [
            f
            for f in _findings(session, athlete)
            if f.subject == current and f.rule_id == "missing_strength"
        ]
    assert after == []


def test_local_today_follows_the_athletes_zone() -> None:
    athlete = models.Athlete(handle="x", display_name="X", time_zone="Pacific/Auckland")
    late_utc = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)  # already the 27th in Auckland
    assert local_today(athlete, late_utc) == date(2026, 11, 27)


def test_no_findings_left_behind_when_the_athlete_is_deleted(
    sessions: sessionmaker[Session], athlete: int
) -> None:
    with sessions.begin() as session:
        analyse_athlete(session, session.get_one(models.Athlete, athlete), as_of=AS_OF)
    with sessions.begin() as session:
        session.delete(session.get_one(models.Athlete, athlete))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Finding)) == 0


def test_an_absurd_run_is_flagged_not_trusted(
    sessions: sessionmaker[Session], athlete: int
) -> None:
    with sessions.begin() as session:
        bogus = _run(athlete, AS_OF - timedelta(days=3), 300.0)
        bogus.moving_s = bogus.elapsed_s = 3 * 3600.0  # 100 km/h: a car, not a runner
        session.add(bogus)
        session.flush()
        result = analyse_athlete(session, session.get_one(models.Athlete, athlete), as_of=AS_OF)
        findings = _findings(session, athlete)
    flagged = [f for f in findings if f.rule_id == "implausible_activity"]
    assert [f.subject for f in flagged] == [f"activity:{bogus.id}"]
    assert "300.0 km run" in flagged[0].message
    assert bogus.id not in result.loads
    # Not trusted, so it neither counts as a spike nor raises the reference for the 12 km run.
    spikes = [f for f in findings if f.rule_id == "single_run_spike"]
    assert [s.subject for s in spikes] != [f"activity:{bogus.id}"]
    assert result.analysis.ceiling.longest_km == pytest.approx(12.0)
