"""Training load of one activity: Banister TRIMP, zone minutes and the no-HR fallbacks.

Conventions are EVIDENCE.md 3.1 (TRIMP), 3.2 (session RPE, pace-based) and 3.6 (zones). TRIMP
and zone minutes are computed from the activity's HR histogram (seconds per bpm, see
`analysis.derive`), which is exact for per-sample integration: both are sums over samples of a
function of HR alone.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analysis.derive import HR_CREDIBLE_MAX, HR_CREDIBLE_MIN
from analysis.model import (
    ActivityLoad,
    ActivitySummary,
    AthleteProfile,
    HeartRateBasis,
    Sex,
)

FloatArray = npt.NDArray[np.float64]
ZoneMinutes = tuple[float, float, float, float, float, float]

#: Banister weighting constants (a, b) per sex; unspecified is Runalyze's midpoint.
TRIMP_CONSTANTS: dict[Sex, tuple[float, float]] = {
    Sex.MALE: (0.64, 1.92),
    Sex.FEMALE: (0.86, 1.67),
    Sex.UNSPECIFIED: (0.725215, 1.795),
}
DEFAULT_ZONE_FLOORS_PCT: tuple[float, float, float, float, float] = (50, 60, 70, 80, 90)

#: Defaults when the athlete gave no HR max / rest (EVIDENCE.md 3.1).
DEFAULT_HR_MAX = 190.0
DEFAULT_HR_REST = 60.0
#: An activity's max HR is credible evidence of HR max only inside this range: below it the
#: session was too easy to say anything, above it is an optical or strap spike.
CREDIBLE_MAX_HR_RANGE = (100.0, 230.0)
#: HR max must exceed HR rest by at least this much for the HR reserve to be meaningful.
MIN_HR_RESERVE = 20.0

#: The histogram is used when it covers at least this many seconds and this share of the
#: activity's duration; a strap that dropped out for most of a run would understate its load,
#: and the session average (from the device, over the whole session) is then the better guess.
MIN_HISTOGRAM_S = 60.0
MIN_HISTOGRAM_COVERAGE = 0.5
#: EVIDENCE.md 3.1 sanity bound, per hour of the activity's own duration. With HRr clamped to
#: [0, 1] a correct TRIMP cannot exceed ~275/h (women, HRr = 1), so a value above this means the
#: HR time itself is wrong (clock jumps, duplicated samples) and the next method is used. The
#: pace-based estimate is bounded the same way (> 400/h means > 2x threshold speed: a GPS error).
MAX_LOAD_PER_HOUR = 400.0

#: Threshold-speed estimate: runs of this moving duration, at a plausible running speed.
THRESHOLD_RUN_MINUTES = (20.0, 70.0)
THRESHOLD_SPEED_RANGE_MPS = (1.5, 7.0)
THRESHOLD_MIN_RUNS = 3
THRESHOLD_PERCENTILE = 90.0


# -- HR basis ---------------------------------------------------------------------------------


def resolve_hr_basis(profile: AthleteProfile, *, recent_max_hrs: Sequence[float]) -> HeartRateBasis:
    """HR max / rest from the profile, else estimated (and flagged as such).

    HR max estimate: the **second highest** credible per-activity max HR of the last 180 days
    (the caller passes them), so one unfiltered spike that passed the credibility range cannot
    set the athlete's zones; with a single credible value, that value; with none, 190. HR rest
    defaults to 60. A profile whose HR max is not above its HR rest is a settings error and
    raises `ValueError`; an estimate that would be too close to HR rest falls back to 190.
    """
    hr_rest = profile.hr_rest if profile.hr_rest is not None else DEFAULT_HR_REST
    if profile.hr_max is not None:
        if profile.hr_max - hr_rest < MIN_HR_RESERVE:
            raise ValueError(
                f"HR max {profile.hr_max} must exceed HR rest {hr_rest} by {MIN_HR_RESERVE} bpm"
            )
        hr_max = float(profile.hr_max)
    else:
        hr_max = _estimate_hr_max(recent_max_hrs)
        if hr_max - hr_rest < MIN_HR_RESERVE:
            hr_max = DEFAULT_HR_MAX
    return HeartRateBasis(
        hr_max=hr_max,
        hr_rest=float(hr_rest),
        hr_max_estimated=profile.hr_max is None,
        hr_rest_estimated=profile.hr_rest is None,
    )


def _estimate_hr_max(recent_max_hrs: Sequence[float]) -> float:
    low, high = CREDIBLE_MAX_HR_RANGE
    credible = sorted(
        (float(v) for v in recent_max_hrs if math.isfinite(v) and low <= v <= high), reverse=True
    )
    if not credible:
        return DEFAULT_HR_MAX
    return credible[1] if len(credible) >= 2 else credible[0]


# -- TRIMP and zones --------------------------------------------------------------------------


def _histogram_arrays(hist: Mapping[int, float]) -> tuple[FloatArray, FloatArray]:
    bpm = np.fromiter(hist.keys(), dtype=np.float64, count=len(hist))
    seconds = np.fromiter(hist.values(), dtype=np.float64, count=len(hist))
    return bpm, seconds


def _trimp_weight(hr: FloatArray, basis: HeartRateBasis, sex: Sex) -> FloatArray:
    """Banister TRIMP per minute at each HR: HRr x a x e^(b x HRr), HRr clamped to [0, 1]."""
    a, b = TRIMP_CONSTANTS[sex]
    hrr = np.clip((hr - basis.hr_rest) / (basis.hr_max - basis.hr_rest), 0.0, 1.0)
    weight: FloatArray = hrr * a * np.exp(b * hrr)
    return weight


# Per-bpm lookup tables. A histogram's keys are integer bpm, and both the TRIMP weight and the
# zone are functions of the bpm alone (under one HR basis / zone setting), so they are computed
# once per setting for every integer bpm in range, with the very same array expressions, and
# looked up per histogram; the sums over the histogram are then taken exactly as before (`np.dot`
# of the same arrays; zone totals added in histogram order, as `np.bincount` adds them). A key
# outside the tables (not an integer in 0..TABLE_MAX_BPM) falls back to the array computation.
TABLE_MAX_BPM = 300
_TABLE_BPM = np.arange(TABLE_MAX_BPM + 1, dtype=np.float64)


@functools.lru_cache(maxsize=1024)
def _weight_table(hr_max: float, hr_rest: float, sex: Sex) -> dict[int, float]:
    basis = HeartRateBasis(
        hr_max=hr_max, hr_rest=hr_rest, hr_max_estimated=False, hr_rest_estimated=False
    )
    weights: list[float] = _trimp_weight(_TABLE_BPM, basis, sex).tolist()
    return dict(enumerate(weights))


@functools.lru_cache(maxsize=1024)
def _zone_table(floors: tuple[float, ...], hr_max: float) -> dict[int, int]:
    zone = _zone_of(_TABLE_BPM, np.asarray(floors, dtype=np.float64), hr_max)
    zones: list[int] = zone.tolist()
    return dict(enumerate(zones))


def _zone_of(bpm: FloatArray, floors: FloatArray, hr_max: float) -> npt.NDArray[np.intp]:
    """Zn starts at its floor: the number of floors with `bpm x 100 >= floor x HR max`."""
    zone: npt.NDArray[np.intp] = (bpm[:, None] * 100.0 >= floors[None, :] * hr_max).sum(axis=1)
    return zone


def _trimp(hist: Mapping[int, float], basis: HeartRateBasis, sex: Sex) -> float:
    """TRIMP of a non-empty histogram."""
    seconds = np.fromiter(hist.values(), dtype=np.float64, count=len(hist))
    table = _weight_table(basis.hr_max, basis.hr_rest, sex)
    try:
        if len(hist) == 1:
            weight = np.array([table[next(iter(hist))]], dtype=np.float64)
        else:  # one C-level lookup of every key
            weight = np.array(operator.itemgetter(*hist)(table), dtype=np.float64)
    except KeyError:  # a bpm outside the table
        weight = _trimp_weight(_histogram_arrays(hist)[0], basis, sex)
    return float(np.dot(seconds / 60.0, weight))


def trimp_from_histogram(hist: Mapping[int, float], basis: HeartRateBasis, sex: Sex) -> float:
    """Banister TRIMP integrated over the HR histogram (seconds at each bpm)."""
    if not hist:
        return 0.0
    return _trimp(hist, basis, sex)


def trimp_from_average(avg_hr: float, minutes: float, basis: HeartRateBasis, sex: Sex) -> float:
    """Banister's original session form: the session average HR held for its duration.

    Lower than the per-sample integral for uneven efforts (the weighting is convex), which is
    why it is only the fallback.
    """
    weight = _trimp_weight(np.array([avg_hr], dtype=np.float64), basis, sex)
    return float(minutes * weight[0])


def zone_minutes(
    hist: Mapping[int, float],
    basis: HeartRateBasis,
    floors_pct: Sequence[float] | None = None,
) -> ZoneMinutes:
    """Minutes in Z0..Z5: Zn starts at its floor (% of HR max, inclusive); >= 100 % is Z5.

    The comparison is `bpm x 100 >= floor x HR max`, in exact arithmetic for integer inputs, so
    a reading exactly on a boundary (160 bpm at 80 % of 200) lands in the upper zone.
    """
    floors = _zone_floors(floors_pct)
    if not hist:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return _zone_minutes(hist, floors, basis.hr_max)


def _zone_floors(floors_pct: Sequence[float] | None) -> tuple[float, ...]:
    """The validated floors (cached per distinct floors); ValueError when invalid."""
    try:
        key = None if floors_pct is None else tuple(floors_pct)
        floors = _cached_zone_floors(key)
    except TypeError:  # unhashable items: validate without the cache
        floors = _validated_floors(floors_pct)
    if floors is None:
        raise ValueError(f"zone floors must be 5 increasing percentages, got {floors_pct!r}")
    return floors


def _validated_floors(floors_pct: Sequence[float] | None) -> tuple[float, ...] | None:
    floors = np.asarray(floors_pct if floors_pct is not None else DEFAULT_ZONE_FLOORS_PCT, float)
    if floors.shape != (5,) or np.any(np.diff(floors) <= 0):
        return None
    valid: list[float] = floors.tolist()
    return tuple(valid)


@functools.lru_cache(maxsize=256)
def _cached_zone_floors(floors_pct: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return _validated_floors(floors_pct)


def _zone_minutes(
    hist: Mapping[int, float], floors: tuple[float, ...], hr_max: float
) -> ZoneMinutes:
    """Zone minutes of a non-empty histogram, summed per zone in histogram order."""
    table = _zone_table(floors, hr_max)
    totals = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    try:
        for bpm, seconds in hist.items():
            totals[table[bpm]] += seconds
    except KeyError:  # a bpm outside the table
        bpm_array, seconds_array = _histogram_arrays(hist)
        zone = _zone_of(bpm_array, np.asarray(floors, dtype=np.float64), hr_max)
        totals = np.bincount(zone, weights=seconds_array, minlength=6).tolist()
    return (
        totals[0] / 60.0,
        totals[1] / 60.0,
        totals[2] / 60.0,
        totals[3] / 60.0,
        totals[4] / 60.0,
        totals[5] / 60.0,
    )


# -- activity load ----------------------------------------------------------------------------


def _duration_s(summary: ActivitySummary) -> float:
    """Moving time when known (pauses are not training), else elapsed time."""
    if summary.moving_s is not None and summary.moving_s > 0:
        return summary.moving_s
    return max(summary.elapsed_s, 0.0)


def _plausible(load: float, duration_s: float) -> bool:
    return math.isfinite(load) and load <= MAX_LOAD_PER_HOUR * duration_s / 3600.0


def activity_load(
    summary: ActivitySummary,
    basis: HeartRateBasis,
    profile: AthleteProfile,
    *,
    threshold_speed_mps: float | None,
) -> ActivityLoad:
    """The load of one activity, by the best method its data allows (EVIDENCE.md 3.1-3.2).

    In order: TRIMP over the HR samples (histogram of >= 60 s covering >= 50 % of the
    duration), TRIMP from the session average HR, Foster session RPE (RPE x minutes),
    pace-based running stress (runs only), else 0 with method "none". A TRIMP or pace load
    above 400 per hour of the activity is discarded and the next method is tried.
    `profile.threshold_speed_mps` wins over `threshold_speed_mps` (the caller's estimate).
    Zone minutes come from the histogram whenever there is one, whatever method set the load.
    """
    duration_s = _duration_s(summary)
    minutes = duration_s / 60.0
    hist = summary.derived.hr_seconds_by_bpm if summary.derived is not None else {}
    zones: ZoneMinutes = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if hist:
        zones = _zone_minutes(hist, _zone_floors(profile.zone_floors_pct), basis.hr_max)

    hist_s = float(sum(hist.values()))
    if hist_s >= MIN_HISTOGRAM_S and hist_s >= MIN_HISTOGRAM_COVERAGE * duration_s:
        load = _trimp(hist, basis, profile.sex)
        if _plausible(load, duration_s):
            return ActivityLoad(load=load, method="trimp_samples", zone_minutes=zones)

    avg_hr = summary.avg_hr
    if avg_hr is not None and HR_CREDIBLE_MIN <= avg_hr <= HR_CREDIBLE_MAX and duration_s > 0:
        load = trimp_from_average(avg_hr, minutes, basis, profile.sex)
        if _plausible(load, duration_s):
            return ActivityLoad(load=load, method="trimp_avg_hr", zone_minutes=zones)

    if summary.rpe is not None and 0.0 <= summary.rpe <= 10.0 and duration_s > 0:
        return ActivityLoad(load=summary.rpe * minutes, method="session_rpe", zone_minutes=zones)

    threshold = profile.threshold_speed_mps or threshold_speed_mps
    if (
        summary.sport == "running"
        and threshold is not None
        and threshold > 0
        and summary.distance_m is not None
        and summary.distance_m > 0
        and duration_s > 0
    ):
        speed = summary.distance_m / duration_s
        load = duration_s / 3600.0 * (speed / threshold) ** 2 * 100.0
        if _plausible(load, duration_s):
            return ActivityLoad(load=load, method="pace", zone_minutes=zones)

    return ActivityLoad(load=0.0, method="none", zone_minutes=zones)


def estimate_threshold_speed(runs: Sequence[ActivitySummary]) -> float | None:
    """A rough threshold (about one-hour race) speed from the athlete's recent runs.

    The 90th percentile of the average speeds of runs lasting 20-70 min (moving time), at a
    plausible running speed, over at least 3 such runs; else None. Runs of that length done
    hard are tempo runs and races near threshold; easy-only training underestimates it, which
    overstates pace-based load: the athlete's own value (profile) should replace it.
    """
    low_min, high_min = THRESHOLD_RUN_MINUTES
    low_speed, high_speed = THRESHOLD_SPEED_RANGE_MPS
    speeds: list[float] = []
    for run in runs:
        if run.sport != "running" or run.distance_m is None:
            continue
        duration_s = _duration_s(run)
        if not low_min * 60.0 <= duration_s <= high_min * 60.0:
            continue
        speed = run.distance_m / duration_s
        if low_speed <= speed <= high_speed:
            speeds.append(speed)
    if len(speeds) < THRESHOLD_MIN_RUNS:
        return None
    return float(np.percentile(speeds, THRESHOLD_PERCENTILE))


def parse_zone_floors(text: str) -> tuple[float, float, float, float, float] | None:
    """An athlete's own zones from "50, 60, 70, 80, 90" (Z1..Z5 floors, % of HR max).

    Empty text means the default zones (None). Anything else must be five increasing
    percentages between 30 and 100, or ValueError says what is wrong, in one sentence.
    """
    text = text.strip()
    if not text:
        return None
    try:
        values = [float(part) for part in text.replace(";", ",").split(",")]
    except ValueError:
        raise ValueError("zones must be five numbers like 50, 60, 70, 80, 90") from None
    if len(values) != 5 or any(not 30 <= v <= 100 for v in values):
        raise ValueError("zones must be five percentages of HR max between 30 and 100")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError("zone floors must increase from Z1 to Z5")
    return (values[0], values[1], values[2], values[3], values[4])
