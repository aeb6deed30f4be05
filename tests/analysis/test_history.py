"""History tables and load metrics against hand-computed oracles (EVIDENCE.md 3.3-3.5, 3.7, 3.9)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import history
from analysis.model import (
    ActivityDerived,
    ActivityLoad,
    ActivitySummary,
    StrengthLog,
    SurfaceBreakdown,
    SurfaceMethod,
)

D0 = date(2026, 3, 2)  # a Monday


def act(
    id: int,
    day: date,
    km: float | None = 10.0,
    *,
    sport: str = "running",
    sub_sport: str | None = None,
    at: time = time(8, 0),
    tz: str = "UTC",
    minutes: float = 60.0,
    derived: ActivityDerived | None = None,
    gear_km: float | None = None,
) -> ActivitySummary:
    """A tiny in-memory activity: local date and wall-clock start in `tz`."""
    start = datetime.combine(day, at, tzinfo=ZoneInfo(tz))
    return ActivitySummary(
        id=id,
        local_date=day,
        start=start,
        sport=sport,
        sub_sport=sub_sport,
        elapsed_s=minutes * 60,
        distance_m=None if km is None else km * 1000,
        derived=derived,
        gear_km=gear_km,
    )


def series(values: list[float]) -> pd.Series:
    index = pd.date_range(D0, periods=len(values), freq="D", name="date")
    return pd.Series(values, index=index, dtype=float)


# -- PMC ----------------------------------------------------------------------------------------


def test_pmc_matches_hand_computed_recurrence() -> None:
    # k42 = 1 - exp(-1/42) = 0.0235283, k7 = 1 - exp(-1/7) = 0.1331221
    out = pmc = history.pmc(series([100.0, 0.0, 50.0]))
    assert pmc["ctl"].tolist() == pytest.approx([2.352831, 2.297473, 3.419833], abs=1e-6)
    assert pmc["atl"].tolist() == pytest.approx([13.312210, 11.540061, 16.659929], abs=1e-6)
    # form uses yesterday's values: TSB_1 = 0 - 0, TSB_2 = 2.352831 - 13.312210
    assert out["tsb"].tolist() == pytest.approx([0.0, -10.959379, -9.242587], abs=1e-6)


def test_pmc_seeds() -> None:
    out = history.pmc(series([0.0]), ctl_seed=50.0, atl_seed=60.0)
    assert out["tsb"].iloc[0] == pytest.approx(-10.0)
    assert out["ctl"].iloc[0] == pytest.approx(48.823584, abs=1e-6)  # 50 exp(-1/42)
    assert out["atl"].iloc[0] == pytest.approx(52.012674, abs=1e-6)  # 60 exp(-1/7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=80))
def test_pmc_stays_within_zero_and_max_load(loads: list[float]) -> None:
    out = history.pmc(series(loads))
    top = max(loads)
    for column in ("ctl", "atl"):
        assert (out[column] >= 0).all()
        assert (out[column] <= top + 1e-9).all()


# -- monotony and strain ------------------------------------------------------------------------


def test_monotony_of_alternating_week() -> None:
    # mean 240/7 = 34.2857, population SD 29.6923 -> 1.1547
    assert history.monotony([60, 0, 60, 0, 60, 0, 60]) == pytest.approx(1.1547005, abs=1e-6)
    out = history.monotony_strain(series([60, 0, 60, 0, 60, 0, 60]))
    assert out["monotony"].iloc[:6].isna().all()
    assert out["strain"].iloc[6] == pytest.approx(240 * 1.1547005, abs=1e-4)  # 277.128


def test_monotony_edge_cases() -> None:
    assert history.monotony([50.0] * 7) == 10.0  # SD 0, mean > 0: capped
    assert math.isnan(history.monotony([0.0] * 7))  # all rest: undefined
    assert history.monotony([100, 100, 100, 100, 100, 100, 99]) == 10.0  # near-zero SD capped


# -- ACWR ---------------------------------------------------------------------------------------


def test_acwr_undefined_before_28_days() -> None:
    load = series([50.0] * 30)
    ewma, rolling = history.acwr_ewma(load), history.acwr_uncoupled(load)
    assert ewma.iloc[:27].isna().all()
    assert rolling.iloc[:27].isna().all()
    assert ewma.iloc[27] == pytest.approx(1.0)
    assert rolling.iloc[27] == pytest.approx(1.0)


def test_acwr_ewma_hand_computed() -> None:
    # 27 zero days, then 100: acute = 100 * 2/8 = 25, chronic = 100 * 2/29 -> 3.625
    ratio = history.acwr_ewma(series([0.0] * 27 + [100.0]))
    assert ratio.iloc[27] == pytest.approx(3.625)


def test_acwr_uncoupled_hand_computed() -> None:
    # days 1-21 at 10, days 22-28 at 20: last 7 mean 20 / previous 21 mean 10
    ratio = history.acwr_uncoupled(series([10.0] * 21 + [20.0] * 7))
    assert ratio.iloc[27] == pytest.approx(2.0)


def test_acwr_zero_chronic_is_undefined() -> None:
    load = series([0.0] * 28 + [80.0, 80.0])
    assert history.acwr_uncoupled(load).iloc[28:].isna().all()  # 21-day chronic still 0
    assert history.acwr_ewma(series([0.0] * 30)).isna().all()
    assert not np.isinf(history.acwr_ewma(load).to_numpy()).any()


# -- daily series -------------------------------------------------------------------------------


def test_daily_series_rest_days_are_zero_rows() -> None:
    activities = [
        act(1, D0, 10.0, minutes=50),
        act(2, D0 + timedelta(days=3), 5.0, sub_sport="treadmill", minutes=30),
        act(3, D0 + timedelta(days=3), None, sport="training", sub_sport="strength_training"),
        act(4, D0 + timedelta(days=10), 8.0),  # outside the range
        act(5, D0 + timedelta(days=4), 6.0),  # no load given
    ]
    loads = {
        1: ActivityLoad(load=80.0, method="trimp_samples", zone_minutes=(0, 10, 20, 10, 6, 4)),
        2: ActivityLoad(load=40.0, method="session_rpe"),
        3: ActivityLoad(load=20.0, method="session_rpe"),
        4: ActivityLoad(load=99.0, method="pace"),
    }
    logs = [StrengthLog(local_date=D0 + timedelta(days=5), minutes=10)]
    daily = history.daily_series(
        activities, loads, start=D0, end=D0 + timedelta(days=6), strength_logs=logs
    )
    assert len(daily) == 7
    assert list(daily.columns) == list(history.DAILY_COLUMNS)
    assert daily["load"].tolist() == [80.0, 0.0, 0.0, 60.0, 0.0, 0.0, 0.0]
    assert daily["run_km"].tolist() == [10.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]
    assert daily["run_count"].tolist() == [1, 0, 0, 1, 1, 0, 0]
    assert daily["hard_minutes"].tolist() == [10.0, 0, 0, 0, 0, 0, 0]
    assert daily["hr_minutes"].iloc[0] == 50.0
    assert daily["run_minutes"].tolist() == [50.0, 0, 0, 30.0, 60.0, 0, 0]
    assert daily["strength_sessions"].tolist() == [0, 0, 0, 1, 0, 1, 0]
    assert daily["unloaded_count"].tolist() == [0, 0, 0, 0, 1, 0, 0]


def test_strength_detection() -> None:
    assert history.is_strength(act(1, D0, None, sport="WeightTraining"))
    assert history.is_strength(act(2, D0, None, sport="training", sub_sport="yoga"))
    flagged = act(3, D0, None, sport="generic", derived=ActivityDerived(is_strength=True))
    assert history.is_strength(flagged)
    assert not history.is_strength(act(4, D0, 5.0))
    assert history.is_run(act(5, D0, 5.0, sport="VirtualRun"))
    assert history.is_run(act(6, D0, 5.0, sub_sport="treadmill"))
    assert not history.is_run(act(7, D0, 5.0, sport="walking"))


# -- weekly table -------------------------------------------------------------------------------


def test_sunday_late_run_belongs_to_its_local_week() -> None:
    sunday = D0 + timedelta(days=6)
    late = act(1, sunday, 12.0, at=time(23, 30), tz="America/New_York")
    assert late.start.astimezone(UTC).date() == sunday + timedelta(days=1)  # Monday in UTC
    monday_run = act(2, sunday + timedelta(days=1), 5.0)
    weekly = history.weekly_table([late, monday_run], {}, start=D0, end=sunday + timedelta(days=7))
    assert weekly.index.tolist() == [pd.Timestamp(D0), pd.Timestamp(D0 + timedelta(days=7))]
    assert weekly["run_km"].tolist() == [12.0, 5.0]
    assert weekly["longest_run_km"].tolist() == [12.0, 5.0]
    assert weekly["days"].tolist() == [7, 7]
    assert history.week_start(sunday) == D0


def test_weekly_table_totals_and_strength() -> None:
    activities = [
        act(1, D0 + timedelta(days=2), 8.0, minutes=45),  # Wednesday (week starts Monday D0)
        act(2, D0 + timedelta(days=4), 12.0, minutes=70),
        act(
            3,
            D0 + timedelta(days=5),
            None,
            sport="generic",
            derived=ActivityDerived(is_strength=True),
        ),
    ]
    logs = [StrengthLog(local_date=D0 + timedelta(days=6), minutes=10)]
    weekly = history.weekly_table(
        activities,
        {1: ActivityLoad(load=50, method="pace"), 2: ActivityLoad(load=70, method="pace")},
        start=D0 + timedelta(days=2),
        end=D0 + timedelta(days=8),
        strength_logs=logs,
    )
    first = weekly.iloc[0]
    assert first["days"] == 5  # Wednesday to Sunday fall in the range
    assert first["run_km"] == 20.0
    assert first["run_minutes"] == 115.0
    assert first["load"] == 120.0
    assert first["strength_sessions"] == 2
    assert first["run_days"] == 2
    assert weekly.iloc[1]["days"] == 2


def test_surface_share_is_confidence_weighted() -> None:
    measured = SurfaceBreakdown(hard_m=8000, soft_m=2000, confidence=1.0, method=SurfaceMethod.MAP)
    prior = SurfaceBreakdown(hard_m=10000, confidence=0.3, method=SurfaceMethod.PRIOR)
    share = history.surface_share([(10000, measured), (10000, prior), (5000, None)])
    # weighted classified = 10 000 + 3 000; weighted hard = 8 000 + 3 000; all = 25 000
    assert share.hard_share == pytest.approx(11 / 13)
    assert share.coverage == pytest.approx(13 / 25)
    assert history.surface_share([(5000, None)]).hard_share is None
    assert history.surface_share([]).coverage is None


def test_weekly_surface_columns_use_derived_or_given_breakdowns() -> None:
    hard = SurfaceBreakdown(hard_m=9000, soft_m=1000, confidence=1.0, method=SurfaceMethod.MAP)
    runs = [act(1, D0, 10.0, derived=ActivityDerived(surface=hard)), act(2, D0, 10.0)]
    weekly = history.weekly_table(runs, {}, start=D0, end=D0 + timedelta(days=6))
    assert weekly["surface_hard_share"].iloc[0] == pytest.approx(0.9)
    assert weekly["surface_coverage"].iloc[0] == pytest.approx(0.5)
    given_map = {2: SurfaceBreakdown(soft_m=10000, confidence=1.0, method=SurfaceMethod.MAP)}
    weekly = history.weekly_table(
        runs, {}, start=D0, end=D0 + timedelta(days=6), surfaces=given_map
    )
    assert weekly["surface_hard_share"].iloc[0] == pytest.approx(0.0)  # run 1 unknown now


# -- longest run and ceiling --------------------------------------------------------------------


def test_run_ceiling_window_is_last_30_days_including_today() -> None:
    as_of = D0 + timedelta(days=40)
    runs = [
        act(1, as_of - timedelta(days=30), 25.0),  # 31 days ago: outside
        act(2, as_of - timedelta(days=29), 10.0),  # first day of the window
        act(3, as_of - timedelta(days=3), 8.0, sub_sport="treadmill"),
        act(4, as_of - timedelta(days=2), 30.0, sport="cycling"),  # not a run
    ]
    ceiling = history.run_ceiling(runs, as_of=as_of)
    assert ceiling.longest_km == 10.0
    assert ceiling.longest_activity_id == 2
    assert ceiling.ceiling_km == pytest.approx(11.0)
    assert history.run_ceiling([], as_of=as_of).ceiling_km is None


def test_longest_run_before_uses_a_window_ending_at_the_start() -> None:
    run = act(9, D0 + timedelta(days=40), 12.0)
    exactly_30 = act(1, D0 + timedelta(days=10), 10.0)  # same clock time, exactly 30 days before
    too_old = act(2, D0 + timedelta(days=9), 20.0)
    later_same_day = act(3, D0 + timedelta(days=40), 15.0, at=time(18, 0))
    found = history.longest_run_before([run, exactly_30, too_old, later_same_day], before=run.start)
    assert found is not None
    assert found.id == 1
