"""The rules of EVIDENCE.md section 2: each turns the history into explained `Finding`s.

Every rule is a small function over the daily/weekly tables (or the activities) that returns
findings carrying the numbers it looked at, its thresholds, an evidence grade and a citation.
`analyse` runs them all over the whole history up to `as_of`, so past situations show up too.

Subjects are stable so re-runs never duplicate a finding: "activity:<id>" (a run),
"week:<Monday ISO date>", "day:<ISO date>" (for a streak or a 7-day window: the day the episode
began) and "area:<pain area>". Rules over rolling windows report each *episode* once, on the
day it began, rather than once per day it lasts.

Only `single_run_spike` (small band and above) and `persistent_pain` push; everything else waits
for the digest, and the ACWR is context only. Messages describe load, never diagnose.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis import history
from analysis.exercises import upper_back_routine
from analysis.model import (
    ActivityLoad,
    ActivitySummary,
    AthleteProfile,
    EvidenceGrade,
    Finding,
    PainLog,
    Severity,
    StrengthLog,
)

__all__ = [
    "CITATIONS",
    "DEFAULT_CONFIG",
    "RULE_IDS",
    "Analysis",
    "RuleConfig",
    "acwr_context",
    "analyse",
    "hard_surface_share",
    "intensity_spike",
    "missing_strength",
    "monotony",
    "no_rest_day",
    "persistent_pain",
    "run_ceiling",
    "shoe_mileage",
    "single_run_spike",
    "spike_band",
    "weekly_progression",
]

RULE_IDS = (
    "single_run_spike",
    "run_ceiling",
    "intensity_spike",
    "weekly_progression",
    "monotony",
    "missing_strength",
    "hard_surface_share",
    "no_rest_day",
    "shoe_mileage",
    "persistent_pain",
    "acwr",
)

#: rule_id -> (evidence grade, citation), from EVIDENCE.md section 2. Where the table gives a
#: split grade ("C/D") the weaker one is reported.
CITATIONS: dict[str, tuple[EvidenceGrade, str]] = {
    "single_run_spike": (
        "B",
        "Frandsen et al., Br J Sports Med 2025;59:1203-10 (5,205 runners): hazard rate ratios "
        "1.64 / 1.52 / 2.28 for small / moderate / large single-run spikes",
    ),
    "run_ceiling": (
        "B",
        "Derived from Frandsen et al., Br J Sports Med 2025;59:1203-10: runs up to 1.10 x the "
        "30-day longest were the reference (no excess risk) band",
    ),
    "intensity_spike": (
        "D",
        "Run Clever trial: no injury difference between intensity- and volume-focused plans; "
        "heavy-breathing rationale from physiotherapist guidance (expert opinion)",
    ),
    "weekly_progression": (
        "C",
        "Nielsen et al., JOSPT 2014 (HR 1.59, 95 % CI 0.96-2.66, distance-related injuries); "
        "the '10 % rule' failed its trial (Buist et al. 2008)",
    ),
    "monotony": ("D", "Foster, Med Sci Sports Exerc 1998 (training monotony and strain)"),
    "missing_strength": (
        "A",
        "Lauersen et al. 2014 (RR 0.315) and 2018 (RR 0.338, dose-response), across sports; a "
        "runner-specific trial was null (Toresdahl et al. 2020)",
    ),
    "hard_surface_share": (
        "C",
        "Mitchell et al. 2025 meta-analysis: softer surfaces lower peak tibial acceleration "
        "(SMD -0.8); injury data inconsistent",
    ),
    "no_rest_day": ("D", "Physiotherapist guidance for runners: take breaks (expert opinion)"),
    "shoe_mileage": ("D", "Vendor heuristic / expert opinion on shoe wear"),
    "persistent_pain": (
        "D",
        "Physiotherapist guidance: pain that persists or worsens should be seen by a "
        "physiotherapist or doctor (expert opinion)",
    ),
    "acwr": (
        "D",
        "Williams et al., BJSM 2017 (EWMA ACWR); mathematically coupled (Lolli et al. 2019), "
        "challenged (Impellizzeri et al. 2020/2021); inverse association in Frandsen et al. 2025",
    ),
}

SpikeBand = Literal["none", "small", "moderate", "large"]

#: Frandsen 2025 hazard rate ratios per band (reported in a finding's inputs).
_BAND_HRR: dict[SpikeBand, float] = {"none": 1.0, "small": 1.64, "moderate": 1.52, "large": 2.28}
_BAND_SEVERITY: dict[SpikeBand, Severity] = {
    "none": "info",
    "small": "low",
    "moderate": "moderate",
    "large": "high",
}
_BAND_TEXT: dict[SpikeBand, str] = {
    "none": "up to 10 % longer than",
    "small": "10-30 % longer than",
    "moderate": "30-100 % longer than",
    "large": "more than twice as long as",
}

#: Exercise ids recommended with each rule (ids of `analysis.exercises.LIBRARY`).
_RECOVERY = ("cat_cow", "childs_pose", "open_book")
_CONTROL = ("glute_bridge", "side_plank", "single_leg_balance", "plank")
_BREATHING = ("diaphragmatic_breathing", "shoulder_circles", "childs_pose")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleConfig:
    """Every threshold of EVIDENCE.md section 2, with its defaults."""

    spike_window_days: int = 30
    spike_small: float = 1.10
    """Ratio above which a run is a small spike (<= is none)."""
    spike_moderate: float = 1.30
    spike_large: float = 2.00
    spike_push: bool = True
    """Push small-and-above spikes promptly (the alerts layer applies quiet hours)."""
    ceiling_factor: float = 1.10
    ceiling_window_days: int = 30
    intensity_ratio: float = 1.5
    intensity_floor_min: float = 20.0
    """Z4-5 minutes of the last 7 days must reach this too, so tiny baselines don't fire."""
    intensity_acute_days: int = 7
    intensity_baseline_days: int = 28
    intensity_min_hr_coverage: float = 0.5
    """Share of the baseline's activity minutes that must have HR for the rule to judge."""
    weekly_progression_ratio: float = 1.30
    monotony_max: float = 2.0
    strength_goal: int | None = None
    """Sessions per week; None = the athlete's `strength_goal_per_week`."""
    hard_share_max: float = 0.85
    hard_share_weeks: int = 3
    hard_share_min_coverage: float = 0.60
    no_rest_max_days: int = 7
    """A streak of this many consecutive days with a run fires."""
    shoe_max_km: float = 700.0
    shoe_recent_days: int = 30
    """Only shoes used in a run this recently are checked."""
    pain_min_score: int = 3
    pain_occasions: int = 3
    pain_window_days: int = 14
    pain_rising_count: int = 3
    """This many check-ins in the window, strictly rising, the last >= `pain_min_score`."""
    pain_push: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.spike_small <= self.spike_moderate <= self.spike_large:
            raise ValueError("spike bands must satisfy 0 < small <= moderate <= large")
        if self.hard_share_weeks < 1 or self.no_rest_max_days < 1 or self.pain_occasions < 1:
            raise ValueError("counts must be at least 1")


DEFAULT_CONFIG = RuleConfig()


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """Everything `analyse` computed: the tables the dashboard shows and the findings."""

    as_of: date
    daily: pd.DataFrame
    """`history.daily_table` from the first recorded day to `as_of`."""
    weekly: pd.DataFrame
    """`history.weekly_table`, indexed by local Monday."""
    ceiling: history.RunCeiling
    findings: list[Finding] = field(default_factory=list)
    """Sorted by (local_date, rule_id, subject); one per (rule_id, subject)."""


# -- helpers ------------------------------------------------------------------------------------

_KM_PER_MI = 1.609344


def _dist(km: float, units: str = "km") -> str:
    """A distance for a message, in the athlete's units."""
    if units == "mi":
        return f"{km / _KM_PER_MI:.1f} mi"
    return f"{km:.1f} km"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def _num(value: float, digits: int = 3) -> float | None:
    """A JSON-friendly number for `inputs` (None for NaN)."""
    v = float(value)
    return None if math.isnan(v) else round(v, digits)


def _make(
    rule_id: str,
    *,
    local_date: date,
    subject: str,
    severity: Severity,
    message: str,
    action: str,
    inputs: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    exercises: Sequence[str] = (),
    push: bool = False,
) -> Finding:
    grade, citation = CITATIONS[rule_id]
    return Finding(
        rule_id=rule_id,
        local_date=local_date,
        subject=subject,
        severity=severity,
        evidence_grade=grade,
        citation=citation,
        message=message,
        action=action,
        inputs=dict(inputs),
        thresholds=dict(thresholds),
        exercises=tuple(exercises),
        push=push,
    )


def _dates(daily: pd.DataFrame) -> list[date]:
    return history._index_dates(daily.index)


def _episodes(mask: Sequence[bool] | np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of consecutive True values."""
    flags = np.asarray(mask, dtype=bool)
    if flags.ndim != 1 or flags.size == 0:
        return _episodes_loop(mask)
    edges = np.diff(flags.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    firsts = np.flatnonzero(edges == 1).tolist()
    lasts = (np.flatnonzero(edges == -1) - 1).tolist()
    return list(zip(firsts, lasts, strict=True))


def _episodes_loop(mask: Sequence[bool] | np.ndarray) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    begin: int | None = None
    for i, flag in enumerate(mask):
        if flag and begin is None:
            begin = i
        elif not flag and begin is not None:
            out.append((begin, i - 1))
            begin = None
    if begin is not None:
        out.append((begin, len(mask) - 1))
    return out


# -- single_run_spike / run_ceiling ---------------------------------------------------------------


def spike_band(ratio: float, config: RuleConfig = DEFAULT_CONFIG) -> SpikeBand:
    """Frandsen 2025 band of a distance ratio; boundaries belong to the lower band."""
    if ratio <= config.spike_small:
        return "none"
    if ratio <= config.spike_moderate:
        return "small"
    if ratio <= config.spike_large:
        return "moderate"
    return "large"


def single_run_spike(
    activities: Sequence[ActivitySummary],
    *,
    as_of: date,
    config: RuleConfig = DEFAULT_CONFIG,
    units: str = "km",
) -> list[Finding]:
    """Each run versus the longest run that started in the 30 days before it.

    No run at all in those 30 days after an earlier one gives a "return after a break" notice.
    The first run of the history gives nothing: we cannot tell a break from missing data.
    """
    findings: list[Finding] = []
    window = timedelta(days=config.spike_window_days)
    thresholds = {
        "window_days": config.spike_window_days,
        "small_above": config.spike_small,
        "moderate_above": config.spike_moderate,
        "large_above": config.spike_large,
    }
    runs = sorted((a for a in activities if history.is_run(a)), key=lambda a: a.start)
    starts = [a.start for a in runs]
    # `history.longest_run_before` for every run at once: the reference of each run is the
    # maximum, by (distance, start), over the runs with a distance that started in
    # [start - window, start). Both window ends only move forward through the sorted runs, so
    # a monotonic deque of candidates gives each maximum in amortised O(1). On equal keys the
    # earlier run stays in front, as `max` keeps the first of equal items.
    measured = [a for a in runs if (a.distance_m or 0.0) > 0]
    keys = [(a.distance_m or 0.0, a.start) for a in measured]
    candidates: collections.deque[int] = collections.deque()
    pushed = 0
    for run in runs:
        km = (run.distance_m or 0.0) / 1000.0
        if km <= 0 or run.local_date > as_of:
            continue
        first = run.start - window
        while pushed < len(measured) and measured[pushed].start < run.start:
            while candidates and keys[candidates[-1]] < keys[pushed]:
                candidates.pop()
            candidates.append(pushed)
            pushed += 1
        while candidates and measured[candidates[0]].start < first:
            candidates.popleft()
        ref = measured[candidates[0]] if candidates else None
        if ref is None:
            hi = bisect.bisect_left(starts, run.start)
            last = history.last_run_before(runs[:hi], before=run.start)
            if last is None or last.start >= run.start - window:
                continue  # first run of the history, or recent runs without a distance
            gap = (run.local_date - last.local_date).days
            findings.append(
                _make(
                    "single_run_spike",
                    local_date=run.local_date,
                    subject=f"activity:{run.id}",
                    severity="info",
                    message=(
                        f"Welcome back: your {_dist(km, units)} run on {run.local_date} is your "
                        f"first in {gap} days (last run {last.local_date}). After a break the "
                        "body needs time to get used to running again."
                    ),
                    action=(
                        "Build back gradually: keep the next runs short and easy, and add "
                        "distance a little at a time."
                    ),
                    inputs={
                        "band": "return_after_break",
                        "distance_km": _num(km),
                        "days_since_last_run": gap,
                        "last_run_id": last.id,
                        "last_run_date": last.local_date.isoformat(),
                    },
                    thresholds=thresholds,
                    exercises=_RECOVERY,
                )
            )
            continue
        ref_km = (ref.distance_m or 0.0) / 1000.0
        ratio = km / ref_km
        band = spike_band(ratio, config)
        if band == "none":
            continue
        findings.append(
            _make(
                "single_run_spike",
                local_date=run.local_date,
                subject=f"activity:{run.id}",
                severity=_BAND_SEVERITY[band],
                message=(
                    f"Your run on {run.local_date} was {_dist(km, units)}, {ratio:.2f} x "
                    f"({_pct(ratio - 1)} more than) your longest run of the previous "
                    f"{config.spike_window_days} days ({_dist(ref_km, units)} on "
                    f"{ref.local_date}). In a study of 5,205 runners, single runs "
                    f"{_BAND_TEXT[band]} the recent longest came with a higher injury rate "
                    f"(about {_BAND_HRR[band]:.2f} x)."
                ),
                action=(
                    "Make the next day or two easy or rest, and keep upcoming runs within "
                    f"{_pct(config.ceiling_factor - 1)} of your recent longest."
                ),
                inputs={
                    "band": band,
                    "distance_km": _num(km),
                    "reference_km": _num(ref_km),
                    "reference_activity_id": ref.id,
                    "reference_date": ref.local_date.isoformat(),
                    "ratio": _num(ratio, 4),
                    "hazard_rate_ratio": _BAND_HRR[band],
                },
                thresholds=thresholds,
                exercises=_RECOVERY,
                push=config.spike_push,
            )
        )
    return findings


def run_ceiling(
    activities: Sequence[ActivitySummary],
    *,
    as_of: date,
    config: RuleConfig = DEFAULT_CONFIG,
    units: str = "km",
) -> list[Finding]:
    """Guidance for `as_of`: the single-run ceiling (1.10 x the 30-day longest run)."""
    ceiling = history.run_ceiling(
        activities, as_of=as_of, days=config.ceiling_window_days, factor=config.ceiling_factor
    )
    return _run_ceiling_findings(ceiling, as_of=as_of, config=config, units=units)


def _run_ceiling_findings(
    ceiling: history.RunCeiling, *, as_of: date, config: RuleConfig, units: str
) -> list[Finding]:
    thresholds = {"window_days": config.ceiling_window_days, "factor": config.ceiling_factor}
    if ceiling.longest_km is None or ceiling.ceiling_km is None:
        message = (
            f"No run with a distance in the last {config.ceiling_window_days} days, so there is "
            "no single-run ceiling to work from today."
        )
        action = "After a break, start with short, easy runs and build up gradually."
        inputs: dict[str, Any] = {"longest_km": None, "ceiling_km": None}
    else:
        message = (
            f"Today's single-run ceiling: {_dist(ceiling.ceiling_km, units)} "
            f"({config.ceiling_factor:.2f} x your longest run of the last "
            f"{config.ceiling_window_days} days, {_dist(ceiling.longest_km, units)} on "
            f"{ceiling.longest_date})."
        )
        action = (
            f"Keep any single run today at or below {_dist(ceiling.ceiling_km, units)}; "
            "go longer in small steps over the coming weeks."
        )
        inputs = {
            "longest_km": _num(ceiling.longest_km),
            "longest_activity_id": ceiling.longest_activity_id,
            "longest_date": ceiling.longest_date.isoformat() if ceiling.longest_date else None,
            "ceiling_km": _num(ceiling.ceiling_km),
        }
    return [
        _make(
            "run_ceiling",
            local_date=as_of,
            subject=f"day:{as_of.isoformat()}",
            severity="info",
            message=message,
            action=action,
            inputs=inputs,
            thresholds=thresholds,
        )
    ]


# -- intensity_spike ------------------------------------------------------------------------------


def intensity_spike(daily: pd.DataFrame, *, config: RuleConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Z4-5 minutes of the last 7 days > 1.5 x their weekly mean over the 28 days before.

    Needs the full 35 days in the table and HR on at least half the baseline's activity minutes
    (otherwise "no intensity" and "no HR" are indistinguishable). One finding per episode, on
    its first day.
    """
    acute_n, base_n = config.intensity_acute_days, config.intensity_baseline_days
    hard = daily["hard_minutes"].to_numpy(dtype=float)
    hr = daily["hr_minutes"].to_numpy(dtype=float)
    minutes = daily["minutes"].to_numpy(dtype=float)
    days = _dates(daily)
    n = len(hard)
    mask = np.zeros(n, dtype=bool)
    acute = np.full(n, np.nan)
    weekly_base = np.full(n, np.nan)
    first_day = acute_n + base_n - 1
    if n > first_day:
        # Day i (from first_day on): acute window [i - acute_n + 1, i], baseline window the
        # base_n days before it. Row sums of contiguous window copies reduce exactly as the
        # 1-D slice sums would (same summation order).
        acute_sum = _window_sums(hard, acute_n)[first_day - acute_n + 1 :]
        base_hard = _window_sums(hard, base_n)[: n - first_day]
        base_hr = _window_sums(hr, base_n)[: n - first_day]
        base_minutes = _window_sums(minutes, base_n)[: n - first_day]
        judged = ~((base_hr <= 0) | (base_hr < config.intensity_min_hr_coverage * base_minutes))
        base_week = base_hard * 7.0 / base_n
        acute[first_day:] = np.where(judged, acute_sum, np.nan)
        weekly_base[first_day:] = np.where(judged, base_week, np.nan)
        mask[first_day:] = (
            judged
            & (acute_sum >= config.intensity_floor_min)
            & (acute_sum > config.intensity_ratio * base_week)
        )
    findings: list[Finding] = []
    for first, last in _episodes(mask):
        a, b = float(acute[first]), float(weekly_base[first])
        ratio_text = f"{a / b:.1f} x" if b > 0 else "well above"
        findings.append(
            _make(
                "intensity_spike",
                local_date=days[first],
                subject=f"day:{days[first].isoformat()}",
                severity="low",
                message=(
                    f"Hard running (heart-rate zones 4-5) in the 7 days to {days[first]}: "
                    f"{a:.0f} min, {ratio_text} your weekly average of {b:.0f} min over the "
                    f"previous {base_n // 7} weeks. Hard efforts mean heavy breathing, which "
                    "leans on the neck and upper-back muscles; this is about recovery, not "
                    "a prediction of injury."
                ),
                action=(
                    "Keep the next few runs easy (you can talk in full sentences) and do a "
                    "few minutes of relaxed belly breathing."
                ),
                inputs={
                    "z45_minutes_7d": _num(a, 1),
                    "z45_weekly_mean_prev_28d": _num(b, 1),
                    "ratio": _num(a / b, 3) if b > 0 else None,
                    "episode_end": days[last].isoformat(),
                },
                thresholds={
                    "ratio_above": config.intensity_ratio,
                    "floor_minutes": config.intensity_floor_min,
                    "acute_days": acute_n,
                    "baseline_days": base_n,
                },
                exercises=_BREATHING,
            )
        )
    return findings


def _window_sums(values: np.ndarray, size: int) -> np.ndarray:
    """`values[j : j + size].sum()` for every j, as one array."""
    windows = np.lib.stride_tricks.sliding_window_view(values, size)
    sums: np.ndarray = np.ascontiguousarray(windows).sum(axis=1)
    return sums


# -- weekly_progression ----------------------------------------------------------------------------


def _weeks(weekly: pd.DataFrame) -> list[date]:
    return history._index_dates(weekly.index)


def weekly_progression(
    weekly: pd.DataFrame,
    *,
    as_of: date,
    config: RuleConfig = DEFAULT_CONFIG,
    units: str = "km",
) -> list[Finding]:
    """Weekly running distance > 1.30 x the previous (complete, non-zero) week. A hint only.

    The current week counts from the moment it passes the threshold ("so far").
    """
    weeks = _weeks(weekly)
    km = weekly["run_km"].to_numpy(dtype=float)
    days = weekly["days"].to_numpy()
    current = history.week_start(as_of)
    findings: list[Finding] = []
    for i in range(1, len(weeks)):
        prev, cur = float(km[i - 1]), float(km[i])
        if int(days[i - 1]) < 7 or prev <= 0:
            continue
        ratio = cur / prev
        if ratio <= config.weekly_progression_ratio:
            continue
        so_far = " so far" if weeks[i] == current else ""
        findings.append(
            _make(
                "weekly_progression",
                local_date=weeks[i],
                subject=f"week:{weeks[i].isoformat()}",
                severity="low",
                message=(
                    f"Week of {weeks[i]}: {_dist(cur, units)} of running{so_far}, {ratio:.2f} x "
                    f"the previous week ({_dist(prev, units)}), {_pct(ratio - 1)} more. In one "
                    "cohort study, weekly increases over 30 % went with more distance-related "
                    "injuries; the evidence is uncertain, so treat this as a hint."
                ),
                action=(
                    f"Consider holding next week near {_dist(cur, units)} rather than adding "
                    "more on top."
                ),
                inputs={
                    "run_km": _num(cur),
                    "previous_run_km": _num(prev),
                    "ratio": _num(ratio, 4),
                    "week_complete": weeks[i] != current,
                },
                thresholds={"ratio_above": config.weekly_progression_ratio},
            )
        )
    return findings


# -- monotony --------------------------------------------------------------------------------------


def monotony(daily: pd.DataFrame, *, config: RuleConfig = DEFAULT_CONFIG) -> list[Finding]:
    """Foster monotony of the last 7 daily loads > 2.0; one finding per episode."""
    mono = daily["monotony"].to_numpy(dtype=float)
    strain = daily["strain"].to_numpy(dtype=float)
    load = daily["load"].to_numpy(dtype=float)
    days = _dates(daily)
    mask = np.nan_to_num(mono, nan=0.0) > config.monotony_max
    findings: list[Finding] = []
    for first, last in _episodes(mask):
        week = load[first - 6 : first + 1]
        findings.append(
            _make(
                "monotony",
                local_date=days[first],
                subject=f"day:{days[first].isoformat()}",
                severity="low",
                message=(
                    f"Your training load in the 7 days to {days[first]} was very uniform "
                    f"(monotony {mono[first]:.1f}, above {config.monotony_max:.1f}; weekly load "
                    f"{week.sum():.0f}, strain {strain[first]:.0f}). Alternating harder and "
                    "easier days, rest days included, gives the body time to adapt."
                ),
                action="Make at least one day this week clearly easier, or a rest day.",
                inputs={
                    "monotony": _num(mono[first]),
                    "strain": _num(strain[first], 1),
                    "daily_loads": [_num(x, 1) for x in week],
                    "episode_end": days[last].isoformat(),
                },
                thresholds={"monotony_above": config.monotony_max, "window_days": 7},
                exercises=_RECOVERY,
            )
        )
    return findings


# -- missing_strength ------------------------------------------------------------------------------


def missing_strength(
    weekly: pd.DataFrame,
    *,
    as_of: date,
    goal: int,
) -> list[Finding]:
    """Weeks with fewer strength/mobility sessions than the goal.

    The current week gets a finding whenever it is below the goal so far; `inputs["nudge"]` is
    True when there are none yet (the alerts layer decides on which day to nudge). Past weeks
    get a digest line each when complete and below the goal.
    """
    if goal <= 0:
        return []
    weeks = _weeks(weekly)
    sessions = weekly["strength_sessions"].to_numpy()
    days = weekly["days"].to_numpy()
    current = history.week_start(as_of)
    routine = tuple(e.id for e, _ in upper_back_routine())
    findings: list[Finding] = []
    for i, monday in enumerate(weeks):
        count = int(sessions[i])
        if count >= goal:
            continue
        is_current = monday == current
        if not is_current and int(days[i]) < 7:
            continue  # a partial first week: not the athlete's fault
        if is_current:
            days_left = 6 - as_of.weekday()
            message = (
                f"This week so far: {count} of your {goal} strength or mobility sessions, "
                f"with {days_left} day{'s' if days_left != 1 else ''} left after today. The "
                "10-minute upper-back routine counts as one."
            )
        else:
            message = f"Week of {monday}: {count} of your {goal} strength or mobility sessions."
        message += (
            " Across many sports, regular strength work goes with fewer injuries; for runners "
            "specifically it is about resilience rather than a promise."
        )
        findings.append(
            _make(
                "missing_strength",
                local_date=monday,
                subject=f"week:{monday.isoformat()}",
                severity="info" if is_current else "low",
                message=message,
                action=(
                    "Fit in a 10-minute strength and mobility routine (rows, flys, core, "
                    "stretches) on an easy day."
                ),
                inputs={
                    "sessions": count,
                    "goal": goal,
                    "current_week": is_current,
                    "days_left": 6 - as_of.weekday() if is_current else 0,
                    "nudge": is_current and count == 0,
                },
                thresholds={"sessions_per_week": goal},
                exercises=routine,
            )
        )
    return findings


# -- hard_surface_share ----------------------------------------------------------------------------


def hard_surface_share(
    weekly: pd.DataFrame, *, config: RuleConfig = DEFAULT_CONFIG
) -> list[Finding]:
    """Confidence-weighted hard share > 85 % for 3 consecutive weeks, each with coverage >= 60 %.

    A week with too little classified distance (or no running) breaks the streak; every week
    at the end of a long-enough streak gets a digest line.
    """
    weeks = _weeks(weekly)
    share = weekly["surface_hard_share"].to_numpy(dtype=float)
    coverage = weekly["surface_coverage"].to_numpy(dtype=float)
    findings: list[Finding] = []
    streak = 0
    for i, monday in enumerate(weeks):
        ok = (
            not math.isnan(share[i])
            and not math.isnan(coverage[i])
            and coverage[i] >= config.hard_share_min_coverage
            and share[i] > config.hard_share_max
        )
        streak = streak + 1 if ok else 0
        if streak < config.hard_share_weeks:
            continue
        recent = [_num(s) for s in share[i - streak + 1 : i + 1]]
        findings.append(
            _make(
                "hard_surface_share",
                local_date=monday,
                subject=f"week:{monday.isoformat()}",
                severity="low",
                message=(
                    f"{streak} weeks in a row with more than {_pct(config.hard_share_max)} of your "
                    f"running on hard surfaces (week of {monday}: {_pct(share[i])}, with "
                    f"{_pct(coverage[i])} of the distance classified). Softer ground lowers the "
                    "impact of each stride; whether that prevents injuries is unclear."
                ),
                action=(
                    "Move one or two easy runs a week to trails, grass, gravel or a track, and "
                    "keep your hips and trunk strong to land lighter."
                ),
                inputs={
                    "hard_share": _num(share[i]),
                    "coverage": _num(coverage[i]),
                    "weeks_in_a_row": streak,
                    "hard_shares": recent,
                },
                thresholds={
                    "share_above": config.hard_share_max,
                    "weeks": config.hard_share_weeks,
                    "min_coverage": config.hard_share_min_coverage,
                },
                exercises=_CONTROL,
            )
        )
    return findings


# -- no_rest_day ----------------------------------------------------------------------------------


def no_rest_day(daily: pd.DataFrame, *, config: RuleConfig = DEFAULT_CONFIG) -> list[Finding]:
    """7 or more consecutive days with a run; one finding per streak, on the 7th day.

    (A Monday-to-Sunday week with no rest day is such a streak.)
    """
    days = _dates(daily)
    ran = daily["run_count"].to_numpy() > 0
    findings: list[Finding] = []
    for first, last in _episodes(ran):
        length = last - first + 1
        if length < config.no_rest_max_days:
            continue
        hit = days[first + config.no_rest_max_days - 1]
        findings.append(
            _make(
                "no_rest_day",
                local_date=hit,
                subject=f"day:{hit.isoformat()}",
                severity="low",
                message=(
                    f"{length} days in a row with a run ({days[first]} to {days[last]}). Rest "
                    "days are when the body absorbs training."
                ),
                action="Take a rest day (or easy cross-training) in the next day or two.",
                inputs={
                    "streak_days": length,
                    "streak_start": days[first].isoformat(),
                    "streak_end": days[last].isoformat(),
                },
                thresholds={"consecutive_days": config.no_rest_max_days},
                exercises=_RECOVERY,
            )
        )
    return findings


# -- shoe_mileage ----------------------------------------------------------------------------------


def shoe_mileage(
    activities: Sequence[ActivitySummary],
    *,
    as_of: date,
    config: RuleConfig = DEFAULT_CONFIG,
    units: str = "km",
) -> list[Finding]:
    """The shoes of the latest run (last 30 days) with known gear distance, past 700 km.

    Only the latest run is checked: `gear_km` is the shoes' total now (Strava gear), which says
    nothing about past weeks, and without a gear id the latest run is the current pair.
    """
    first = as_of - timedelta(days=config.shoe_recent_days - 1)
    known = [
        a
        for a in activities
        if history.is_run(a) and a.gear_km is not None and first <= a.local_date <= as_of
    ]
    latest = max(known, key=lambda a: a.start, default=None)
    if latest is None or latest.gear_km is None or latest.gear_km <= config.shoe_max_km:
        return []
    return [
        _make(
            "shoe_mileage",
            local_date=latest.local_date,
            subject=f"activity:{latest.id}",
            severity="info",
            message=(
                f"The shoes from your run on {latest.local_date} have about "
                f"{_dist(latest.gear_km, units)} on them, past the "
                f"{_dist(config.shoe_max_km, units)} many runners use as a replacement guide. "
                "Worn cushioning can add to the pounding of each stride."
            ),
            action="Check the soles and cushioning, and consider a new pair or rotating two.",
            inputs={"gear_km": _num(latest.gear_km, 1), "activity_id": latest.id},
            thresholds={"max_km": config.shoe_max_km},
        )
    ]


# -- persistent_pain -------------------------------------------------------------------------------


def persistent_pain(
    pain_logs: Iterable[PainLog], *, as_of: date, config: RuleConfig = DEFAULT_CONFIG
) -> list[Finding]:
    """Pain >= 3/10 in one area on 3+ days within 14 days, or rising: see a professional.

    Several check-ins on one day count as one occasion (the day's highest score). One finding
    per episode (consecutive check-ins meeting the trigger), dated at its first check-in.
    """
    by_area: dict[str, dict[date, int]] = {}
    for log in pain_logs:
        if log.local_date > as_of:
            continue
        scores = by_area.setdefault(log.area, {})
        scores[log.local_date] = max(scores.get(log.local_date, 0), log.score)
    findings: list[Finding] = []
    span = timedelta(days=config.pain_window_days - 1)
    for area in sorted(by_area):
        series = sorted(by_area[area].items())
        flags: list[bool] = []
        reasons: list[tuple[int, bool, list[int]]] = []
        for day, _ in series:
            window = [(d, s) for d, s in series if day - span <= d <= day]
            occasions = sum(1 for _, s in window if s >= config.pain_min_score)
            tail = [s for _, s in window[-config.pain_rising_count :]]
            rising = (
                len(tail) == config.pain_rising_count
                and all(x < y for x, y in itertools.pairwise(tail))
                and tail[-1] >= config.pain_min_score
            )
            flags.append(occasions >= config.pain_occasions or rising)
            reasons.append((occasions, rising, [s for _, s in window]))
        name = area.replace("_", " ")
        for first, last in _episodes(flags):
            day, score = series[first]
            occasions, rising, window_scores = reasons[first]
            tail_scores = window_scores[-config.pain_rising_count :]
            why = (
                f"pain of {config.pain_min_score}/10 or more on {occasions} days in the "
                f"{config.pain_window_days} days to {day}"
                if occasions >= config.pain_occasions
                else f"rising pain scores ({' -> '.join(f'{s}/10' for s in tail_scores)})"
            )
            findings.append(
                _make(
                    "persistent_pain",
                    local_date=day,
                    subject=f"area:{area}",
                    severity="high" if score >= 7 else "moderate",
                    message=(
                        f"{name.capitalize()}: you reported {why}, latest {score}/10 on {day}. "
                        "Strideguard cannot tell what is behind it and does not diagnose; pain "
                        "that persists or gets worse is worth having a physiotherapist or "
                        "doctor look at."
                    ),
                    action=(
                        "See a physiotherapist or doctor. Until then, take a break from what "
                        "makes it worse rather than pushing through."
                    ),
                    inputs={
                        "area": area,
                        "occasions": occasions,
                        "rising": rising,
                        "latest_score": score,
                        "scores_in_window": window_scores,
                        "episode_end": series[last][0].isoformat(),
                    },
                    thresholds={
                        "min_score": config.pain_min_score,
                        "occasions": config.pain_occasions,
                        "window_days": config.pain_window_days,
                        "rising_count": config.pain_rising_count,
                    },
                    push=config.pain_push,
                )
            )
    return findings


# -- ACWR (context only) ---------------------------------------------------------------------------


def acwr_context(daily: pd.DataFrame, *, as_of: date) -> list[Finding]:
    """Today's ACWR both ways, as context: never pushed, never a warning."""
    days = _dates(daily)
    i = days.index(as_of) if as_of in days else None
    ewma = float(daily["acwr_ewma"].to_numpy(dtype=float)[i]) if i is not None else math.nan
    rolling = float(daily["acwr_uncoupled"].to_numpy(dtype=float)[i]) if i is not None else math.nan
    if math.isnan(ewma) and math.isnan(rolling):
        message = (
            "Acute:chronic workload ratio: not available yet (it needs 28 days of history "
            "with some load)."
        )
    else:
        parts = []
        if not math.isnan(ewma):
            parts.append(f"{ewma:.2f} (exponentially weighted, 7 vs 28 days)")
        if not math.isnan(rolling):
            parts.append(f"{rolling:.2f} (last 7 days vs the 21 before)")
        message = (
            f"Acute:chronic workload ratio today: {' and '.join(parts)}. Shown as context only: "
            "it does not reliably predict injury."
        )
    return [
        _make(
            "acwr",
            local_date=as_of,
            subject=f"day:{as_of.isoformat()}",
            severity="info",
            message=message,
            action="No action needed; use it alongside how you feel.",
            inputs={"acwr_ewma": _num(ewma), "acwr_uncoupled": _num(rolling)},
            thresholds={"min_history_days": 28, "ewma_days": [7, 28], "rolling_days": [7, 21]},
        )
    ]


# -- analyse ---------------------------------------------------------------------------------------


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule_id, subject), the latest by local_date; sorted for stable output."""
    best: dict[tuple[str, str], Finding] = {}
    for f in findings:
        key = (f.rule_id, f.subject)
        if key not in best or f.local_date >= best[key].local_date:
            best[key] = f
    return sorted(best.values(), key=lambda f: (f.local_date, f.rule_id, f.subject))


def analyse(
    *,
    activities: Sequence[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    strength_logs: Sequence[StrengthLog],
    pain_logs: Sequence[PainLog],
    profile: AthleteProfile,
    as_of: date,
    config: RuleConfig = DEFAULT_CONFIG,
) -> Analysis:
    """Run every unmuted rule over the whole history up to `as_of` (the athlete's local today).

    The history starts at the first recorded day (activity, strength or pain log); anything
    dated after `as_of` is ignored.
    """
    acts = [a for a in activities if a.local_date <= as_of]
    logs = [s for s in strength_logs if s.local_date <= as_of]
    pains = [p for p in pain_logs if p.local_date <= as_of]
    start = min(
        [a.local_date for a in acts] + [s.local_date for s in logs] + [p.local_date for p in pains],
        default=as_of,
    )
    # = history.daily_table(...) and history.weekly_table(..., daily=daily), sharing arrays
    daily, weekly = history._tables(acts, loads, start=start, end=as_of, strength_logs=logs)
    units = profile.units
    goal = (
        config.strength_goal if config.strength_goal is not None else profile.strength_goal_per_week
    )
    ceiling = history.run_ceiling(
        acts, as_of=as_of, days=config.ceiling_window_days, factor=config.ceiling_factor
    )
    rules: dict[str, Callable[[], list[Finding]]] = {
        "single_run_spike": lambda: single_run_spike(acts, as_of=as_of, config=config, units=units),
        "run_ceiling": lambda: _run_ceiling_findings(
            ceiling, as_of=as_of, config=config, units=units
        ),
        "intensity_spike": lambda: intensity_spike(daily, config=config),
        "weekly_progression": lambda: weekly_progression(
            weekly, as_of=as_of, config=config, units=units
        ),
        "monotony": lambda: monotony(daily, config=config),
        "missing_strength": lambda: missing_strength(weekly, as_of=as_of, goal=goal),
        "hard_surface_share": lambda: hard_surface_share(weekly, config=config),
        "no_rest_day": lambda: no_rest_day(daily, config=config),
        "shoe_mileage": lambda: shoe_mileage(acts, as_of=as_of, config=config, units=units),
        "persistent_pain": lambda: persistent_pain(pains, as_of=as_of, config=config),
        "acwr": lambda: acwr_context(daily, as_of=as_of),
    }
    findings: list[Finding] = []
    for rule_id in RULE_IDS:
        if rule_id not in profile.muted_rules:
            findings.extend(rules[rule_id]())
    return Analysis(
        as_of=as_of, daily=daily, weekly=weekly, ceiling=ceiling, findings=_dedupe(findings)
    )
