"""The public analysis API: small pure functions following EVIDENCE.md section 3 exactly.

Everything here is pure (no I/O, no clock). ``daily_load`` is a ``pd.Series`` indexed by
calendar date (dates or a DatetimeIndex); missing days are rest days and count as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from analysis import history
from analysis.model import Sex
from analysis.rules import spike_band

__all__ = ["acwr", "banister_trimp", "monotony", "pmc", "spike_class"]

#: Banister's constants (a, b) by sex; "unspecified" is the midpoint Runalyze uses.
TRIMP_CONSTANTS: dict[Sex, tuple[float, float]] = {
    Sex.MALE: (0.64, 1.92),
    Sex.FEMALE: (0.86, 1.67),
    Sex.UNSPECIFIED: (0.725215, 1.795),
}
#: Readings outside this range are sensor artefacts (a strap losing contact reads 250 bpm).
CREDIBLE_HR = (30.0, 240.0)


def banister_trimp(
    hr_bpm: Sequence[float] | np.ndarray,
    dt_s: Sequence[float] | np.ndarray,
    *,
    hr_rest: float,
    hr_max: float,
    sex: Sex | str = Sex.UNSPECIFIED,
) -> float:
    """Banister TRIMP summed per sample: ``sum(minutes * HRr * a * exp(b * HRr))``.

    ``dt_s[i]`` is how many seconds sample ``i`` lasted. HRr is clamped to [0, 1]; readings
    outside 30-240 bpm (artefacts) and missing values count nothing, so a 250 bpm spike cannot
    inflate the load.
    """
    if hr_max <= hr_rest:
        raise ValueError(f"hr_max ({hr_max}) must be above hr_rest ({hr_rest})")
    hr = np.asarray(hr_bpm, dtype=float)
    dt = np.asarray(dt_s, dtype=float)
    if hr.shape != dt.shape:
        raise ValueError("hr_bpm and dt_s must have the same length")
    a, b = TRIMP_CONSTANTS[Sex(sex)]
    ok = np.isfinite(hr) & np.isfinite(dt) & (hr >= CREDIBLE_HR[0]) & (hr <= CREDIBLE_HR[1])
    hrr = np.clip((hr[ok] - hr_rest) / (hr_max - hr_rest), 0.0, 1.0)
    minutes = np.clip(dt[ok], 0.0, None) / 60.0
    return float(np.sum(minutes * hrr * a * np.exp(b * hrr)))


def _daily(daily_load: pd.Series) -> pd.Series:
    """The series on a complete daily calendar (missing days = 0), as floats."""
    if daily_load.empty:
        return daily_load.astype(float)
    index = pd.DatetimeIndex(pd.to_datetime(pd.Index(daily_load.index)))
    if index.has_duplicates:
        raise ValueError("daily_load has more than one value for a day")
    series = pd.Series(daily_load.to_numpy(dtype=float), index=index).sort_index()
    full = pd.date_range(series.index[0], series.index[-1], freq="D")
    return series.reindex(full, fill_value=0.0).fillna(0.0)


def pmc(daily_load: pd.Series) -> pd.DataFrame:
    """Fitness (ctl, 42 d), fatigue (atl, 7 d) and form (tsb = yesterday's ctl - atl)."""
    return history.pmc(_daily(daily_load))


def acwr(
    daily_load: pd.Series, method: Literal["ewma", "uncoupled", "coupled"] = "ewma"
) -> pd.Series:
    """Acute:chronic workload ratio; NaN before 28 days of history or with a zero chronic load.

    ewma: lambda = 2/(N+1), N = 7 and 28 (Williams 2017). uncoupled: mean of the last 7 days /
    mean of the 21 before. coupled: mean of the last 7 / mean of the last 28 (which contain the
    7: the mathematical coupling Lolli 2019 criticised; shown for comparison only).
    """
    load = _daily(daily_load)
    if method == "ewma":
        return history.acwr_ewma(load)
    if method == "uncoupled":
        return history.acwr_uncoupled(load)
    if method == "coupled":
        acute = load.rolling(7, min_periods=7).mean()
        chronic = load.rolling(28, min_periods=28).mean()
        ratio = acute / chronic.where(chronic > history.CHRONIC_FLOOR)
        return ratio.rename("acwr_coupled")
    raise ValueError(f"unknown ACWR method {method!r}: ewma, uncoupled or coupled")


def monotony(daily_load: pd.Series) -> pd.DataFrame:
    """Foster monotony (mean / population SD of the last 7 days) and strain (sum x monotony)."""
    return history.monotony_strain(_daily(daily_load))


def spike_class(distance_m: float, longest_30d_m: float | None) -> str:
    """Frandsen 2025 class of a run against the longest run of the previous 30 days.

    ``none`` when the ratio is at most 1.10, or when there is no previous run to compare with
    (that case is a "return after a break" notice, not a spike).
    """
    if not longest_30d_m or longest_30d_m <= 0 or not math.isfinite(longest_30d_m):
        return "none"
    if distance_m < 0 or not math.isfinite(distance_m):
        raise ValueError(f"distance must be a non-negative number of metres, not {distance_m}")
    return spike_band(distance_m / longest_30d_m)
