"""The weekly prevention digest as data: the local week just ended, and what to do next week.

`build_digest` is pure (plain inputs in, a `Digest` out) so it is cheap to test and to run for
thousands of athletes; `load_digest_inputs` reads those inputs from the store. Numbers are kept
as numbers here; templates add the units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.timing import iso_week_label
from analysis.exercises import routine_duration_s, upper_back_routine
from analysis.history import is_run, is_strength, run_ceiling, surface_share
from analysis.model import ActivitySummary, PainLog
from analysis.rules import persistent_pain
from store.models import Activity, Athlete, Finding, StrengthLog
from store.models import PainLog as PainLogRow
from store.summaries import activity_summary, pain_log

HISTORY_WEEKS = 4
"""The digest compares the week with the mean of the 4 weeks before it."""
CEILING_DAYS = 30
CEILING_FACTOR = 1.10
PAIN_WINDOW_DAYS = 14
#: Findings shown elsewhere in the digest (the ceiling) or context only (ACWR).
_NOT_LISTED = frozenset({"run_ceiling", "acwr"})
_GRADE_RANK = {"A": 0, "B": 1, "C": 2, "D": 3}
_SEVERITY_RANK = {"high": 0, "moderate": 1, "low": 2, "info": 3}

DISCLAIMER = (
    "Strideguard gives training guidance, not a diagnosis. It cannot examine you; "
    "if something hurts, trust a professional over an app."
)
SLEEP_LINE = (
    "Recovery: aim for 7-9 h of sleep a night, eat well and stay hydrated; "
    "stress adds to training load too."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingView:
    """A stored finding as the digest needs it."""

    rule_id: str
    subject: str
    local_date: date
    severity: str
    evidence_grade: str
    message: str
    action: str
    citation: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestInputs:
    """Everything `build_digest` reads; activities cover at least the 5 weeks up to Sunday."""

    athlete_id: int
    handle: str
    display_name: str
    units: str
    strength_goal: int
    muted_rules: frozenset[str]
    week_monday: date
    activities: Sequence[ActivitySummary]
    loads: dict[int, float]
    strength_log_dates: Sequence[date]
    pain_logs: Sequence[PainLog]
    findings: Sequence[FindingView]


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekStats:
    monday: date
    label: str
    runs: int
    run_km: float
    run_minutes: float
    load: float
    run_days: int
    longest_km: float
    strength_sessions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutineItem:
    name: str
    dose: str
    how_to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PainItem:
    area: str
    max_score: int
    check_ins: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """The digest's content; `to_json` gives it to the CLI and the dashboard preview."""

    athlete_id: int
    handle: str
    display_name: str
    units: str
    week_label: str
    week_monday: date
    week_sunday: date
    week: WeekStats
    previous: list[WeekStats]
    """The 4 weeks before, oldest first."""
    previous_mean_km: float
    previous_mean_minutes: float
    previous_mean_load: float
    load_ratio: float | None
    """Week load / mean of the previous 4 weeks (None when those had no load)."""
    rest_days: int
    hard_share: float | None
    surface_coverage: float | None
    ceiling_km: float | None
    longest_km: float | None
    longest_date: date | None
    strength_goal: int
    routine: list[RoutineItem]
    routine_minutes: float
    findings: list[FindingView]
    pain: list[PainItem]
    persistent_pain_areas: list[str]
    disclaimer: str = DISCLAIMER
    sleep_line: str = SLEEP_LINE

    @property
    def strength_met(self) -> bool:
        return self.week.strength_sessions >= self.strength_goal

    @property
    def chart(self) -> list[WeekStats]:
        """The 5 weeks of the bar chart, oldest first."""
        return [*self.previous, self.week]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["strength_met"] = self.strength_met
        for key in ("week_monday", "week_sunday", "longest_date"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


def _week_stats(
    monday: date,
    activities: Sequence[ActivitySummary],
    loads: dict[int, float],
    strength_dates: Sequence[date],
) -> WeekStats:
    sunday = monday + timedelta(days=6)
    inside = [a for a in activities if monday <= a.local_date <= sunday]
    runs = [a for a in inside if is_run(a)]
    strength = sum(1 for a in inside if is_strength(a)) + sum(
        1 for d in strength_dates if monday <= d <= sunday
    )
    return WeekStats(
        monday=monday,
        label=iso_week_label(monday),
        runs=len(runs),
        run_km=sum((a.distance_m or 0.0) for a in runs) / 1000.0,
        run_minutes=sum((a.moving_s if a.moving_s is not None else a.elapsed_s) for a in runs)
        / 60.0,
        load=sum(loads.get(a.id, 0.0) for a in inside),
        run_days=len({a.local_date for a in runs}),
        longest_km=max(((a.distance_m or 0.0) / 1000.0 for a in runs), default=0.0),
        strength_sessions=strength,
    )


def rank_findings(findings: Sequence[FindingView]) -> list[FindingView]:
    """Strongest evidence first (A..D), then the most severe, then the most recent."""
    return sorted(
        findings,
        key=lambda f: (
            _GRADE_RANK.get(f.evidence_grade, 9),
            _SEVERITY_RANK.get(f.severity, 9),
            -f.local_date.toordinal(),
            f.rule_id,
            f.subject,
        ),
    )


def build_digest(inputs: DigestInputs) -> Digest:
    """The digest of the local week starting `inputs.week_monday` (pure)."""
    monday = inputs.week_monday
    sunday = monday + timedelta(days=6)
    acts = [a for a in inputs.activities if a.local_date <= sunday]
    week = _week_stats(monday, acts, inputs.loads, inputs.strength_log_dates)
    previous = [
        _week_stats(
            monday - timedelta(days=7 * back), acts, inputs.loads, inputs.strength_log_dates
        )
        for back in range(HISTORY_WEEKS, 0, -1)
    ]
    mean_km = sum(w.run_km for w in previous) / HISTORY_WEEKS
    mean_minutes = sum(w.run_minutes for w in previous) / HISTORY_WEEKS
    mean_load = sum(w.load for w in previous) / HISTORY_WEEKS

    week_runs = [a for a in acts if monday <= a.local_date <= sunday and is_run(a)]
    share = surface_share(
        (a.distance_m or 0.0, a.derived.surface if a.derived is not None else None)
        for a in week_runs
    )
    ceiling = run_ceiling(acts, as_of=sunday, days=CEILING_DAYS, factor=CEILING_FACTOR)

    listed = [
        f
        for f in inputs.findings
        if monday <= f.local_date <= sunday
        and f.rule_id not in _NOT_LISTED
        and f.rule_id not in inputs.muted_rules
    ]
    pain_week = [p for p in inputs.pain_logs if monday <= p.local_date <= sunday]
    by_area: dict[str, list[int]] = {}
    for log in pain_week:
        by_area.setdefault(log.area, []).append(log.score)
    recent_pain = [
        p for p in inputs.pain_logs if sunday - timedelta(days=PAIN_WINDOW_DAYS - 1) <= p.local_date
    ]
    persistent = sorted(
        {
            str(f.inputs.get("area", f.subject.removeprefix("area:")))
            for f in persistent_pain(recent_pain, as_of=sunday)
        }
    )
    routine = upper_back_routine()
    return Digest(
        athlete_id=inputs.athlete_id,
        handle=inputs.handle,
        display_name=inputs.display_name,
        units=inputs.units,
        week_label=week.label,
        week_monday=monday,
        week_sunday=sunday,
        week=week,
        previous=previous,
        previous_mean_km=mean_km,
        previous_mean_minutes=mean_minutes,
        previous_mean_load=mean_load,
        load_ratio=week.load / mean_load if mean_load > 0 else None,
        rest_days=7 - week.run_days,
        hard_share=share.hard_share,
        surface_coverage=share.coverage,
        ceiling_km=ceiling.ceiling_km,
        longest_km=ceiling.longest_km,
        longest_date=ceiling.longest_date,
        strength_goal=inputs.strength_goal,
        routine=[
            RoutineItem(name=ex.name, dose=dose.text, how_to=ex.how_to[0]) for ex, dose in routine
        ],
        routine_minutes=routine_duration_s(routine) / 60.0,
        findings=rank_findings(listed),
        pain=[
            PainItem(area=area.replace("_", " "), max_score=max(scores), check_ins=len(scores))
            for area, scores in sorted(by_area.items())
        ],
        persistent_pain_areas=[a.replace("_", " ") for a in persistent],
    )


def load_digest_inputs(session: Session, athlete: Athlete, monday: date) -> DigestInputs:
    """Read what the digest of the week starting `monday` needs (stored loads and findings)."""
    sunday = monday + timedelta(days=6)
    first = min(monday - timedelta(days=7 * HISTORY_WEEKS), sunday - timedelta(days=CEILING_DAYS))
    rows = session.scalars(
        select(Activity)
        .where(
            Activity.athlete_id == athlete.id,
            Activity.local_date >= first,
            Activity.local_date <= sunday,
        )
        .order_by(Activity.start_utc, Activity.id)
    ).all()
    strength_dates = list(
        session.scalars(
            select(StrengthLog.local_date).where(
                StrengthLog.athlete_id == athlete.id,
                StrengthLog.local_date >= first,
                StrengthLog.local_date <= sunday,
            )
        )
    )
    pain = [
        pain_log(p)
        for p in session.scalars(
            select(PainLogRow).where(
                PainLogRow.athlete_id == athlete.id,
                PainLogRow.local_date >= sunday - timedelta(days=PAIN_WINDOW_DAYS * 2),
                PainLogRow.local_date <= sunday,
            )
        )
    ]
    findings = [
        FindingView(
            rule_id=f.rule_id,
            subject=f.subject,
            local_date=f.local_date,
            severity=f.severity,
            evidence_grade=f.evidence_grade,
            message=f.message,
            action=f.action,
            citation=f.citation,
            inputs=dict(f.inputs or {}),
        )
        for f in session.scalars(
            select(Finding).where(
                Finding.athlete_id == athlete.id,
                Finding.local_date >= monday,
                Finding.local_date <= sunday,
            )
        )
    ]
    return DigestInputs(
        athlete_id=athlete.id,
        handle=athlete.handle,
        display_name=athlete.display_name,
        units=athlete.units,
        strength_goal=athlete.strength_goal_per_week,
        muted_rules=frozenset(athlete.muted_rules or ()),
        week_monday=monday,
        activities=[activity_summary(r) for r in rows],
        loads={r.id: r.load for r in rows if r.load is not None},
        strength_log_dates=strength_dates,
        pain_logs=pain,
        findings=findings,
    )
