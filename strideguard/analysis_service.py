"""Runs the pure analysis over what the store holds, and stores what it found.

The only module that both reads the database and calls `analysis`: it turns rows into the
analysis types, computes loads under the athlete's current profile, runs every rule and
upserts findings on (athlete, rule, subject), so running it again never duplicates one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from analysis.history import is_run
from analysis.load import activity_load, estimate_threshold_speed, resolve_hr_basis
from analysis.model import (
    ActivityLoad,
    AthleteProfile,
    HeartRateBasis,
    Sex,
)
from analysis.plausibility import screen
from analysis.rules import DEFAULT_CONFIG, Analysis, RuleConfig, analyse
from store import models
from store.summaries import activity_summary, pain_log, strength_log

HR_MAX_LOOKBACK = timedelta(days=180)


@dataclass(frozen=True, slots=True)
class AthleteAnalysis:
    """One analysis run: its result and the HR basis and threshold speed it used."""

    analysis: Analysis
    basis: HeartRateBasis
    threshold_speed_mps: float | None
    loads: dict[int, ActivityLoad]


def profile_of(athlete: models.Athlete) -> AthleteProfile:
    floors = athlete.zone_floors_pct
    return AthleteProfile(
        sex=Sex(athlete.sex),
        hr_max=athlete.hr_max,
        hr_rest=athlete.hr_rest,
        zone_floors_pct=(
            (floors[0], floors[1], floors[2], floors[3], floors[4]) if floors else None
        ),
        time_zone=athlete.time_zone,
        strength_goal_per_week=athlete.strength_goal_per_week,
        units="mi" if athlete.units == "mi" else "km",
        muted_rules=frozenset(athlete.muted_rules or ()),
        threshold_speed_mps=athlete.threshold_speed_mps,
    )


def local_today(athlete: models.Athlete, now: datetime | None = None) -> date:
    """The athlete's calendar day right now (their time zone, not the server's)."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(athlete.time_zone)).date()


def analyse_athlete(
    session: Session,
    athlete: models.Athlete,
    *,
    as_of: date,
    config: RuleConfig | None = None,
) -> AthleteAnalysis:
    """Compute loads and findings for one athlete up to ``as_of`` and store both."""
    profile = profile_of(athlete)
    rows = session.scalars(
        select(models.Activity)
        .where(models.Activity.athlete_id == athlete.id)
        .order_by(models.Activity.start_utc, models.Activity.id)
    ).all()
    summaries, flagged = screen([activity_summary(row) for row in rows])
    since = as_of - HR_MAX_LOOKBACK
    basis = resolve_hr_basis(
        profile,
        recent_max_hrs=[
            s.max_hr for s in summaries if s.max_hr is not None and since <= s.local_date <= as_of
        ],
    )
    threshold = profile.threshold_speed_mps or estimate_threshold_speed(
        [s for s in summaries if is_run(s)]
    )
    loads = {
        s.id: activity_load(s, basis, profile, threshold_speed_mps=threshold) for s in summaries
    }
    for row in rows:
        load = loads.get(row.id)
        if load is None:  # implausible: not trusted, so no load either
            row.load, row.load_method, row.zone_minutes = None, None, None
            continue
        row.load = round(load.load, 2)
        row.load_method = load.method
        row.zone_minutes = [round(m, 2) for m in load.zone_minutes]

    strength = [
        strength_log(log)
        for log in session.scalars(
            select(models.StrengthLog).where(models.StrengthLog.athlete_id == athlete.id)
        )
    ]
    pain = [
        pain_log(log)
        for log in session.scalars(
            select(models.PainLog).where(models.PainLog.athlete_id == athlete.id)
        )
    ]
    result = analyse(
        activities=summaries,
        loads=loads,
        strength_logs=strength,
        pain_logs=pain,
        profile=profile,
        as_of=as_of,
        config=config or DEFAULT_CONFIG,
    )
    if "implausible_activity" not in profile.muted_rules:
        result.findings.extend(flagged)
    _store_findings(session, athlete.id, result)
    return AthleteAnalysis(result, basis, threshold, loads)


def _store_findings(session: Session, athlete_id: int, result: Analysis) -> None:
    """Upsert on (athlete, rule, subject); drop findings that no longer hold (e.g. muted)."""
    existing = {
        (f.rule_id, f.subject): f
        for f in session.scalars(
            select(models.Finding).where(models.Finding.athlete_id == athlete_id)
        )
    }
    now = datetime.now(UTC)
    keep: set[tuple[str, str]] = set()
    for finding in result.findings:
        key = (finding.rule_id, finding.subject)
        keep.add(key)
        row = existing.get(key)
        if row is None:
            row = models.Finding(
                athlete_id=athlete_id,
                rule_id=finding.rule_id,
                subject=finding.subject,
                first_seen_at=now,
            )
            session.add(row)
        row.local_date = finding.local_date
        row.severity = finding.severity
        row.evidence_grade = finding.evidence_grade
        row.citation = finding.citation
        row.message = finding.message
        row.action = finding.action
        row.inputs = finding.inputs
        row.thresholds = finding.thresholds
        row.exercises = list(finding.exercises)
        row.push = finding.push
        row.updated_at = now
    stale = [row.id for key, row in existing.items() if key not in keep]
    if stale:
        session.execute(delete(models.Finding).where(models.Finding.id.in_(stale)))
    session.flush()
