"""Derived metrics survive a trip through JSON unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from analysis.codec import DERIVED_VERSION, derived_from_json, derived_to_json, derived_version
from analysis.model import ActivityDerived, RunningDynamics, SurfaceBreakdown, SurfaceMethod

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)
maybe = st.none() | st.floats(min_value=-100, max_value=1e4, allow_nan=False)

derived_values = st.builds(
    ActivityDerived,
    hr_seconds_by_bpm=st.dictionaries(st.integers(30, 240), finite, max_size=20),
    surface=st.none()
    | st.builds(
        SurfaceBreakdown,
        hard_m=finite,
        moderate_m=finite,
        soft_m=finite,
        treadmill_m=finite,
        unknown_m=finite,
        confidence=st.floats(0, 1),
        method=st.sampled_from(SurfaceMethod),
    ),
    dynamics=st.none()
    | st.builds(RunningDynamics, cadence_spm=maybe, cadence_change_pct=maybe, stance_time_ms=maybe),
    is_strength=st.booleans(),
    strength_sets=st.integers(0, 200),
)


@given(derived_values)
def test_round_trip_through_json_text(derived: ActivityDerived) -> None:
    text = json.dumps(derived_to_json(derived))
    data = json.loads(text)
    assert derived_from_json(data) == derived
    assert derived_version(data) == DERIVED_VERSION


def test_missing_data_has_version_zero() -> None:
    assert derived_version(None) == 0
    assert derived_version({"is_strength": False}) == 0
