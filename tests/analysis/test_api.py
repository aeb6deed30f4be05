"""The public analysis API against published and hand-computed values, plus its properties."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import analysis


def _series(values: list[float], start: date = date(2026, 1, 1)) -> pd.Series:
    return pd.Series(values, index=[start + timedelta(days=i) for i in range(len(values))])


def test_trimp_published_worked_example() -> None:
    # Male, HR max 200, HR rest 40, 130 bpm for 30 min -> 31.80 (EVIDENCE.md 3.1).
    trimp = analysis.banister_trimp([130] * 1800, [1.0] * 1800, hr_rest=40, hr_max=200, sex="male")
    assert trimp == pytest.approx(31.80, abs=0.01)
    # The same effort recorded every 5 s instead of every second.
    coarse = analysis.banister_trimp([130] * 360, [5.0] * 360, hr_rest=40, hr_max=200, sex="male")
    assert coarse == pytest.approx(trimp)


def test_trimp_by_hand_for_women_and_unspecified() -> None:
    hrr = (150 - 50) / (190 - 50)
    for sex, a, b in (("female", 0.86, 1.67), ("unspecified", 0.725215, 1.795)):
        expected = 20 * hrr * a * math.exp(b * hrr)
        got = analysis.banister_trimp([150] * 20, [60.0] * 20, hr_rest=50, hr_max=190, sex=sex)
        assert got == pytest.approx(expected)


def test_a_250_bpm_artefact_does_not_explode_trimp() -> None:
    clean = analysis.banister_trimp([140] * 600, [1.0] * 600, hr_rest=50, hr_max=190)
    spiky_hr = [140] * 600 + [250] * 30 + [float("nan")] * 10
    spiky = analysis.banister_trimp(spiky_hr, [1.0] * 640, hr_rest=50, hr_max=190)
    assert spiky == pytest.approx(clean)


def test_pmc_hand_computed_with_a_missing_rest_day() -> None:
    # 2026-01-02 is absent: a rest day, so loads are [100, 0, 50].
    load = pd.Series([100.0, 50.0], index=[date(2026, 1, 1), date(2026, 1, 3)])
    table = analysis.pmc(load)
    k42, k7 = 1 - math.exp(-1 / 42), 1 - math.exp(-1 / 7)
    ctl1, atl1 = 100 * k42, 100 * k7
    ctl2, atl2 = ctl1 * (1 - k42), atl1 * (1 - k7)
    ctl3, atl3 = ctl2 + k42 * (50 - ctl2), atl2 + k7 * (50 - atl2)
    assert list(table["ctl"]) == pytest.approx([ctl1, ctl2, ctl3])
    assert list(table["atl"]) == pytest.approx([atl1, atl2, atl3])
    assert list(table["tsb"]) == pytest.approx([0.0, ctl1 - atl1, ctl2 - atl2])
    assert ctl1 == pytest.approx(2.352831, abs=1e-6)


def test_acwr_methods_by_hand() -> None:
    load = _series([10.0] * 21 + [20.0] * 7)
    assert math.isnan(analysis.acwr(load, "coupled").iloc[26])
    assert analysis.acwr(load, "coupled").iloc[27] == pytest.approx(20 / 12.5)
    assert analysis.acwr(load, "uncoupled").iloc[27] == pytest.approx(20 / 10)
    flat = _series([30.0] * 28)
    assert analysis.acwr(flat, "ewma").iloc[27] == pytest.approx(1.0)
    assert analysis.acwr(flat, "ewma").iloc[:27].isna().all()
    zeros = _series([0.0] * 40)
    for method in ("ewma", "uncoupled", "coupled"):
        assert analysis.acwr(zeros, method).isna().all()  # never an invented ratio
    with pytest.raises(ValueError, match="unknown ACWR method"):
        analysis.acwr(flat, "magic")  # type: ignore[arg-type]


def test_monotony_by_hand() -> None:
    table = analysis.monotony(_series([60.0, 0, 60, 0, 60, 0, 60]))
    mean = 240 / 7
    sd = math.sqrt(sum((x - mean) ** 2 for x in [60, 0, 60, 0, 60, 0, 60]) / 7)
    assert table["monotony"].iloc[-1] == pytest.approx(mean / sd)
    assert table["strain"].iloc[-1] == pytest.approx(240 * mean / sd)
    assert table["monotony"].iloc[:6].isna().all()
    assert analysis.monotony(_series([50.0] * 7))["monotony"].iloc[-1] == 10.0
    assert math.isnan(analysis.monotony(_series([0.0] * 7))["monotony"].iloc[-1])


@pytest.mark.parametrize(
    ("distance", "expected"),
    [(11000, "none"), (11001, "small"), (13000, "small"), (13001, "moderate"),
     (20000, "moderate"), (20001, "large")],
)  # fmt: skip
def test_spike_class_frandsen_boundaries(distance: float, expected: str) -> None:
    assert analysis.spike_class(distance, 10000) == expected


def test_spike_class_without_a_previous_run_is_not_a_spike() -> None:
    assert analysis.spike_class(15000, None) == "none"
    assert analysis.spike_class(15000, 0) == "none"


@given(
    st.floats(100, 100_000),
    st.floats(100, 100_000),
    st.floats(0.01, 1000),
)
def test_scaling_all_distances_changes_no_spike_class(
    distance: float, longest: float, scale: float
) -> None:
    ratio = distance / longest
    if any(abs(ratio - edge) < 1e-9 for edge in (1.1, 1.3, 2.0)):
        return  # a boundary itself: float rounding may move it either way
    assert analysis.spike_class(distance * scale, longest * scale) == analysis.spike_class(
        distance, longest
    )


loads = st.lists(st.floats(0, 500), min_size=1, max_size=60)


@given(loads)
def test_a_rest_day_never_raises_fatigue(values: list[float]) -> None:
    before = analysis.pmc(_series(values))["atl"].iloc[-1]
    after = analysis.pmc(_series([*values, 0.0]))["atl"].iloc[-1]
    assert after <= before + 1e-12


@given(st.lists(st.floats(0, 500), min_size=7, max_size=7), st.floats(0.01, 100))
def test_monotony_is_scale_invariant(week: list[float], scale: float) -> None:
    base = analysis.monotony(_series(week))["monotony"].iloc[-1]
    scaled = analysis.monotony(_series([x * scale for x in week]))["monotony"].iloc[-1]
    if np.isnan(base):
        assert np.isnan(scaled)
    else:
        assert scaled == pytest.approx(base, rel=1e-6, abs=1e-9)


def test_a_long_break_gives_undefined_acwr_not_an_absurd_ratio() -> None:
    # Training, then 3 years off: the chronic EWMA has decayed to ~1e-40 and rolling windows
    # leave float residues; neither may become a ratio.
    load = _series([80.0] * 60 + [0.1, 0.3, 0.7] + [0.0] * 1100)
    for method in ("ewma", "uncoupled", "coupled"):
        assert np.isnan(analysis.acwr(load, method).iloc[-1])
