"""The optimised history, load and rules code against straightforward reference versions.

Each reference below is the plain per-day / per-run / per-bpm loop the optimised code replaced
(kept here, not in the package). Results must be identical, bit for bit, except where pandas'
own summation is the reference (weekly sums), which is compared to 1e-12 relative.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import history, load, rules
from analysis.model import (
    ActivityDerived,
    ActivityLoad,
    ActivitySummary,
    AthleteProfile,
    HeartRateBasis,
    Sex,
    StrengthLog,
    SurfaceBreakdown,
    SurfaceMethod,
)

D0 = date(2026, 1, 7)  # a Wednesday: the first week is partial
ZONES = ("UTC", "Europe/Copenhagen", "America/New_York")
SPORTS = ("running", "Run", "TrailRun", "cycling", "training", "WeightTraining", "Yoga")

# -- generated histories ------------------------------------------------------------------------


@st.composite
def histories(
    draw: st.DrawFn, max_activities: int = 40
) -> tuple[list[ActivitySummary], dict[int, ActivityLoad], list[StrengthLog]]:
    n = draw(st.integers(0, max_activities))
    acts: list[ActivitySummary] = []
    loads: dict[int, ActivityLoad] = {}
    for i in range(n):
        day = D0 + timedelta(days=draw(st.integers(0, 80)))
        tz = ZoneInfo(draw(st.sampled_from(ZONES)))
        hour = draw(st.integers(0, 23))
        km = draw(st.one_of(st.none(), st.floats(0.0, 45.0), st.sampled_from([5.0, 10.0, 20.0])))
        surface = draw(
            st.one_of(
                st.none(),
                st.builds(
                    lambda h, s, u, c: SurfaceBreakdown(
                        hard_m=h, soft_m=s, unknown_m=u, confidence=c, method=SurfaceMethod.MAP
                    ),
                    st.floats(0, 20000),
                    st.floats(0, 20000),
                    st.floats(0, 5000),
                    st.floats(0, 1),
                ),
            )
        )
        acts.append(
            ActivitySummary(
                id=i + 1,
                local_date=day,
                start=datetime.combine(day, time(hour, draw(st.integers(0, 59))), tzinfo=tz),
                sport=draw(st.sampled_from(SPORTS)),
                sub_sport=draw(st.sampled_from([None, "strength_training", "treadmill"])),
                elapsed_s=draw(st.floats(60, 4 * 3600)),
                moving_s=draw(st.one_of(st.none(), st.floats(60, 4 * 3600))),
                distance_m=None if km is None else km * 1000,
                derived=ActivityDerived(
                    surface=surface, is_strength=draw(st.booleans()) and draw(st.booleans())
                ),
                gear_km=draw(st.one_of(st.none(), st.floats(0, 1000))),
            )
        )
        if draw(st.integers(0, 9)) > 0:
            zones = tuple(draw(st.lists(st.floats(0, 90), min_size=6, max_size=6)))
            loads[i + 1] = ActivityLoad(
                load=draw(st.floats(0, 300)),
                method="trimp_samples",
                zone_minutes=(zones[0], zones[1], zones[2], zones[3], zones[4], zones[5]),
            )
    logs = [
        StrengthLog(local_date=D0 + timedelta(days=d), minutes=10.0)
        for d in draw(st.lists(st.integers(0, 80), max_size=6))
    ]
    return acts, loads, logs


# -- references: the loops the optimised code replaced -------------------------------------------


def ref_daily_series(
    activities: Iterable[ActivitySummary],
    loads: Mapping[int, ActivityLoad],
    *,
    start: date,
    end: date,
    strength_logs: Iterable[StrengthLog] = (),
) -> pd.DataFrame:
    index = pd.date_range(start=start, end=end, freq="D", name="date")
    n = len(index)
    cols = {name: np.zeros(n) for name in history.DAILY_COLUMNS}
    for a in activities:
        if not start <= a.local_date <= end:
            continue
        i = (a.local_date - start).days
        minutes = (a.moving_s if a.moving_s is not None else a.elapsed_s) / 60.0
        cols["activity_count"][i] += 1
        cols["minutes"][i] += minutes
        ld = loads.get(a.id)
        if ld is None:
            cols["unloaded_count"][i] += 1
        else:
            cols["load"][i] += ld.load
            cols["hard_minutes"][i] += ld.zone_minutes[4] + ld.zone_minutes[5]
            cols["hr_minutes"][i] += sum(ld.zone_minutes)
        if history.is_run(a):
            cols["run_count"][i] += 1
            cols["run_km"][i] += (a.distance_m or 0.0) / 1000.0
            cols["run_minutes"][i] += minutes
        if history.is_strength(a):
            cols["strength_sessions"][i] += 1
    for log in strength_logs:
        if start <= log.local_date <= end:
            cols["strength_sessions"][(log.local_date - start).days] += 1
    frame = pd.DataFrame(cols, index=index)
    for name in ("run_count", "strength_sessions", "activity_count", "unloaded_count"):
        frame[name] = frame[name].astype("int64")
    return frame


def ref_pmc(values: Sequence[float]) -> tuple[list[float], list[float], list[float]]:
    k_ctl, k_atl = 1.0 - math.exp(-1.0 / 42), 1.0 - math.exp(-1.0 / 7)
    c = a = 0.0
    ctl, atl, tsb = [], [], []
    for x in values:
        tsb.append(c - a)
        c += k_ctl * (x - c)
        a += k_atl * (x - a)
        ctl.append(c)
        atl.append(a)
    return ctl, atl, tsb


def ref_weekly_table(
    activities: Sequence[ActivitySummary], daily: pd.DataFrame, *, start: date, end: date
) -> pd.DataFrame:
    days_index = pd.DatetimeIndex(daily.index)
    mondays = days_index - pd.to_timedelta(days_index.day_of_week, unit="D")
    cols = ["run_km", "run_minutes", "run_count", "load", "hard_minutes", "hr_minutes"]
    weekly = daily[cols].groupby(mondays).sum()
    weekly.index.name = "week"
    weekly["days"] = daily["load"].groupby(mondays).size()
    weekly["run_days"] = (daily["run_count"] > 0).groupby(mondays).sum().astype("int64")
    weekly["strength_sessions"] = daily["strength_sessions"].groupby(mondays).sum()
    longest: dict[date, float] = {}
    runs: dict[date, list[tuple[float, SurfaceBreakdown | None]]] = {}
    for a in activities:
        if not (start <= a.local_date <= end and history.is_run(a)):
            continue
        monday = history.week_start(a.local_date)
        longest[monday] = max(longest.get(monday, 0.0), (a.distance_m or 0.0) / 1000.0)
        surface = a.derived.surface if a.derived is not None else None
        runs.setdefault(monday, []).append((a.distance_m or 0.0, surface))
    shares = {monday: history.surface_share(r) for monday, r in runs.items()}
    weeks = [ts.date() for ts in pd.DatetimeIndex(weekly.index)]

    def nan(v: float | None) -> float:
        return math.nan if v is None else v

    weekly["longest_run_km"] = [longest.get(d, 0.0) for d in weeks]
    weekly["surface_hard_share"] = [
        nan(shares[d].hard_share if d in shares else None) for d in weeks
    ]
    weekly["surface_coverage"] = [nan(shares[d].coverage if d in shares else None) for d in weeks]
    return weekly[list(history.WEEKLY_COLUMNS)]


def ref_single_run_spike(
    activities: Sequence[ActivitySummary], *, as_of: date
) -> list[tuple[str, str, object]]:
    """(subject, band, reference id) per finding, with the per-run rescans of the original."""
    runs = sorted((a for a in activities if history.is_run(a)), key=lambda a: a.start)
    out: list[tuple[str, str, object]] = []
    for run in runs:
        km = (run.distance_m or 0.0) / 1000.0
        if km <= 0 or run.local_date > as_of:
            continue
        ref = history.longest_run_before(runs, before=run.start, days=30)
        if ref is None:
            last = history.last_run_before(runs, before=run.start)
            if last is None or last.start >= run.start - timedelta(days=30):
                continue
            out.append((f"activity:{run.id}", "return_after_break", last.id))
            continue
        band = rules.spike_band(km / ((ref.distance_m or 0.0) / 1000.0))
        if band != "none":
            out.append((f"activity:{run.id}", band, ref.id))
    return out


def ref_intensity_mask(daily: pd.DataFrame, config: rules.RuleConfig) -> list[int]:
    acute_n, base_n = config.intensity_acute_days, config.intensity_baseline_days
    hard = daily["hard_minutes"].to_numpy(dtype=float)
    hr = daily["hr_minutes"].to_numpy(dtype=float)
    minutes = daily["minutes"].to_numpy(dtype=float)
    days: list[int] = []
    for i in range(acute_n + base_n - 1, len(hard)):
        a = float(hard[i - acute_n + 1 : i + 1].sum())
        base = slice(i - acute_n - base_n + 1, i - acute_n + 1)
        base_hr = float(hr[base].sum())
        if base_hr <= 0 or base_hr < config.intensity_min_hr_coverage * minutes[base].sum():
            continue
        b = float(hard[base].sum()) * 7.0 / base_n
        if a >= config.intensity_floor_min and a > config.intensity_ratio * b:
            days.append(i)
    return days


def ref_episodes(mask: Sequence[bool]) -> list[tuple[int, int]]:
    out, begin = [], None
    for i, flag in enumerate(mask):
        if flag and begin is None:
            begin = i
        elif not flag and begin is not None:
            out.append((begin, i - 1))
            begin = None
    if begin is not None:
        out.append((begin, len(mask) - 1))
    return out


def ref_trimp(hist: Mapping[int, float], basis: HeartRateBasis, sex: Sex) -> float:
    bpm = np.fromiter(hist.keys(), dtype=np.float64, count=len(hist))
    seconds = np.fromiter(hist.values(), dtype=np.float64, count=len(hist))
    a, b = load.TRIMP_CONSTANTS[sex]
    hrr = np.clip((bpm - basis.hr_rest) / (basis.hr_max - basis.hr_rest), 0.0, 1.0)
    return float(np.dot(seconds / 60.0, hrr * a * np.exp(b * hrr)))


def ref_zone_minutes(
    hist: Mapping[int, float], basis: HeartRateBasis, floors_pct: Sequence[float] | None
) -> tuple[float, ...]:
    floors = np.asarray(floors_pct if floors_pct is not None else (50, 60, 70, 80, 90), float)
    bpm = np.fromiter(hist.keys(), dtype=np.float64, count=len(hist))
    seconds = np.fromiter(hist.values(), dtype=np.float64, count=len(hist))
    zone = (bpm[:, None] * 100.0 >= floors[None, :] * basis.hr_max).sum(axis=1)
    return tuple(float(v) for v in np.bincount(zone, weights=seconds, minlength=6) / 60.0)


# -- history ------------------------------------------------------------------------------------


def _range(acts: Sequence[ActivitySummary], logs: Sequence[StrengthLog]) -> tuple[date, date]:
    dates = [a.local_date for a in acts] + [s.local_date for s in logs] + [D0]
    return min(dates), max(dates) + timedelta(days=3)


@settings(max_examples=40, deadline=None)
@given(history_=histories())
def test_daily_and_weekly_tables_match_the_reference_loops(
    history_: tuple[list[ActivitySummary], dict[int, ActivityLoad], list[StrengthLog]],
) -> None:
    acts, loads, logs = history_
    start, end = _range(acts, logs)
    daily = history.daily_series(acts, loads, start=start, end=end, strength_logs=logs)
    reference = ref_daily_series(acts, loads, start=start, end=end, strength_logs=logs)
    pd.testing.assert_frame_equal(daily, reference, check_exact=True)

    table = history.daily_table(acts, loads, start=start, end=end, strength_logs=logs)
    pd.testing.assert_frame_equal(table[list(history.DAILY_COLUMNS)], reference, check_exact=True)
    ctl, atl, tsb = ref_pmc(reference["load"].tolist())
    assert table["ctl"].tolist() == ctl
    assert table["atl"].tolist() == atl
    assert table["tsb"].tolist() == tsb
    series = reference["load"]
    np.testing.assert_array_equal(table["acwr_ewma"], history.acwr_ewma(series).to_numpy())
    np.testing.assert_array_equal(
        table["acwr_uncoupled"], history.acwr_uncoupled(series).to_numpy()
    )
    np.testing.assert_array_equal(
        table[["monotony", "strain"]].to_numpy(),
        history.monotony_strain(series).to_numpy(),
    )

    expected = ref_weekly_table(acts, reference, start=start, end=end)
    weekly = history.weekly_table(acts, loads, start=start, end=end, strength_logs=logs)
    pd.testing.assert_frame_equal(weekly, expected, check_exact=False, rtol=1e-12)
    shared = history.weekly_table(acts, loads, start=start, end=end, daily=table)
    pd.testing.assert_frame_equal(shared, weekly, check_exact=True)
    both = history._tables(acts, loads, start=start, end=end, strength_logs=logs)
    pd.testing.assert_frame_equal(both[0], table, check_exact=True)
    pd.testing.assert_frame_equal(both[1], weekly, check_exact=True)


def test_weekly_table_of_a_non_contiguous_daily_frame_goes_through_pandas() -> None:
    acts = [
        ActivitySummary(
            id=i,
            local_date=D0 + timedelta(days=2 * i),
            start=datetime.combine(D0 + timedelta(days=2 * i), time(7), tzinfo=UTC),
            sport="running",
            sub_sport=None,
            elapsed_s=3600,
            distance_m=1000.0 * (5 + i),
        )
        for i in range(10)
    ]
    loads = {a.id: ActivityLoad(load=10.0 * a.id, method="pace") for a in acts}
    end = D0 + timedelta(days=20)
    daily = history.daily_series(acts, loads, start=D0, end=end).iloc[::2]  # every other day
    expected = ref_weekly_table(acts, daily, start=D0, end=end)
    weekly = history.weekly_table(acts, loads, start=D0, end=end, daily=daily)
    pd.testing.assert_frame_equal(weekly, expected, check_exact=True)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(0, 500), st.just(0.0), st.just(40.0)), min_size=0, max_size=60
    ),
    days=st.integers(1, 12),
)
def test_monotony_strain_matches_the_per_window_function(values: list[float], days: int) -> None:
    index = pd.date_range(D0, periods=len(values), freq="D")
    out = history.monotony_strain(pd.Series(values, index=index, dtype=float), days=days)
    for i in range(len(values)):
        if i < days - 1:
            assert math.isnan(out["monotony"].iloc[i])
            continue
        window = values[i - days + 1 : i + 1]
        m = history.monotony(window)
        s = float(np.asarray(window, dtype=float).sum()) * m
        assert out["monotony"].iloc[i] == m or (
            math.isnan(m) and math.isnan(out["monotony"].iloc[i])
        )
        assert out["strain"].iloc[i] == s or (math.isnan(s) and math.isnan(out["strain"].iloc[i]))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0, 1000), max_size=80))
def test_pmc_matches_the_recurrence(values: list[float]) -> None:
    out = history.pmc(pd.Series(values, index=pd.date_range(D0, periods=len(values)), dtype=float))
    ctl, atl, tsb = ref_pmc(values)
    assert out["ctl"].tolist() == ctl
    assert out["atl"].tolist() == atl
    assert out["tsb"].tolist() == tsb


# -- rules --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(history_=histories(max_activities=50), as_of_day=st.integers(0, 85))
def test_single_run_spike_matches_the_rescanning_reference(
    history_: tuple[list[ActivitySummary], dict[int, ActivityLoad], list[StrengthLog]],
    as_of_day: int,
) -> None:
    acts = history_[0]
    as_of = D0 + timedelta(days=as_of_day)
    found = rules.single_run_spike(acts, as_of=as_of)
    got = [
        (
            f.subject,
            f.inputs["band"],
            f.inputs.get("reference_activity_id", f.inputs.get("last_run_id")),
        )
        for f in found
    ]
    assert got == ref_single_run_spike(acts, as_of=as_of)


def test_single_run_spike_ties_keep_the_first_longest_run() -> None:
    at = datetime(2026, 1, 7, 8, 0, tzinfo=UTC)

    def run(i: int, start: datetime, km: float) -> ActivitySummary:
        return ActivitySummary(
            id=i,
            local_date=start.date(),
            start=start,
            sport="running",
            sub_sport=None,
            elapsed_s=3600,
            distance_m=km * 1000,
        )

    acts = [run(1, at, 10.0), run(2, at, 10.0), run(3, at + timedelta(days=1), 10.0)]
    acts.append(run(4, at + timedelta(days=2), 15.0))
    assert [
        (f.subject, f.inputs["reference_activity_id"])
        for f in rules.single_run_spike(acts, as_of=date(2026, 2, 1))
    ] == [(s, r) for s, _, r in ref_single_run_spike(acts, as_of=date(2026, 2, 1))]


@settings(max_examples=40, deadline=None)
@given(history_=histories(max_activities=60))
def test_intensity_spike_matches_the_per_day_loop(
    history_: tuple[list[ActivitySummary], dict[int, ActivityLoad], list[StrengthLog]],
) -> None:
    acts, loads, logs = history_
    start, end = _range(acts, logs)
    daily = history.daily_table(acts, loads, start=start, end=end + timedelta(days=40))
    config = rules.RuleConfig(intensity_floor_min=5.0, intensity_ratio=1.2)
    mask_days = ref_intensity_mask(daily, config)
    firsts = [first for first, _ in ref_episodes([i in set(mask_days) for i in range(len(daily))])]
    found = rules.intensity_spike(daily, config=config)
    days = [ts.date() for ts in pd.DatetimeIndex(daily.index)]
    assert [f.local_date for f in found] == [days[i] for i in firsts]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_episodes_match_the_loop(mask: list[bool]) -> None:
    assert rules._episodes(mask) == ref_episodes(mask)
    assert rules._episodes(np.array(mask, dtype=bool)) == ref_episodes(mask)


# -- load ---------------------------------------------------------------------------------------

_bpm = st.one_of(st.integers(30, 240), st.integers(-5, 400), st.sampled_from([150.0, 150.5]))


@settings(max_examples=100, deadline=None)
@given(
    hist=st.dictionaries(_bpm, st.floats(0.5, 3600), min_size=1, max_size=60),
    hr_max=st.floats(150, 215),
    hr_rest=st.floats(35, 75),
    sex=st.sampled_from(list(Sex)),
    floors=st.one_of(
        st.none(), st.just((52.0, 62.0, 72.0, 82.0, 91.0)), st.just([55, 65, 75, 85, 95])
    ),
)
def test_trimp_and_zones_match_the_array_formulas(
    hist: dict[int, float],
    hr_max: float,
    hr_rest: float,
    sex: Sex,
    floors: Sequence[float] | None,
) -> None:
    basis = HeartRateBasis(
        hr_max=hr_max, hr_rest=hr_rest, hr_max_estimated=False, hr_rest_estimated=False
    )
    assert load.trimp_from_histogram(hist, basis, sex) == ref_trimp(hist, basis, sex)
    assert load.zone_minutes(hist, basis, floors) == ref_zone_minutes(hist, basis, floors)
    summary = ActivitySummary(
        id=1,
        local_date=D0,
        start=datetime(2026, 1, 7, 8, tzinfo=UTC),
        sport="running",
        sub_sport=None,
        elapsed_s=sum(hist.values()),
        derived=ActivityDerived(hr_seconds_by_bpm=hist),
    )
    profile = AthleteProfile(sex=sex, zone_floors_pct=None if floors is None else tuple(floors))
    got = load.activity_load(summary, basis, profile, threshold_speed_mps=None)
    assert got.zone_minutes == ref_zone_minutes(hist, basis, floors)
    if got.method == "trimp_samples":
        assert got.load == ref_trimp(hist, basis, sex)


def test_invalid_zone_floors_still_raise_only_with_a_histogram() -> None:
    basis = HeartRateBasis(hr_max=190, hr_rest=50, hr_max_estimated=False, hr_rest_estimated=False)
    with pytest.raises(ValueError, match=r"got \[50, 60\]"):
        load.zone_minutes({150: 60.0}, basis, [50, 60])
    with pytest.raises(ValueError, match="increasing"):
        load.zone_minutes({}, basis, (50, 60, 60, 80, 90))
    summary = ActivitySummary(
        id=1,
        local_date=D0,
        start=datetime(2026, 1, 7, 8, tzinfo=UTC),
        sport="running",
        sub_sport=None,
        elapsed_s=1800,
        rpe=5,
    )
    bad = AthleteProfile(zone_floors_pct=(90, 80, 70, 60, 50))
    assert load.activity_load(summary, basis, bad, threshold_speed_mps=None).method == "session_rpe"


def test_strength_and_run_predicates_are_unchanged_by_caching() -> None:
    for sport, sub in itertools.product(
        [*SPORTS, "Virtual_Run", "trail-run", None, "TRAINING"],
        [None, "strength_training", "Yoga", "street"],
    ):
        a = ActivitySummary(
            id=1,
            local_date=D0,
            start=datetime(2026, 1, 7, tzinfo=UTC),
            sport=sport,  # type: ignore[arg-type]
            sub_sport=sub,
            elapsed_s=60,
        )
        norm = history._norm(sport)
        assert history.is_run(a) == (norm in {"running", "run", "trailrun", "virtualrun"})
        expected_strength = norm in {
            "weighttraining",
            "workout",
            "crossfit",
            "highintensityintervaltraining",
            "pilates",
            "yoga",
        } or (
            norm == "training"
            and history._norm(sub)
            in {"strengthtraining", "cardiotraining", "flexibilitytraining", "yoga", "pilates"}
        )
        assert history.is_strength(a) == expected_strength
