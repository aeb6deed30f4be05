"""Per-activity derivation: HR histogram, running dynamics, strength detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.activity import DecodedActivity
from analysis.derive import derive_activity
from analysis.load import trimp_from_histogram
from analysis.model import HeartRateBasis, Sex
from connector.fit import decode_fit

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
EXAMPLE = HeartRateBasis(hr_max=200, hr_rest=40, hr_max_estimated=False, hr_rest_estimated=False)


def frame(seconds: Any, **columns: Any) -> pd.DataFrame:
    index = pd.DatetimeIndex(
        pd.Timestamp(START) + pd.to_timedelta(np.asarray(seconds, dtype=float), unit="s"),
        name="timestamp",
    )
    return pd.DataFrame(columns, index=index)


def activity(
    samples: pd.DataFrame | None = None,
    *,
    sport: str = "running",
    sub_sport: str | None = None,
    sets: pd.DataFrame | None = None,
    elapsed_s: float = 1800.0,
) -> DecodedActivity:
    return DecodedActivity(
        sport=sport,
        sub_sport=sub_sport,
        start=START,
        local_offset_s=0,
        elapsed_s=elapsed_s,
        moving_s=None,
        distance_m=None,
        ascent_m=None,
        avg_hr=None,
        max_hr=None,
        has_gps=False,
        device=None,
        partial=False,
        samples=samples if samples is not None else pd.DataFrame(),
        sets=sets if sets is not None else pd.DataFrame(),
    )


# -- HR histogram -----------------------------------------------------------------------------


def test_constant_hr_at_one_second_reproduces_worked_example() -> None:
    t = np.arange(0, 1801)  # 1801 samples span exactly 30 min
    derived = derive_activity(activity(frame(t, hr_bpm=np.full(len(t), 130.0))))
    assert derived.hr_seconds_by_bpm == {130: pytest.approx(1800.0)}
    # Plain Python numbers: the histogram is stored as JSON with the activity.
    assert all(type(k) is int and type(v) is float for k, v in derived.hr_seconds_by_bpm.items())
    trimp = trimp_from_histogram(derived.hr_seconds_by_bpm, EXAMPLE, Sex.MALE)
    assert trimp == pytest.approx(31.80, abs=0.01)


def test_constant_hr_at_irregular_intervals_reproduces_worked_example() -> None:
    rng = np.random.default_rng(7)
    steps = rng.uniform(0.3, 9.9, size=1000)  # smart recording: every 0.3-9.9 s
    t = np.concatenate([[0.0], np.cumsum(steps)])
    t = np.append(t[t < 1800.0], 1800.0)
    derived = derive_activity(activity(frame(t, hr_bpm=np.full(len(t), 130))))
    assert sum(derived.hr_seconds_by_bpm.values()) == pytest.approx(1800.0)
    trimp = trimp_from_histogram(derived.hr_seconds_by_bpm, EXAMPLE, Sex.MALE)
    assert trimp == pytest.approx(31.80, abs=0.01)


def test_a_gap_over_ten_seconds_is_a_pause() -> None:
    t = np.concatenate([np.arange(0, 601), np.arange(660, 1261)])  # 60 s gap after 600 s
    derived = derive_activity(activity(frame(t, hr_bpm=np.full(len(t), 140.0))))
    assert derived.hr_seconds_by_bpm == {140: pytest.approx(1200.0)}
    # A 10 s gap is still recording (smart recording holds the previous value).
    t10 = np.array([0.0, 10.0, 20.0])
    assert derive_activity(activity(frame(t10, hr_bpm=[140, 140, 150]))).hr_seconds_by_bpm == {
        140: 20.0
    }


def test_rows_without_hr_are_skipped_and_glitches_count_nothing() -> None:
    t = np.arange(0, 21)
    hr = np.where(t % 2 == 0, 130.0, np.nan)  # HR every 2 s, other channels in between
    hr[10] = 0.0  # strap lost: counts nothing for its 2 s
    hr[12] = 250.0  # spike: counts nothing
    derived = derive_activity(activity(frame(t, hr_bpm=hr, speed_mps=np.full(21, 3.0))))
    assert derived.hr_seconds_by_bpm == {130: 16.0}


def test_hr_rounds_to_integer_bpm_and_tolerates_nullable_and_unsorted() -> None:
    t = np.array([3.0, 0.0, 1.0, 2.0])  # out of order
    hr = pd.array([131, 130.4, 130.6, None], dtype="Float64")
    derived = derive_activity(activity(frame(t, hr_bpm=hr)))
    # 130.4 -> 130 for 1 s; 130.6 -> 131 holds across the HR-less row at 2 s until 3 s.
    assert derived.hr_seconds_by_bpm == {130: 1.0, 131: 2.0}


def test_no_hr_channel_or_no_samples() -> None:
    assert (
        derive_activity(activity(frame([0, 1, 2], speed_mps=[3.0, 3.0, 3.0]))).hr_seconds_by_bpm
        == {}
    )
    derived = derive_activity(activity())
    assert (derived.hr_seconds_by_bpm, derived.dynamics, derived.is_strength) == ({}, None, False)


def test_samples_without_a_datetime_index_are_a_contract_error() -> None:
    with pytest.raises(TypeError, match="DatetimeIndex"):
        derive_activity(activity(pd.DataFrame({"hr_bpm": [120.0, 121.0]})))


def test_second_resolution_index() -> None:
    samples = frame(np.arange(0, 61), hr_bpm=np.full(61, 150.0))
    samples.index = pd.DatetimeIndex(samples.index).as_unit("s")
    assert derive_activity(activity(samples)).hr_seconds_by_bpm == {150: 60.0}


# -- running dynamics -------------------------------------------------------------------------


def fading_run(stop_s: int = 0) -> pd.DataFrame:
    """30 min of running at 1 s: cadence 180 / 175 / 170 spm and stance 240 / 246 / 252 ms by
    thirds of *moving* time; optionally a standing stop (speed and cadence 0) at minute 5."""
    moving = np.arange(0, 1801)
    third = np.minimum(moving // 600, 2)
    cadence = np.array([180.0, 175.0, 170.0])[third]
    stance = np.array([240.0, 246.0, 252.0])[third]
    t = np.where(moving > 300, moving + stop_s, moving).astype(float)
    samples = frame(t, cadence_spm=cadence, stance_time_ms=stance, speed_mps=np.full(1801, 3.0))
    if stop_s:
        stopped = frame(
            np.arange(301, 301 + stop_s),
            cadence_spm=np.zeros(stop_s),
            stance_time_ms=np.zeros(stop_s),
            speed_mps=np.zeros(stop_s),
        )
        samples = pd.concat([samples, stopped]).sort_index()
    return samples


def test_form_fade_cadence_180_to_170() -> None:
    dynamics = derive_activity(activity(fading_run())).dynamics
    assert dynamics is not None
    assert dynamics.cadence_change_pct == pytest.approx((170 - 180) / 180 * 100, abs=0.05)
    assert dynamics.cadence_change_pct == pytest.approx(-5.56, abs=0.01)
    assert dynamics.stance_time_change_pct == pytest.approx(5.0, abs=0.05)
    assert dynamics.cadence_spm == pytest.approx(175.0, abs=0.05)
    assert dynamics.vertical_oscillation_mm is None
    assert dynamics.vertical_oscillation_change_pct is None


def test_a_standing_stop_does_not_move_the_thirds_or_the_averages() -> None:
    dynamics = derive_activity(activity(fading_run(stop_s=400))).dynamics
    assert dynamics is not None
    assert dynamics.cadence_change_pct == pytest.approx(-5.56, abs=0.01)
    assert dynamics.cadence_spm == pytest.approx(175.0, abs=0.05)


def test_dynamics_ignore_zero_readings() -> None:
    t = np.arange(0, 301)
    vo = np.where(t % 3 == 0, 0.0, 90.0)
    dynamics = derive_activity(activity(frame(t, vertical_oscillation_mm=vo))).dynamics
    assert dynamics is not None
    assert dynamics.vertical_oscillation_mm == pytest.approx(90.0)
    assert dynamics.vertical_oscillation_change_pct is None  # 5 min: too short for a fade


def test_dynamics_only_for_runs_with_a_dynamics_channel() -> None:
    t = np.arange(0, 601)
    assert derive_activity(activity(frame(t, hr_bpm=np.full(601, 140.0)))).dynamics is None
    ride = activity(frame(t, cadence_spm=np.full(601, 90.0)), sport="cycling")
    assert derive_activity(ride).dynamics is None


# -- strength ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sub_sport",
    ["strength_training", "cardio_training", "flexibility_training", "yoga", "pilates"],
)
def test_strength_sub_sports(sub_sport: str) -> None:
    derived = derive_activity(activity(sport="training", sub_sport=sub_sport))
    assert (derived.is_strength, derived.strength_sets) == (True, 0)


def test_other_sports_are_not_strength() -> None:
    assert not derive_activity(activity(sport="training", sub_sport="generic")).is_strength
    assert not derive_activity(activity(sport="running", sub_sport="treadmill")).is_strength
    # Sets leaking into a run (multisport files) do not make it strength work.
    sets = pd.DataFrame({"start_time": [START], "set_type": ["active"]})
    run = derive_activity(activity(sport="running", sets=sets))
    assert (run.is_strength, run.strength_sets) == (False, 0)


def test_set_messages_make_strength_and_count_active_sets() -> None:
    sets = pd.DataFrame(
        {
            "start_time": [START + timedelta(seconds=s) for s in (0, 60, 120, 180, 7200)],
            "set_type": ["active", "rest", "active", 1, "active"],  # raw enum 1 = active
        }
    )
    derived = derive_activity(activity(sport="generic", sets=sets, elapsed_s=600))
    # The set at +2 h is outside this 10-min session (multisport files share their sets).
    assert (derived.is_strength, derived.strength_sets) == (True, 3)
    no_type = derive_activity(activity(sport="generic", sets=sets[["start_time"]]))
    assert no_type.strength_sets == 4


# -- real FR965 files -------------------------------------------------------------------------


def decode(path: Path) -> list[DecodedActivity]:
    return list(decode_fit(path.read_bytes()).activities)


def test_fr965_strength_file(samples_dir: Path) -> None:
    (lift,) = decode(samples_dir / "jarkko__fit-analyzer__20474406937_ACTIVITY.fit")
    assert len(lift.sets) == 76
    derived = derive_activity(lift)
    assert derived.is_strength
    assert derived.strength_sets == 38  # 76 set messages: 38 active, 38 rest
    assert derived.dynamics is None
    # record timestamps are whole seconds; the session clock has milliseconds
    assert 0 < sum(derived.hr_seconds_by_bpm.values()) <= lift.elapsed_s + 1


def test_fr965_multisport_run_between_strength_blocks(samples_dir: Path) -> None:
    sessions = decode(samples_dir / "jarkko__fit-analyzer__20555050352_ACTIVITY.fit")
    derived = [derive_activity(s) for s in sessions]
    assert [s.sport for s in sessions] == ["training", "running", "training"]
    assert [d.is_strength for d in derived] == [True, False, True]
    assert derived[1].strength_sets == 0
    assert sum(d.strength_sets for d in derived) == 20  # 41 sets in the file, 20 active
    run = derived[1].dynamics
    assert run is not None
    assert 0 < sum(derived[1].hr_seconds_by_bpm.values()) <= sessions[1].elapsed_s
    # A slow jog/walk (~1 m/s). Oracle: plain mean over moving (> 0.5 m/s), non-zero samples;
    # recording is ~1 s here, so the time-weighted mean must agree closely.
    samples = sessions[1].samples
    moving = samples["speed_mps"] > 0.5
    for channel, value in (
        ("cadence_spm", run.cadence_spm),
        ("vertical_oscillation_mm", run.vertical_oscillation_mm),
    ):
        expected = samples.loc[moving & (samples[channel] > 0), channel].mean()
        assert value == pytest.approx(expected, rel=0.02)


def test_fr965_ride_then_strength(samples_dir: Path) -> None:
    ride, lift = decode(samples_dir / "jarkko__fit-analyzer__20744294788_ACTIVITY.fit")
    assert (ride.sport, lift.sub_sport) == ("cycling", "strength_training")
    assert not derive_activity(ride).is_strength
    assert derive_activity(lift).strength_sets == 41  # 83 set messages, 41 active


def test_derive_handles_100k_samples_with_a_pause() -> None:
    # Speed is measured in bench/ (not here): this checks a long recording's numbers.
    n = 100_000
    rng = np.random.default_rng(1)
    t = np.arange(n, dtype=float)
    t[50_000:] += 30.0  # one pause
    samples = frame(
        t,
        hr_bpm=rng.normal(150, 10, n),
        speed_mps=rng.uniform(0, 5, n),
        cadence_spm=rng.normal(175, 5, n),
        stance_time_ms=rng.normal(240, 10, n),
        vertical_oscillation_mm=rng.normal(85, 5, n),
        distance_m=np.cumsum(rng.uniform(0, 5, n)),
    )
    run = activity(samples, elapsed_s=n)
    derived = derive_activity(run)
    assert derived.dynamics is not None
    # n samples, n - 1 intervals of 1 s, except the 31 s gap at the pause, which counts nothing.
    assert sum(derived.hr_seconds_by_bpm.values()) == pytest.approx(n - 2)
