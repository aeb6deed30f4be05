"""Profile-independent metrics computed once per activity, when its samples are at hand.

Everything here depends only on the recorded data, never on the athlete's settings, so it can be
stored with the activity and reused: a change of HR max or zones recomputes TRIMP and zone
minutes from `hr_seconds_by_bpm` without decoding the raw file again (see `analysis.load`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.activity import DecodedActivity
from analysis.model import ActivityDerived, RunningDynamics

FloatArray = npt.NDArray[np.float64]

#: A gap between two samples longer than this is a pause (auto-pause, lost signal): it counts
#: nothing. Shorter gaps are smart recording, and the earlier sample holds across them.
MAX_SAMPLE_GAP_S = 10.0
#: Heart rates outside this range are sensor glitches (0 on strap loss, optical spikes).
HR_CREDIBLE_MIN = 30.0
HR_CREDIBLE_MAX = 240.0
#: A run sample counts as moving above this speed (standing at a crossing is not running form).
MOVING_SPEED_MPS = 0.5
#: Form fade needs enough moving time for thirds to mean something, and some data in each third.
FADE_MIN_MOVING_S = 600.0
FADE_MIN_THIRD_S = 60.0

#: EVIDENCE.md 3.8: FIT sport `training` with one of these sub_sports is strength/mobility work.
STRENGTH_SUB_SPORTS = frozenset(
    {"strength_training", "cardio_training", "flexibility_training", "yoga", "pilates"}
)
#: Locomotion sports: `set` messages in their session (a multisport file's sets leak across
#: sessions) never make them strength work.
ENDURANCE_SPORTS = frozenset(
    {
        "running",
        "cycling",
        "e_biking",
        "walking",
        "hiking",
        "swimming",
        "rowing",
        "paddling",
        "cross_country_skiing",
        "transition",
    }
)
#: Slack when matching `set` messages to a session by start time (watch clocks, rounding).
SET_WINDOW_SLACK_S = 60.0

_DYNAMICS_CHANNELS = ("cadence_spm", "stance_time_ms", "vertical_oscillation_mm")


def derive_activity(activity: DecodedActivity) -> ActivityDerived:
    """Compute the HR histogram, running dynamics and strength flags of one session.

    `surface` stays None here: it needs map data and lives in `analysis.surfaces`.
    """
    samples = _sorted_samples(activity.samples)
    seconds = _seconds(samples.index) if len(samples) else np.empty(0)
    is_strength = _is_strength_sport(activity.sport, activity.sub_sport)
    strength_sets = 0
    if activity.sport not in ENDURANCE_SPORTS:
        strength_sets = _active_set_count(activity)
        is_strength = is_strength or strength_sets > 0
    return ActivityDerived(
        hr_seconds_by_bpm=_hr_histogram(samples, seconds),
        dynamics=_running_dynamics(samples, seconds) if activity.sport == "running" else None,
        is_strength=is_strength,
        strength_sets=strength_sets,
    )


# -- time base --------------------------------------------------------------------------------


def _sorted_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples in time order (merged record/hr messages may arrive out of order)."""
    if len(samples) == 0:
        return samples
    if not isinstance(samples.index, pd.DatetimeIndex):
        raise TypeError("DecodedActivity.samples must have a DatetimeIndex (analysis.activity)")
    if samples.index.is_monotonic_increasing:
        return samples
    return samples.sort_index(kind="stable")


def _seconds(index: pd.Index) -> FloatArray:
    """Seconds since the first sample, whatever the index's resolution (pandas 3 keeps `us`)."""
    ns = np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8, dtype=np.int64)
    seconds: FloatArray = (ns - ns[0]).astype(np.float64) / 1e9
    return seconds


def _hold_durations(seconds: FloatArray) -> FloatArray:
    """How long each sample's value holds: the time to the next sample, 0 across a pause.

    The last sample holds for nothing: nothing tells how long it lasted.
    """
    dt = np.diff(seconds, append=seconds[-1]) if len(seconds) else np.empty(0)
    return np.where(dt <= MAX_SAMPLE_GAP_S, dt, 0.0)


def _column(samples: pd.DataFrame, name: str) -> FloatArray | None:
    """A channel as floats with NaN for missing (nullable integer columns included)."""
    if name not in samples.columns:
        return None
    values = pd.to_numeric(samples[name], errors="coerce")
    array: FloatArray = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return array


# -- heart rate -------------------------------------------------------------------------------


def _hr_histogram(samples: pd.DataFrame, seconds: FloatArray) -> dict[int, float]:
    """Seconds at each integer bpm.

    Rows without HR (other channels' records) are skipped, so the previous reading holds across
    them; a non-credible reading is kept as a boundary but its interval counts nothing.
    """
    hr = _column(samples, "hr_bpm")
    if hr is None:
        return {}
    present = ~np.isnan(hr)
    hr, t = hr[present], seconds[present]
    if len(hr) < 2:
        return {}
    hold = _hold_durations(t)
    keep = (hr >= HR_CREDIBLE_MIN) & (hr <= HR_CREDIBLE_MAX) & (hold > 0)
    if not keep.any():
        return {}
    bpm = np.rint(hr[keep]).astype(np.int64)
    low = int(bpm.min())
    totals = np.bincount(bpm - low, weights=hold[keep])
    nonzero = np.flatnonzero(totals)
    return dict(zip((nonzero + low).tolist(), totals[nonzero].tolist(), strict=True))


# -- running dynamics -------------------------------------------------------------------------


def _moving_mask(samples: pd.DataFrame, seconds: FloatArray) -> FloatArray:
    """1.0 where the runner moves: by speed, else by distance progress, else everywhere."""
    speed = _column(samples, "speed_mps")
    if speed is None or not np.isfinite(speed).any():
        distance = _column(samples, "distance_m")
        if distance is not None and np.isfinite(distance).sum() >= 2:
            filled = pd.Series(distance).ffill().to_numpy(dtype=np.float64)
            step = np.diff(filled, append=filled[-1])
            dt = np.diff(seconds, append=seconds[-1])
            with np.errstate(divide="ignore", invalid="ignore"):
                speed = np.where(dt > 0, step / dt, np.nan)
        else:
            return np.ones(len(samples))
    return np.where(np.nan_to_num(speed, nan=0.0) > MOVING_SPEED_MPS, 1.0, 0.0)


def _running_dynamics(samples: pd.DataFrame, seconds: FloatArray) -> RunningDynamics | None:
    """Time-weighted averages over moving samples, and first-third vs last-third change.

    Thirds are cut on the elapsed *moving* time (pauses and standing excluded), so a long stop
    at a traffic light does not shift where the "last third" starts. Zeros are "no reading".
    """
    channels = {name: _column(samples, name) for name in _DYNAMICS_CHANNELS}
    if all(values is None for values in channels.values()) or len(seconds) < 2:
        return None
    weight = _hold_durations(seconds) * _moving_mask(samples, seconds)
    total = float(weight.sum())
    middle = np.cumsum(weight) - weight / 2.0
    first = middle < total / 3.0
    last = middle >= 2.0 * total / 3.0

    averages: dict[str, float | None] = {}
    changes: dict[str, float | None] = {}
    for name, values in channels.items():
        averages[name], changes[name] = None, None
        if values is None:
            continue
        valid = np.where(np.isfinite(values) & (values > 0), weight, 0.0)
        clean = np.nan_to_num(values, nan=0.0)
        averages[name] = _weighted_mean(clean, valid)
        if total >= FADE_MIN_MOVING_S:
            early = _weighted_mean(clean, valid * first, min_weight=FADE_MIN_THIRD_S)
            late = _weighted_mean(clean, valid * last, min_weight=FADE_MIN_THIRD_S)
            if early is not None and late is not None:
                changes[name] = (late - early) / early * 100.0
    if all(value is None for value in averages.values()):
        return None
    return RunningDynamics(
        cadence_spm=averages["cadence_spm"],
        stance_time_ms=averages["stance_time_ms"],
        vertical_oscillation_mm=averages["vertical_oscillation_mm"],
        cadence_change_pct=changes["cadence_spm"],
        stance_time_change_pct=changes["stance_time_ms"],
        vertical_oscillation_change_pct=changes["vertical_oscillation_mm"],
    )


def _weighted_mean(
    values: FloatArray, weights: FloatArray, *, min_weight: float = 0.0
) -> float | None:
    total = float(weights.sum())
    if total <= 0 or total < min_weight:
        return None
    return float(np.dot(values, weights) / total)


# -- strength ---------------------------------------------------------------------------------


def _is_strength_sport(sport: str, sub_sport: str | None) -> bool:
    return sport == "training" and sub_sport in STRENGTH_SUB_SPORTS


def _active_set_count(activity: DecodedActivity) -> int:
    """Active `set` messages of this session.

    A multisport FR965 file (strength, run, strength) carries its sets file-wide; when sets have
    a `start_time`, only those inside this session's window count. The window is only a guard:
    FR965 sessions' elapsed time runs minutes past their timer stop and overlaps the next
    session, hence also `ENDURANCE_SPORTS`. Without `set_type`, every set counts.
    """
    sets = activity.sets
    if len(sets) == 0:
        return 0
    mask = np.ones(len(sets), dtype=bool)
    if "start_time" in sets.columns:
        starts = pd.to_datetime(sets["start_time"], utc=True, errors="coerce")
        begin = pd.Timestamp(activity.start) - pd.Timedelta(seconds=SET_WINDOW_SLACK_S)
        end = (
            pd.Timestamp(activity.start)
            + pd.Timedelta(seconds=activity.elapsed_s)
            + pd.Timedelta(seconds=SET_WINDOW_SLACK_S)
        )
        inside = (starts >= begin) & (starts <= end)
        mask &= (inside | starts.isna()).to_numpy(dtype=bool)
    if "set_type" in sets.columns:
        mask &= _is_active(sets["set_type"].tolist())
    return int(mask.sum())


def _is_active(set_types: Sequence[object]) -> npt.NDArray[np.bool_]:
    """FIT `set_type`: `active` by name, or 1 when the decoder left the raw enum value."""
    return np.array([value == "active" or value == 1 for value in set_types], dtype=bool)
