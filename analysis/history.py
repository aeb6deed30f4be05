"""An athlete's history as daily and weekly tables, with the load metrics of EVIDENCE.md 3.3-3.5.

Pure: activity summaries and their per-activity loads go in (computed elsewhere, e.g. by
`analysis.load`), DataFrames and small values come out. Days and weeks are the athlete's local
calendar (`ActivitySummary.local_date`; weeks Monday to Sunday, EVIDENCE.md 3.9). Rest days are
rows of zeros, because every metric here (PMC, ACWR, monotony) is defined over calendar days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from analysis.model import ActivityLoad, ActivitySummary, StrengthLog, SurfaceBreakdown

__all__ = [
    "DAILY_COLUMNS",
    "WEEKLY_COLUMNS",
    "RunCeiling",
    "SurfaceShare",
    "acwr_ewma",
    "acwr_uncoupled",
    "daily_series",
    "daily_table",
    "is_run",
    "is_strength",
    "last_run_before",
    "longest_run",
    "longest_run_before",
    "monotony",
    "monotony_strain",
    "pmc",
    "run_ceiling",
    "surface_share",
    "week_start",
    "weekly_table",
]

# -- what counts as a run / a strength session --------------------------------------------------

#: Normalised (lower case, no "_", " " or "-") sport names that are running: FIT `running`
#: (any sub_sport: street, trail, track, treadmill, indoor, virtual) and Strava's run types.
_RUN_SPORTS = frozenset({"running", "run", "trailrun", "virtualrun"})
#: EVIDENCE.md 3.8: Strava sport types that are strength/mobility sessions.
_STRENGTH_SPORTS = frozenset(
    {"weighttraining", "workout", "crossfit", "highintensityintervaltraining", "pilates", "yoga"}
)
#: EVIDENCE.md 3.8: FIT `training` sub_sports that are strength/mobility sessions.
_STRENGTH_SUB_SPORTS = frozenset(
    {"strengthtraining", "cardiotraining", "flexibilitytraining", "yoga", "pilates"}
)


def _norm(name: str | None) -> str:
    return (name or "").lower().replace("_", "").replace(" ", "").replace("-", "")


def is_run(activity: ActivitySummary) -> bool:
    """A run of any kind, treadmill included (the spike rule counts treadmill runs too)."""
    return _norm(activity.sport) in _RUN_SPORTS


def is_strength(activity: ActivitySummary) -> bool:
    """A strength/mobility session: the derived flag, or the sport names of EVIDENCE.md 3.8.

    The sport-name fallback covers activities without derived data (e.g. a Strava summary).
    """
    if activity.derived is not None and activity.derived.is_strength:
        return True
    sport = _norm(activity.sport)
    if sport in _STRENGTH_SPORTS:
        return True
    return sport == "training" and _norm(activity.sub_sport) in _STRENGTH_SUB_SPORTS


def _run_km(activity: ActivitySummary) -> float:
    return (activity.distance_m or 0.0) / 1000.0


def _minutes(activity: ActivitySummary) -> float:
    """Moving time when known (pauses are not training), else elapsed time."""
    seconds = activity.moving_s if activity.moving_s is not None else activity.elapsed_s
    return seconds / 60.0


def week_start(day: date) -> date:
    """The local Monday of the week `day` belongs to."""
    return day - timedelta(days=day.weekday())


# -- daily series -------------------------------------------------------------------------------

DAILY_COLUMNS = (
    "load",
    "run_km",
    "run_count",
    "run_minutes",
    "hard_minutes",
    "hr_minutes",
    "minutes",
    "strength_sessions",
    "activity_count",
    "unloaded_count",
)
"""`hard_minutes` = Z4 + Z5; `hr_minutes` = minutes with HR (Z0..Z5), so rules can tell "no
intensity" from "no HR recorded"; `minutes` = all activities' (moving) time; `unloaded_count` =
activities without an `ActivityLoad`."""

_COUNT_COLUMNS = ("run_count", "strength_sessions", "activity_count", "unloaded_count")


def daily_series(
    activities: Iterable[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog] = (),
) -> pd.DataFrame:
    """One row per local day from `start` to `end` inclusive, rest days as zeros.

    Indexed by a daily `DatetimeIndex` named "date" (midnight of each local date). Activities
    outside the range are ignored; an activity without a load counts 0 load (and is counted in
    `unloaded_count` so callers can say so). Hand-logged strength sessions add to
    `strength_sessions`.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    index = pd.date_range(start=start, end=end, freq="D", name="date")
    n = len(index)
    cols: dict[str, np.ndarray] = {name: np.zeros(n) for name in DAILY_COLUMNS}
    for activity in activities:
        if not start <= activity.local_date <= end:
            continue
        i = (activity.local_date - start).days
        cols["activity_count"][i] += 1
        cols["minutes"][i] += _minutes(activity)
        load = loads.get(activity.id)
        if load is None:
            cols["unloaded_count"][i] += 1
        else:
            cols["load"][i] += load.load
            zones = load.zone_minutes
            cols["hard_minutes"][i] += zones[4] + zones[5]
            cols["hr_minutes"][i] += sum(zones)
        if is_run(activity):
            cols["run_count"][i] += 1
            cols["run_km"][i] += _run_km(activity)
            cols["run_minutes"][i] += _minutes(activity)
        if is_strength(activity):
            cols["strength_sessions"][i] += 1
    for log in strength_logs:
        if start <= log.local_date <= end:
            cols["strength_sessions"][(log.local_date - start).days] += 1
    frame = pd.DataFrame(cols, index=index)
    for name in _COUNT_COLUMNS:
        frame[name] = frame[name].astype("int64")
    return frame


# -- PMC (EVIDENCE.md 3.3) ----------------------------------------------------------------------


def pmc(
    load: pd.Series,
    *,
    ctl_days: int = 42,
    atl_days: int = 7,
    ctl_seed: float = 0.0,
    atl_seed: float = 0.0,
) -> pd.DataFrame:
    """Fitness (CTL), fatigue (ATL) and form (TSB) of a daily load series.

    `X_t = X_{t-1} + k (load_t - X_{t-1})` with `k = 1 - exp(-1/N)` (GoldenCheetah /
    intervals.icu); `TSB_t = CTL_{t-1} - ATL_{t-1}` (yesterday's values, as TrainingPeaks
    reports form). Starts from the seeds (zero by default). An explicit loop, because pandas'
    `ewm(adjust=False)` starts from the first value, not from a seed.
    """
    k_ctl = 1.0 - math.exp(-1.0 / ctl_days)
    k_atl = 1.0 - math.exp(-1.0 / atl_days)
    values = load.to_numpy(dtype=float)
    ctl = np.empty_like(values)
    atl = np.empty_like(values)
    tsb = np.empty_like(values)
    c, a = float(ctl_seed), float(atl_seed)
    for i, x in enumerate(values):
        tsb[i] = c - a
        c += k_ctl * (x - c)
        a += k_atl * (x - a)
        ctl[i] = c
        atl[i] = a
    return pd.DataFrame({"ctl": ctl, "atl": atl, "tsb": tsb}, index=load.index)


# -- ACWR (EVIDENCE.md 3.5): context only --------------------------------------------------------


def acwr_ewma(
    load: pd.Series, *, acute_days: int = 7, chronic_days: int = 28, min_days: int = 28
) -> pd.Series:
    """EWMA acute:chronic ratio, lambda = 2/(N+1) (Williams et al. 2017).

    NaN before `min_days` days of history and wherever the chronic value is 0 (the ratio would
    be infinite; we never invent a number).
    """
    acute = load.ewm(alpha=2.0 / (acute_days + 1), adjust=False).mean()
    chronic = load.ewm(alpha=2.0 / (chronic_days + 1), adjust=False).mean()
    return _ratio(acute, chronic, min_days)


def acwr_uncoupled(load: pd.Series, *, acute_days: int = 7, chronic_days: int = 21) -> pd.Series:
    """Rolling ratio: mean of the last 7 days / mean of the 21 days before them (uncoupled).

    Needs `acute_days + chronic_days` days of history; NaN where the chronic mean is 0.
    """
    acute = load.rolling(acute_days).mean()
    chronic = load.shift(acute_days).rolling(chronic_days).mean()
    return _ratio(acute, chronic, acute_days + chronic_days)


def _ratio(acute: pd.Series, chronic: pd.Series, min_days: int) -> pd.Series:
    a = acute.to_numpy(dtype=float)
    c = chronic.to_numpy(dtype=float)
    out = np.full(len(a), np.nan)
    ok = np.isfinite(a) & np.isfinite(c) & (c > 0)
    ok[: max(min_days - 1, 0)] = False
    out[ok] = a[ok] / c[ok]
    return pd.Series(out, index=acute.index)


# -- monotony and strain (EVIDENCE.md 3.4) -------------------------------------------------------

MONOTONY_CAP = 10.0


def monotony(loads: Sequence[float], *, cap: float = MONOTONY_CAP) -> float:
    """Foster monotony of a window of daily loads: mean / population SD.

    SD 0 with a mean > 0 gives `cap` (10), and the ratio never exceeds it (a near-zero SD would
    otherwise give absurd values); all zeros (or an empty window) give NaN.
    """
    x = np.asarray(loads, dtype=float)
    if x.size == 0:
        return math.nan
    mean = float(x.mean())
    if mean <= 0:
        return math.nan
    sd = float(x.std(ddof=0))
    if sd <= 1e-12 * mean:
        return cap
    return min(mean / sd, cap)


def monotony_strain(load: pd.Series, *, days: int = 7, cap: float = MONOTONY_CAP) -> pd.DataFrame:
    """Monotony and strain (= weekly sum x monotony) over the trailing `days` calendar days.

    NaN for the first `days - 1` rows (no full window yet) and for all-zero windows.
    """
    values = load.to_numpy(dtype=float)
    mono = np.full(len(values), np.nan)
    strain = np.full(len(values), np.nan)
    for i in range(days - 1, len(values)):
        window = values[i - days + 1 : i + 1]
        m = monotony(window.tolist(), cap=cap)
        mono[i] = m
        strain[i] = float(window.sum()) * m
    return pd.DataFrame({"monotony": mono, "strain": strain}, index=load.index)


def daily_table(
    activities: Sequence[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog] = (),
    ctl_seed: float = 0.0,
    atl_seed: float = 0.0,
) -> pd.DataFrame:
    """`daily_series` plus ctl, atl, tsb, acwr_ewma, acwr_uncoupled, monotony and strain."""
    daily = daily_series(activities, loads, start=start, end=end, strength_logs=strength_logs)
    load = daily["load"]
    metrics = pmc(load, ctl_seed=ctl_seed, atl_seed=atl_seed)
    daily = daily.join(metrics)
    daily["acwr_ewma"] = acwr_ewma(load)
    daily["acwr_uncoupled"] = acwr_uncoupled(load)
    return daily.join(monotony_strain(load))


# -- surfaces -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SurfaceShare:
    """Confidence-weighted hard-surface share of a set of runs, and how much of it is known.

    Each run's classified metres (everything but unknown) are weighted by its confidence, so a
    low-confidence prior ("a road run is mostly hard") counts for little and cannot by itself
    reach the coverage a rule requires (EVIDENCE.md 3.7: never present a prior as a measurement).
    Treadmill metres are classified, and not hard.
    """

    run_m: float
    """All running distance, classified or not (runs without a breakdown count as unknown)."""
    weighted_classified_m: float
    weighted_hard_m: float

    @property
    def hard_share(self) -> float | None:
        """Weighted hard metres / weighted classified metres; None when nothing is classified."""
        if self.weighted_classified_m <= 0:
            return None
        return self.weighted_hard_m / self.weighted_classified_m

    @property
    def coverage(self) -> float | None:
        """Weighted classified metres / all running metres; None without running distance."""
        if self.run_m <= 0:
            return None
        return self.weighted_classified_m / self.run_m


def surface_share(runs: Iterable[tuple[float, SurfaceBreakdown | None]]) -> SurfaceShare:
    """Combine (run distance in m, its breakdown or None) pairs into one `SurfaceShare`.

    A breakdown's own total is used as the run's distance (it always sums to it); a run without
    one counts its whole distance as unknown.
    """
    run_m = classified = hard = 0.0
    for distance_m, breakdown in runs:
        if breakdown is None:
            run_m += max(distance_m, 0.0)
            continue
        weight = min(max(breakdown.confidence, 0.0), 1.0)
        run_m += breakdown.total_m
        classified += weight * (breakdown.total_m - breakdown.unknown_m)
        hard += weight * breakdown.hard_m
    return SurfaceShare(run_m=run_m, weighted_classified_m=classified, weighted_hard_m=hard)


# -- weekly table -------------------------------------------------------------------------------

WEEKLY_COLUMNS = (
    "days",
    "run_km",
    "run_minutes",
    "run_count",
    "run_days",
    "longest_run_km",
    "load",
    "hard_minutes",
    "hr_minutes",
    "strength_sessions",
    "surface_hard_share",
    "surface_coverage",
)
"""`days` = how many days of the week fall inside the analysed range (7 except at the ends)."""


def weekly_table(
    activities: Sequence[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog] = (),
    surfaces: Mapping[int, SurfaceBreakdown] | None = None,
    daily: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per local Monday-to-Sunday week touching [start, end], indexed by its Monday.

    Surface breakdowns come from `surfaces` (activity id -> breakdown) when given, else from
    each run's `derived.surface`. Pass `daily` (from `daily_series` over the same range) to
    avoid recomputing it. Shares are NaN for weeks without classified running.
    """
    if daily is None:
        daily = daily_series(activities, loads, start=start, end=end, strength_logs=strength_logs)
    days_index = pd.DatetimeIndex(daily.index)
    mondays = days_index - pd.to_timedelta(days_index.day_of_week, unit="D")
    summed = daily[
        ["run_km", "run_minutes", "run_count", "load", "hard_minutes", "hr_minutes"]
    ].groupby(mondays)
    weekly = summed.sum()
    weekly.index.name = "week"
    weekly["days"] = daily["load"].groupby(mondays).size()
    weekly["run_days"] = (daily["run_count"] > 0).groupby(mondays).sum().astype("int64")
    weekly["strength_sessions"] = daily["strength_sessions"].groupby(mondays).sum()

    longest: dict[date, float] = {}
    per_week_runs: dict[date, list[tuple[float, SurfaceBreakdown | None]]] = {}
    for activity in activities:
        if not (start <= activity.local_date <= end and is_run(activity)):
            continue
        monday = week_start(activity.local_date)
        longest[monday] = max(longest.get(monday, 0.0), _run_km(activity))
        if surfaces is not None:
            breakdown = surfaces.get(activity.id)
        else:
            breakdown = activity.derived.surface if activity.derived is not None else None
        per_week_runs.setdefault(monday, []).append((activity.distance_m or 0.0, breakdown))

    shares = {monday: surface_share(runs) for monday, runs in per_week_runs.items()}
    week_dates = [ts.date() for ts in pd.DatetimeIndex(weekly.index)]
    weekly["longest_run_km"] = [longest.get(d, 0.0) for d in week_dates]
    weekly["surface_hard_share"] = [
        _or_nan(shares[d].hard_share if d in shares else None) for d in week_dates
    ]
    weekly["surface_coverage"] = [
        _or_nan(shares[d].coverage if d in shares else None) for d in week_dates
    ]
    return weekly[list(WEEKLY_COLUMNS)]


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


# -- longest run and today's ceiling (EVIDENCE.md 2: single_run_spike, run_ceiling) -------------


def _runs_with_distance(activities: Iterable[ActivitySummary]) -> list[ActivitySummary]:
    return [a for a in activities if is_run(a) and (a.distance_m or 0.0) > 0]


def longest_run(
    activities: Iterable[ActivitySummary], *, as_of: date, days: int = 30
) -> ActivitySummary | None:
    """The longest run with local date in the `days` calendar days ending at `as_of` (incl.).

    Today is included: a second run later today is measured against this morning's too, as the
    spike rule (window ending at the run's start) would.
    """
    first = as_of - timedelta(days=days - 1)
    window = [a for a in _runs_with_distance(activities) if first <= a.local_date <= as_of]
    return max(window, key=lambda a: (a.distance_m or 0.0, a.start), default=None)


def longest_run_before(
    activities: Iterable[ActivitySummary], *, before: datetime, days: int = 30
) -> ActivitySummary | None:
    """The longest run that started in [before - days, before): the spike rule's reference."""
    first = before - timedelta(days=days)
    window = [a for a in _runs_with_distance(activities) if first <= a.start < before]
    return max(window, key=lambda a: (a.distance_m or 0.0, a.start), default=None)


def last_run_before(
    activities: Iterable[ActivitySummary], *, before: datetime
) -> ActivitySummary | None:
    """The most recent run (any distance) that started before `before`."""
    earlier = [a for a in activities if is_run(a) and a.start < before]
    return max(earlier, key=lambda a: a.start, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCeiling:
    """Today's single-run ceiling: `factor` x the longest run of the last `window_days` days."""

    as_of: date
    window_days: int
    factor: float
    longest_km: float | None
    """None when there was no run with a distance in the window."""
    longest_activity_id: int | None = None
    longest_date: date | None = None

    @property
    def ceiling_km(self) -> float | None:
        return None if self.longest_km is None else self.longest_km * self.factor


def run_ceiling(
    activities: Iterable[ActivitySummary], *, as_of: date, days: int = 30, factor: float = 1.10
) -> RunCeiling:
    """Guidance for today: runs up to 1.10 x the 30-day longest fall in Frandsen's "none" band."""
    best = longest_run(activities, as_of=as_of, days=days)
    if best is None:
        return RunCeiling(as_of=as_of, window_days=days, factor=factor, longest_km=None)
    return RunCeiling(
        as_of=as_of,
        window_days=days,
        factor=factor,
        longest_km=_run_km(best),
        longest_activity_id=best.id,
        longest_date=best.local_date,
    )
