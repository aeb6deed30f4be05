"""TRIMP, zones, HR basis and the activity-load method ladder, against independent oracles."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.load import (
    activity_load,
    estimate_threshold_speed,
    resolve_hr_basis,
    trimp_from_average,
    trimp_from_histogram,
    zone_minutes,
)
from analysis.model import (
    ActivityDerived,
    ActivitySummary,
    AthleteProfile,
    HeartRateBasis,
    Sex,
)

#: The public worked example: male, HR max 200, HR rest 40, 130 bpm for 30 min -> 31.80.
EXAMPLE = HeartRateBasis(hr_max=200, hr_rest=40, hr_max_estimated=False, hr_rest_estimated=False)
HALF_HOUR_AT_130 = {130: 1800.0}


def summary(**overrides: object) -> ActivitySummary:
    fields: dict[str, object] = {
        "id": 1,
        "local_date": date(2026, 3, 2),
        "start": datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        "sport": "running",
        "sub_sport": None,
        "elapsed_s": 1800.0,
        "moving_s": 1800.0,
    }
    fields.update(overrides)
    return ActivitySummary(**fields)  # type: ignore[arg-type]


# -- TRIMP ------------------------------------------------------------------------------------


def test_worked_example_male_from_histogram() -> None:
    assert trimp_from_histogram(HALF_HOUR_AT_130, EXAMPLE, Sex.MALE) == pytest.approx(
        31.80, abs=0.01
    )


def test_worked_example_from_average() -> None:
    assert trimp_from_average(130, 30, EXAMPLE, Sex.MALE) == pytest.approx(31.80, abs=0.01)


def test_female_and_unspecified_by_hand() -> None:
    hrr = (130 - 40) / (200 - 40)  # 0.5625
    female = 30 * hrr * 0.86 * math.exp(1.67 * hrr)  # = 37.1285...
    unspecified = 30 * hrr * 0.725215 * math.exp(1.795 * hrr)  # = 33.5902...
    assert female == pytest.approx(37.1285, abs=1e-4)
    assert unspecified == pytest.approx(33.5902, abs=1e-4)
    assert trimp_from_histogram(HALF_HOUR_AT_130, EXAMPLE, Sex.FEMALE) == pytest.approx(female)
    assert trimp_from_histogram(HALF_HOUR_AT_130, EXAMPLE, Sex.UNSPECIFIED) == pytest.approx(
        unspecified
    )


def test_hrr_is_clamped() -> None:
    assert trimp_from_histogram({35: 600.0}, EXAMPLE, Sex.MALE) == 0.0
    # HRr = 1 above HR max: 10 min x 1 x 0.64 x e^1.92
    assert trimp_from_histogram({215: 600.0}, EXAMPLE, Sex.MALE) == pytest.approx(
        10 * 0.64 * math.exp(1.92)
    )
    assert trimp_from_histogram({}, EXAMPLE, Sex.MALE) == 0.0


histograms = st.dictionaries(
    st.integers(min_value=30, max_value=240),
    st.floats(min_value=0.0, max_value=7200.0, allow_nan=False),
    max_size=40,
)
bases = st.builds(
    lambda rest, reserve: HeartRateBasis(
        hr_max=rest + reserve, hr_rest=rest, hr_max_estimated=False, hr_rest_estimated=False
    ),
    st.integers(min_value=35, max_value=80),
    st.integers(min_value=60, max_value=160),
)


@given(
    st.integers(min_value=30, max_value=240),
    st.integers(min_value=30, max_value=240),
    st.floats(min_value=1.0, max_value=7200.0),
    bases,
    st.sampled_from(list(Sex)),
)
def test_trimp_monotone_in_hr(
    hr_a: int, hr_b: int, seconds: float, basis: HeartRateBasis, sex: Sex
) -> None:
    low, high = sorted((hr_a, hr_b))
    assert trimp_from_histogram({low: seconds}, basis, sex) <= trimp_from_histogram(
        {high: seconds}, basis, sex
    )


@given(histograms, histograms, bases, st.sampled_from(list(Sex)))
def test_trimp_additive_over_concatenation(
    first: dict[int, float], second: dict[int, float], basis: HeartRateBasis, sex: Sex
) -> None:
    merged = dict(Counter(first) + Counter(second))
    expected = trimp_from_histogram(first, basis, sex) + trimp_from_histogram(second, basis, sex)
    assert trimp_from_histogram(merged, basis, sex) == pytest.approx(expected, rel=1e-9, abs=1e-9)


# -- zones ------------------------------------------------------------------------------------


def test_zone_boundaries_exact() -> None:
    hist = {99: 60.0, 100: 120.0, 159: 180.0, 160: 240.0, 179: 300.0, 180: 360.0, 200: 60.0}
    hist[230] = 60.0  # above HR max: still Z5
    assert zone_minutes(hist, EXAMPLE) == (1.0, 2.0, 0.0, 3.0, 4.0 + 5.0, 6.0 + 1.0 + 1.0)


def test_zone_boundary_with_non_round_hr_max() -> None:
    basis = HeartRateBasis(hr_max=190, hr_rest=50, hr_max_estimated=False, hr_rest_estimated=False)
    # 152 = 80 % and 171 = 90 % of 190 exactly; 151 / 170 just below.
    z = zone_minutes({151: 60.0, 152: 60.0, 170: 60.0, 171: 60.0}, basis)
    assert z == (0.0, 0.0, 0.0, 1.0, 2.0, 1.0)


def test_own_zone_floors() -> None:
    z = zone_minutes({110: 60.0, 150: 60.0}, EXAMPLE, (55, 65, 72, 75, 85))
    assert z == (0.0, 1.0, 0.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="increasing"):
        zone_minutes({110: 60.0}, EXAMPLE, (50, 60, 60, 80, 90))


@given(histograms, bases)
def test_zone_minutes_sum_to_total(hist: dict[int, float], basis: HeartRateBasis) -> None:
    assert sum(zone_minutes(hist, basis)) == pytest.approx(sum(hist.values()) / 60.0, abs=1e-9)


# -- HR basis ---------------------------------------------------------------------------------


def test_profile_values_win() -> None:
    basis = resolve_hr_basis(AthleteProfile(hr_max=185, hr_rest=48), recent_max_hrs=[199, 201])
    assert basis == HeartRateBasis(
        hr_max=185, hr_rest=48, hr_max_estimated=False, hr_rest_estimated=False
    )


def test_estimate_defaults_without_data() -> None:
    basis = resolve_hr_basis(AthleteProfile(), recent_max_hrs=[])
    assert basis == HeartRateBasis(
        hr_max=190, hr_rest=60, hr_max_estimated=True, hr_rest_estimated=True
    )


def test_estimate_is_second_highest_credible() -> None:
    # 229 is credible but alone: the 2nd highest (185) resists that one spike; 250 and 90 are
    # not credible at all; NaN is ignored.
    profile = AthleteProfile(hr_rest=50)
    basis = resolve_hr_basis(profile, recent_max_hrs=[150, 250, 185, 229, 90, float("nan")])
    assert (basis.hr_max, basis.hr_max_estimated, basis.hr_rest_estimated) == (185, True, False)
    assert resolve_hr_basis(profile, recent_max_hrs=[176]).hr_max == 176


def test_inconsistent_profile_is_an_error() -> None:
    with pytest.raises(ValueError, match="HR max"):
        resolve_hr_basis(AthleteProfile(hr_max=70, hr_rest=60), recent_max_hrs=[])


# -- activity load ----------------------------------------------------------------------------

MALE = AthleteProfile(sex=Sex.MALE, hr_max=200, hr_rest=40)


def test_load_from_samples() -> None:
    run = summary(avg_hr=150, derived=ActivityDerived(hr_seconds_by_bpm=HALF_HOUR_AT_130))
    load = activity_load(run, EXAMPLE, MALE, threshold_speed_mps=None)
    assert load.method == "trimp_samples"
    assert load.load == pytest.approx(31.80, abs=0.01)
    assert load.zone_minutes == (0.0, 0.0, 30.0, 0.0, 0.0, 0.0)


def test_short_histogram_falls_back_to_average() -> None:
    # HR for 10 of 30 minutes only (strap dropped): the session average is the better guess.
    run = summary(avg_hr=130, derived=ActivityDerived(hr_seconds_by_bpm={150: 600.0}))
    load = activity_load(run, EXAMPLE, MALE, threshold_speed_mps=None)
    assert load.method == "trimp_avg_hr"
    assert load.load == pytest.approx(31.80, abs=0.01)
    assert load.zone_minutes == (0.0, 0.0, 0.0, 10.0, 0.0, 0.0)  # measured minutes still count


def test_implausible_trimp_is_discarded() -> None:
    # 3 h of HR time on a 30-min activity (a clock jump): > 400 TRIMP per hour of activity.
    run = summary(moving_s=1800.0, derived=ActivityDerived(hr_seconds_by_bpm={200: 3 * 3600.0}))
    assert activity_load(run, EXAMPLE, MALE, threshold_speed_mps=None).method == "none"
    with_avg = summary(avg_hr=130, derived=run.derived)
    assert activity_load(with_avg, EXAMPLE, MALE, threshold_speed_mps=None).method == (
        "trimp_avg_hr"
    )


def test_session_rpe() -> None:
    lift = summary(sport="training", sub_sport="strength_training", moving_s=None, rpe=6)
    load = activity_load(lift, EXAMPLE, MALE, threshold_speed_mps=4.0)
    assert load.method == "session_rpe"
    assert load.load == pytest.approx(6 * 30)


def test_pace_based() -> None:
    # 10 km in 50 min at threshold 4 m/s: (50/60) h x (3.333/4)^2 x 100 = 57.87
    run = summary(distance_m=10_000.0, moving_s=3000.0, elapsed_s=3100.0)
    load = activity_load(run, EXAMPLE, MALE, threshold_speed_mps=4.0)
    assert load.method == "pace"
    assert load.load == pytest.approx((3000 / 3600) * (10_000 / 3000 / 4.0) ** 2 * 100)
    assert load.load == pytest.approx(57.87, abs=0.01)
    # The athlete's own threshold wins over the caller's estimate.
    own = AthleteProfile(sex=Sex.MALE, threshold_speed_mps=10_000 / 3000)
    assert activity_load(run, EXAMPLE, own, threshold_speed_mps=4.0).load == pytest.approx(
        3000 / 3600 * 100
    )


def test_pace_only_for_runs_and_none_otherwise() -> None:
    ride = summary(sport="cycling", distance_m=30_000.0)
    assert activity_load(ride, EXAMPLE, MALE, threshold_speed_mps=4.0).method == "none"
    run = summary(distance_m=5_000.0)
    no_threshold = activity_load(run, EXAMPLE, MALE, threshold_speed_mps=None)
    assert (no_threshold.method, no_threshold.load) == ("none", 0.0)


# -- threshold speed --------------------------------------------------------------------------


def test_threshold_speed_is_90th_percentile_of_mid_length_runs() -> None:
    qualifying = [summary(moving_s=1800.0, distance_m=1800.0 * v) for v in (2.5, 3, 3.5, 4, 4.5)]
    ignored = [
        summary(moving_s=600.0, distance_m=600.0 * 6.0),  # 10 min: too short
        summary(moving_s=7200.0, distance_m=7200.0 * 6.0),  # 2 h: too long
        summary(sport="cycling", moving_s=1800.0, distance_m=1800.0 * 6.5),
        summary(moving_s=1800.0, distance_m=1800.0 * 9.0),  # GPS nonsense
    ]
    # Linear 90th percentile of [2.5, 3, 3.5, 4, 4.5]: rank 3.6 -> 4.0 + 0.6 x 0.5 = 4.3
    assert estimate_threshold_speed(qualifying + ignored) == pytest.approx(4.3)


def test_threshold_speed_needs_three_runs() -> None:
    runs = [summary(moving_s=1800.0, distance_m=1800.0 * v) for v in (3.0, 3.5)]
    assert estimate_threshold_speed(runs) is None


def test_own_zone_floors_are_parsed_and_checked() -> None:
    from analysis.load import parse_zone_floors

    assert parse_zone_floors(" 55, 65,72 ,82,92 ") == (55.0, 65.0, 72.0, 82.0, 92.0)
    assert parse_zone_floors("") is None
    for bad, words in (
        ("50, 60, 70, 80", "five percentages"),
        ("50, 60, 60, 80, 90", "increase"),
        ("50, 60, 70, 80, 120", "between 30 and 100"),
        ("fifty", "five numbers"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_zone_floors(bad)
