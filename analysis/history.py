"""An athlete's history as daily and weekly tables, with the load metrics of EVIDENCE.md 3.3-3.5.

Pure: activity summaries and their per-activity loads go in (computed elsewhere, e.g. by
`analysis.load`), DataFrames and small values come out. Days and weeks are the athlete's local
calendar (`ActivitySummary.local_date`; weeks Monday to Sunday, EVIDENCE.md 3.9). Rest days are
rows of zeros, because every metric here (PMC, ACWR, monotony) is defined over calendar days.
"""

from __future__ import annotations

import functools
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


# Sport names repeat endlessly across a history: classify each distinct name once.
@functools.lru_cache(maxsize=4096)
def _is_run_sport(sport: str | None) -> bool:
    return _norm(sport) in _RUN_SPORTS


@functools.lru_cache(maxsize=4096)
def _is_strength_sport(sport: str | None, sub_sport: str | None) -> bool:
    name = _norm(sport)
    if name in _STRENGTH_SPORTS:
        return True
    return name == "training" and _norm(sub_sport) in _STRENGTH_SUB_SPORTS


def is_run(activity: ActivitySummary) -> bool:
    """A run of any kind, treadmill included (the spike rule counts treadmill runs too)."""
    return _is_run_sport(activity.sport)


def is_strength(activity: ActivitySummary) -> bool:
    """A strength/mobility session: the derived flag, or the sport names of EVIDENCE.md 3.8.

    The sport-name fallback covers activities without derived data (e.g. a Strava summary).
    """
    if activity.derived is not None and activity.derived.is_strength:
        return True
    return _is_strength_sport(activity.sport, activity.sub_sport)


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
    cols = _daily_columns(activities, loads, start=start, end=end, strength_logs=strength_logs)
    return pd.DataFrame(cols, index=_day_index(start, end))


def _day_index(start: date, end: date) -> pd.DatetimeIndex:
    return pd.date_range(start=start, end=end, freq="D", name="date")


def _daily_columns(
    activities: Iterable[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog],
) -> dict[str, np.ndarray]:
    """The `DAILY_COLUMNS` as arrays over the days `start`..`end` (see `daily_series`).

    One pass over the activities collects (day, value) pairs; `np.bincount` then adds the
    values per day in activity order, exactly as a per-day `+=` would.
    """
    n = (end - start).days + 1
    day: list[int] = []
    minutes: list[float] = []
    load_day: list[int] = []
    load: list[float] = []
    hard: list[float] = []
    hr: list[float] = []
    unloaded: list[int] = []
    run_day: list[int] = []
    run_km: list[float] = []
    run_minutes: list[float] = []
    strength: list[int] = []
    for activity in activities:
        local = activity.local_date
        if not start <= local <= end:
            continue
        i = (local - start).days
        day.append(i)
        mins = _minutes(activity)
        minutes.append(mins)
        activity_load = loads.get(activity.id)
        if activity_load is None:
            unloaded.append(i)
        else:
            zones = activity_load.zone_minutes
            load_day.append(i)
            load.append(activity_load.load)
            hard.append(zones[4] + zones[5])
            hr.append(sum(zones))
        if is_run(activity):
            run_day.append(i)
            run_km.append(_run_km(activity))
            run_minutes.append(mins)
        if is_strength(activity):
            strength.append(i)
    for log in strength_logs:
        if start <= log.local_date <= end:
            strength.append((log.local_date - start).days)

    def total(days: list[int], values: list[float]) -> np.ndarray:
        if not days:
            return np.zeros(n)
        return np.bincount(days, weights=values, minlength=n)

    def count(days: list[int]) -> np.ndarray:
        if not days:
            return np.zeros(n, dtype=np.int64)
        return np.bincount(days, minlength=n).astype(np.int64)

    cols: dict[str, np.ndarray] = {
        "load": total(load_day, load),
        "run_km": total(run_day, run_km),
        "run_count": count(run_day),
        "run_minutes": total(run_day, run_minutes),
        "hard_minutes": total(load_day, hard),
        "hr_minutes": total(load_day, hr),
        "minutes": total(day, minutes),
        "strength_sessions": count(strength),
        "activity_count": count(day),
        "unloaded_count": count(unloaded),
    }
    return {name: cols[name] for name in DAILY_COLUMNS}


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
    ctl, atl, tsb = _pmc_arrays(
        load.to_numpy(dtype=float),
        ctl_days=ctl_days,
        atl_days=atl_days,
        ctl_seed=ctl_seed,
        atl_seed=atl_seed,
    )
    return pd.DataFrame({"ctl": ctl, "atl": atl, "tsb": tsb}, index=load.index)


def _pmc_arrays(
    values: np.ndarray,
    *,
    ctl_days: int = 42,
    atl_days: int = 7,
    ctl_seed: float = 0.0,
    atl_seed: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`pmc` on a plain array: a tight loop over Python floats (same IEEE arithmetic)."""
    k_ctl = 1.0 - math.exp(-1.0 / ctl_days)
    k_atl = 1.0 - math.exp(-1.0 / atl_days)
    ctl: list[float] = []
    atl: list[float] = []
    tsb: list[float] = []
    c, a = float(ctl_seed), float(atl_seed)
    for x in values.tolist():
        tsb.append(c - a)
        c += k_ctl * (x - c)
        a += k_atl * (x - a)
        ctl.append(c)
        atl.append(a)
    return np.array(ctl, dtype=np.float64), np.array(atl, dtype=np.float64), np.array(tsb)


# -- ACWR (EVIDENCE.md 3.5): context only --------------------------------------------------------


def acwr_ewma(
    load: pd.Series, *, acute_days: int = 7, chronic_days: int = 28, min_days: int = 28
) -> pd.Series:
    """EWMA acute:chronic ratio, lambda = 2/(N+1) (Williams et al. 2017).

    NaN before `min_days` days of history and wherever the chronic value is 0 (the ratio would
    be infinite; we never invent a number).
    """
    ratio = _acwr_ewma_values(
        load, acute_days=acute_days, chronic_days=chronic_days, min_days=min_days
    )
    return pd.Series(ratio, index=load.index)


def acwr_uncoupled(load: pd.Series, *, acute_days: int = 7, chronic_days: int = 21) -> pd.Series:
    """Rolling ratio: mean of the last 7 days / mean of the 21 days before them (uncoupled).

    Needs `acute_days + chronic_days` days of history; NaN where the chronic mean is 0.
    """
    ratio = _acwr_uncoupled_values(load, acute_days=acute_days, chronic_days=chronic_days)
    return pd.Series(ratio, index=load.index)


def _acwr_ewma_values(
    load: pd.Series, *, acute_days: int = 7, chronic_days: int = 28, min_days: int = 28
) -> np.ndarray:
    acute = load.ewm(alpha=2.0 / (acute_days + 1), adjust=False).mean()
    chronic = load.ewm(alpha=2.0 / (chronic_days + 1), adjust=False).mean()
    return _ratio(acute.to_numpy(dtype=float), chronic.to_numpy(dtype=float), min_days)


def _acwr_uncoupled_values(
    load: pd.Series, *, acute_days: int = 7, chronic_days: int = 21
) -> np.ndarray:
    acute = load.rolling(acute_days).mean()
    chronic = load.shift(acute_days).rolling(chronic_days).mean()
    return _ratio(
        acute.to_numpy(dtype=float), chronic.to_numpy(dtype=float), acute_days + chronic_days
    )


#: A chronic load below this (load units a day) counts as zero. Rolling sums leave ~1e-14
#: residues after a rest period and an EWMA only decays towards zero, so "> 0" would turn a
#: long break into an absurd (or overflowing) ratio instead of "undefined".
CHRONIC_FLOOR = 1e-6


def _ratio(a: np.ndarray, c: np.ndarray, min_days: int) -> np.ndarray:
    out = np.full(len(a), np.nan)
    ok = np.isfinite(a) & np.isfinite(c) & (c > CHRONIC_FLOOR)
    ok[: max(min_days - 1, 0)] = False
    out[ok] = a[ok] / c[ok]
    return out


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
    mono, strain = _monotony_strain_arrays(load.to_numpy(dtype=float), days=days, cap=cap)
    return pd.DataFrame({"monotony": mono, "strain": strain}, index=load.index)


def _monotony_strain_arrays(
    values: np.ndarray, *, days: int = 7, cap: float = MONOTONY_CAP
) -> tuple[np.ndarray, np.ndarray]:
    """`monotony` over every trailing window at once, with the same arithmetic per window.

    Each window is a contiguous row of a copied (n, days) matrix, so numpy reduces it exactly
    as it reduces the 1-D window `monotony` sees (same summation order).
    """
    n = len(values)
    mono = np.full(n, np.nan)
    strain = np.full(n, np.nan)
    if days < 1 or n < days:
        return mono, strain
    windows = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(values, days))
    sums = windows.sum(axis=1)
    mean = sums / days
    deviation = windows - mean[:, None]
    sd = np.sqrt((deviation * deviation).sum(axis=1) / days)  # np.std(ddof=0), row by row
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / sd
    # monotony(): NaN unless mean > 0; the cap when sd <= 1e-12 mean; else min(ratio, cap).
    m = np.where(cap < ratio, cap, ratio)
    m = np.where(sd <= 1e-12 * mean, cap, m)
    m = np.where(mean > 0, m, np.nan)
    mono[days - 1 :] = m
    strain[days - 1 :] = sums * m
    return mono, strain


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
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    cols = _daily_columns(activities, loads, start=start, end=end, strength_logs=strength_logs)
    return _daily_frame(cols, _day_index(start, end), ctl_seed=ctl_seed, atl_seed=atl_seed)


def _daily_frame(
    cols: Mapping[str, np.ndarray],
    index: pd.DatetimeIndex,
    *,
    ctl_seed: float = 0.0,
    atl_seed: float = 0.0,
) -> pd.DataFrame:
    """The `daily_table` frame from the `daily_series` columns: one DataFrame construction."""
    values = cols["load"]
    # Row-count windows and EWMs never look at the index: a plain RangeIndex is cheaper.
    load = pd.Series(values)
    ctl, atl, tsb = _pmc_arrays(values, ctl_seed=ctl_seed, atl_seed=atl_seed)
    mono, strain = _monotony_strain_arrays(values)
    columns: dict[str, np.ndarray] = {
        **cols,
        "ctl": ctl,
        "atl": atl,
        "tsb": tsb,
        "acwr_ewma": _acwr_ewma_values(load),
        "acwr_uncoupled": _acwr_uncoupled_values(load),
        "monotony": mono,
        "strain": strain,
    }
    return pd.DataFrame(columns, index=index)


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
    values = {name: daily[name].to_numpy() for name in (*_WEEKLY_SUMS, "strength_sessions")}
    return _weekly_frame(
        activities, start=start, end=end, surfaces=surfaces, days=daily.index, values=values
    )


def _tables(
    activities: Sequence[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`daily_table` and `weekly_table(..., daily=...)` over the same range, the weekly sums
    taken from the daily arrays directly rather than read back out of the daily frame."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    cols = _daily_columns(activities, loads, start=start, end=end, strength_logs=strength_logs)
    index = _day_index(start, end)
    daily = _daily_frame(cols, index)
    weekly = _weekly_frame(activities, start=start, end=end, surfaces=None, days=index, values=cols)
    return daily, weekly


def _weekly_frame(
    activities: Iterable[ActivitySummary],
    *,
    start: date,
    end: date,
    surfaces: Mapping[int, SurfaceBreakdown] | None,
    days: pd.Index,
    values: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """`weekly_table` from the daily index and the daily columns it sums."""
    index, columns = _weekly_sums(days, values)
    week_dates = _index_dates(index)
    week_of = {monday.toordinal(): i for i, monday in enumerate(week_dates)}

    # One pass over the runs; then per-week maxima and sums, added in activity order exactly
    # as `surface_share` adds them run by run (np.bincount adds in order, from 0.0).
    rows: list[int] = []
    km: list[float] = []
    run_m: list[float] = []
    classified: list[float] = []
    hard: list[float] = []
    for activity in activities:
        local = activity.local_date
        if not (start <= local <= end and is_run(activity)):
            continue
        ordinal = local.toordinal()
        row = week_of.get(ordinal - (ordinal + 6) % 7)  # its Monday (date.weekday())
        if row is None:  # a week the daily index does not cover
            continue
        if surfaces is not None:
            breakdown = surfaces.get(activity.id)
        else:
            breakdown = activity.derived.surface if activity.derived is not None else None
        rows.append(row)
        km.append(_run_km(activity))
        if breakdown is None:
            run_m.append(max(activity.distance_m or 0.0, 0.0))
            classified.append(0.0)
            hard.append(0.0)
        else:
            weight = min(max(breakdown.confidence, 0.0), 1.0)
            total = breakdown.total_m
            run_m.append(total)
            classified.append(weight * (total - breakdown.unknown_m))
            hard.append(weight * breakdown.hard_m)
    n_weeks = len(week_dates)
    longest = np.zeros(n_weeks)
    hard_share = np.full(n_weeks, np.nan)
    coverage = np.full(n_weeks, np.nan)
    if rows:
        np.fmax.at(longest, rows, km)  # max(longest, km) as `max` keeps it: NaN never wins
        has_runs = np.bincount(rows, minlength=n_weeks) > 0
        week_m = np.bincount(rows, weights=run_m, minlength=n_weeks)
        week_classified = np.bincount(rows, weights=classified, minlength=n_weeks)
        week_hard = np.bincount(rows, weights=hard, minlength=n_weeks)
        with np.errstate(divide="ignore", invalid="ignore"):
            # SurfaceShare.hard_share / .coverage (None -> NaN) for weeks with runs
            share_ok = has_runs & (week_classified > 0)
            hard_share[share_ok] = week_hard[share_ok] / week_classified[share_ok]
            coverage_ok = has_runs & (week_m > 0)
            coverage[coverage_ok] = week_classified[coverage_ok] / week_m[coverage_ok]
    columns["longest_run_km"] = longest
    columns["surface_hard_share"] = hard_share
    columns["surface_coverage"] = coverage
    return pd.DataFrame({name: columns[name] for name in WEEKLY_COLUMNS}, index=index)


_WEEKLY_SUMS = ("run_km", "run_minutes", "run_count", "load", "hard_minutes", "hr_minutes")


def _weekly_sums(
    days: pd.Index, values: Mapping[str, np.ndarray]
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Per local week: its Monday (an index named "week") and the `_WEEKLY_SUMS` columns,
    `strength_sessions`, `days` and `run_days`, as `groupby(Monday).sum()` computes them.

    A contiguous daily index without NaN (what `daily_series` makes) has its weeks as
    consecutive rows, so each column is one `np.add.reduceat` over the week starts: what
    pandas itself does for sorted groups, bit for bit, without four groupby set-ups. Anything
    else goes through pandas.
    """
    days_index = days if isinstance(days, pd.DatetimeIndex) else pd.DatetimeIndex(days)
    n = len(days_index)
    summed = {name: values[name] for name in (*_WEEKLY_SUMS, "strength_sessions")}
    contiguous = (
        n > 0
        and days_index.tz is None
        and days_index.freqstr == "D"
        and days_index[0] == days_index[0].normalize()
        and all(v.dtype.kind in "if" for v in summed.values())
        and not any(np.isnan(v).any() for v in summed.values() if v.dtype.kind == "f")
    )
    if not contiguous:
        mondays = days_index - pd.to_timedelta(days_index.day_of_week, unit="D")
        daily = pd.DataFrame(summed, index=days_index)
        weekly = daily[list(_WEEKLY_SUMS)].groupby(mondays).sum()
        weekly.index.name = "week"
        weekly["days"] = daily["load"].groupby(mondays).size()
        weekly["run_days"] = (daily["run_count"] > 0).groupby(mondays).sum().astype("int64")
        weekly["strength_sessions"] = daily["strength_sessions"].groupby(mondays).sum()
        columns = {str(name): weekly[name].to_numpy() for name in weekly.columns}
        return pd.DatetimeIndex(weekly.index), columns
    offset = int(days_index[0].day_of_week)
    starts = np.arange(0 if offset == 0 else 7 - offset, n, 7)
    if offset:
        starts = np.concatenate(([0], starts))
    # The Monday of each week: the first day of every week but the first is a Monday already.
    firsts = days_index.to_numpy()[starts]
    firsts[0] -= np.timedelta64(offset, "D")
    mondays = pd.DatetimeIndex(firsts.astype(_monday_dtype(firsts.dtype)), name="week")
    columns = {}
    for name, column in summed.items():
        if column.dtype.kind != "f":
            column = column.astype(np.int64)  # as pandas sums integers
        columns[name] = np.add.reduceat(column, starts)
    columns["days"] = np.diff(np.append(starts, n)).astype(np.int64)
    columns["run_days"] = np.add.reduceat((summed["run_count"] > 0).astype(np.int64), starts)
    return mondays, columns


@functools.lru_cache(maxsize=16)
def _monday_dtype(day_dtype: np.dtype) -> np.dtype:
    """The dtype pandas gives `days - pd.to_timedelta(days.day_of_week, unit="D")` (the
    grouping key of the pandas path) for days of `day_dtype`: probed once, on one day."""
    probe = pd.DatetimeIndex(np.array(["2026-01-07"], dtype=day_dtype))
    return (probe - pd.to_timedelta(probe.day_of_week, unit="D")).to_numpy().dtype


def _index_dates(index: pd.Index) -> list[date]:
    """`[ts.date() for ts in pd.DatetimeIndex(index)]`, converted in C when tz-naive."""
    days_index = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    if days_index.tz is not None:
        return [ts.date() for ts in days_index]
    days: list[date] = days_index.to_numpy().astype("datetime64[D]").tolist()
    return days


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
