"""The rules of EVIDENCE.md section 2 on tiny in-memory histories."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import history, rules
from analysis.exercises import LIBRARY
from analysis.model import (
    ActivityDerived,
    ActivityLoad,
    ActivitySummary,
    AthleteProfile,
    Finding,
    PainLog,
    StrengthLog,
    SurfaceBreakdown,
    SurfaceMethod,
)

D0 = date(2026, 1, 5)  # a Monday
PROFILE = AthleteProfile()


def run(
    id: int,
    day: date,
    km: float | None = 10.0,
    *,
    sport: str = "running",
    sub_sport: str | None = None,
    at: time = time(8, 0),
    surface: SurfaceBreakdown | None = None,
    gear_km: float | None = None,
    is_strength: bool = False,
) -> ActivitySummary:
    derived = ActivityDerived(surface=surface, is_strength=is_strength)
    return ActivitySummary(
        id=id,
        local_date=day,
        start=datetime.combine(day, at, tzinfo=ZoneInfo("Europe/Copenhagen")),
        sport=sport,
        sub_sport=sub_sport,
        elapsed_s=3600,
        distance_m=None if km is None else km * 1000,
        derived=derived,
        gear_km=gear_km,
    )


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def of(findings: list[Finding], rule_id: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule_id]


def analyse(
    activities: list[ActivitySummary],
    *,
    as_of: date,
    loads: dict[int, ActivityLoad] | None = None,
    strength_logs: list[StrengthLog] | None = None,
    pain_logs: list[PainLog] | None = None,
    profile: AthleteProfile = PROFILE,
    config: rules.RuleConfig = rules.DEFAULT_CONFIG,
) -> rules.Analysis:
    return rules.analyse(
        activities=activities,
        loads=loads if loads is not None else {},
        strength_logs=strength_logs or [],
        pain_logs=pain_logs or [],
        profile=profile,
        as_of=as_of,
        config=config,
    )


# -- single_run_spike ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "band"),
    [
        (1.10, "none"),
        (1.1001, "small"),
        (1.30, "small"),
        (1.3001, "moderate"),
        (2.00, "moderate"),
        (2.0001, "large"),
    ],
)
def test_frandsen_bands_at_their_boundaries(ratio: float, band: str) -> None:
    assert rules.spike_band(ratio) == band


@pytest.mark.parametrize(
    ("metres", "band"),
    [(11000, None), (11001, "small"), (13000, "small"), (20000, "moderate"), (20001, "large")],
)
def test_spike_from_distances(metres: int, band: str | None) -> None:
    history_ = [run(1, day(0), 10.0), run(2, day(5), metres / 1000)]
    found = rules.single_run_spike(history_, as_of=day(5))
    if band is None:
        assert found == []
        return
    (finding,) = found
    assert finding.inputs["band"] == band
    assert finding.subject == "activity:2"
    assert finding.local_date == day(5)
    assert finding.push is True
    assert finding.evidence_grade == "B"
    assert "km" in finding.message
    assert "%" in finding.message
    assert finding.inputs["reference_km"] == 10.0


def test_spike_window_ends_at_the_runs_start() -> None:
    # a longer run later the same day does not count; one 31 days before does not either
    runs = [
        run(1, day(0), 30.0),
        run(2, day(31), 5.0),
        run(3, day(40), 8.0, at=time(7, 0)),
        run(4, day(40), 50.0, at=time(18, 0)),
    ]
    found = {f.subject: f for f in rules.single_run_spike(runs, as_of=day(40))}
    assert found["activity:3"].inputs["band"] == "moderate"  # 8 / 5 = 1.6
    assert found["activity:3"].inputs["reference_km"] == 5.0
    assert found["activity:4"].inputs["reference_km"] == 8.0  # the morning run counts


def test_treadmill_runs_count_as_reference() -> None:
    runs = [run(1, day(0), 10.0, sub_sport="treadmill"), run(2, day(3), 10.5, sport="VirtualRun")]
    assert rules.single_run_spike(runs, as_of=day(3)) == []


def test_return_after_a_break_notice_instead_of_a_band() -> None:
    runs = [run(1, day(0), 10.0), run(2, day(45), 6.0)]
    (finding,) = rules.single_run_spike(runs, as_of=day(45))
    assert finding.inputs["band"] == "return_after_break"
    assert finding.inputs["days_since_last_run"] == 45
    assert finding.severity == "info"
    assert finding.push is False
    assert "45 days" in finding.message


def test_first_run_of_history_gives_nothing() -> None:
    assert rules.single_run_spike([run(1, day(0), 25.0)], as_of=day(0)) == []


# -- run_ceiling --------------------------------------------------------------------------------


def test_run_ceiling_guidance() -> None:
    (finding,) = rules.run_ceiling([run(1, day(0), 10.0)], as_of=day(10))
    assert finding.subject == f"day:{day(10).isoformat()}"
    assert finding.inputs["ceiling_km"] == 11.0
    assert "11.0 km" in finding.message
    assert finding.push is False
    (empty,) = rules.run_ceiling([run(1, day(0), 10.0)], as_of=day(40))
    assert empty.inputs["ceiling_km"] is None


def test_run_ceiling_in_miles() -> None:
    (finding,) = rules.run_ceiling([run(1, day(0), 16.09344)], as_of=day(1), units="mi")
    assert "11.0 mi" in finding.message


# -- intensity_spike ----------------------------------------------------------------------------


def _hr_load(z4: float, total: float = 60.0) -> ActivityLoad:
    return ActivityLoad(
        load=50.0, method="trimp_samples", zone_minutes=(0, total - z4, 0, 0, z4, 0)
    )


def _intensity_history(
    weekly_z4: float, last_week: list[float]
) -> tuple[list[ActivitySummary], dict[int, ActivityLoad]]:
    """Four baseline weeks with one hard run each (Wednesdays), then runs every other day."""
    acts: list[ActivitySummary] = []
    loads: dict[int, ActivityLoad] = {}
    for w in range(4):
        acts.append(run(w + 1, day(7 * w + 2)))
        loads[w + 1] = _hr_load(weekly_z4)
    for i, z4 in enumerate(last_week):
        acts.append(run(100 + i, day(35 + 2 * i)))
        loads[100 + i] = _hr_load(z4)
    return acts, loads


def test_intensity_spike_fires_once_per_episode() -> None:
    # baseline: 20 min on days 2, 9, 16, 23; then 20 min on days 35, 37, 39.
    # day 36: last 7 days 20 min vs 20/week before -> no; day 37: 40 min vs (60/28)*7 = 15 -> yes
    # (and >= 20); it stays true to day 43 (40 vs 20), day 44 drops to 20 min.
    acts, loads = _intensity_history(20.0, [20.0, 20.0, 20.0])
    daily = history.daily_table(acts, loads, start=day(0), end=day(45))
    (finding,) = rules.intensity_spike(daily)
    assert finding.local_date == day(37)
    assert finding.subject == f"day:{day(37).isoformat()}"
    assert finding.inputs["z45_minutes_7d"] == 40.0
    assert finding.inputs["z45_weekly_mean_prev_28d"] == 15.0
    assert finding.inputs["episode_end"] == day(43).isoformat()
    assert "40 min" in finding.message
    assert "15 min" in finding.message
    assert finding.push is False


def test_intensity_spike_respects_the_floor() -> None:
    acts, loads = _intensity_history(4.0, [5.0, 5.0, 5.0])  # 15 min > 1.5 x 4 but < 20
    daily = history.daily_table(acts, loads, start=day(0), end=day(45))
    assert rules.intensity_spike(daily) == []


def test_intensity_spike_needs_hr_in_the_baseline() -> None:
    acts, loads = _intensity_history(0.0, [30.0, 30.0])
    no_hr = {k: (ActivityLoad(load=50, method="pace") if k < 100 else v) for k, v in loads.items()}
    daily = history.daily_table(acts, no_hr, start=day(0), end=day(41))
    assert rules.intensity_spike(daily) == []
    with_hr = history.daily_table(acts, loads, start=day(0), end=day(41))
    assert len(rules.intensity_spike(with_hr)) == 1  # 0 min/week before: any 30+ min is a jump


# -- weekly_progression -------------------------------------------------------------------------


def _weeks_of(km_per_week: list[float]) -> list[ActivitySummary]:
    return [run(i + 1, day(7 * i + 1), km) for i, km in enumerate(km_per_week)]


def test_weekly_progression_threshold_is_exclusive() -> None:
    result = analyse(_weeks_of([20.0, 26.0, 40.0]), as_of=day(20))
    found = of(result.findings, "weekly_progression")
    assert [f.subject for f in found] == [f"week:{day(14).isoformat()}"]  # 26/20 = 1.30: none
    assert found[0].inputs["ratio"] == pytest.approx(40 / 26, abs=1e-4)
    assert found[0].push is False
    assert "so far" in found[0].message  # the current week


def test_weekly_progression_skips_a_zero_or_partial_previous_week() -> None:
    acts = [run(1, day(3), 5.0), run(2, day(8), 20.0), run(3, day(22), 20.0)]
    result = analyse(acts, as_of=day(27))  # history starts on a Thursday: week 1 is partial
    assert of(result.findings, "weekly_progression") == []


# -- monotony -----------------------------------------------------------------------------------


def test_monotony_episode_is_reported_once() -> None:
    acts = [run(i + 1, day(i), 8.0) for i in range(10)]
    loads = {i + 1: ActivityLoad(load=50.0, method="pace") for i in range(10)}
    result = analyse(acts, loads=loads, as_of=day(11))
    (finding,) = of(result.findings, "monotony")
    assert finding.local_date == day(6)  # first full 7-day window
    assert finding.inputs["monotony"] == 10.0
    # day 10: [50]*6 + [0] -> mean 42.857, SD 17.496, monotony 2.449 (> 2); day 11: 1.58
    assert finding.inputs["episode_end"] == day(10).isoformat()


# -- missing_strength ---------------------------------------------------------------------------


def test_missing_strength_weeks_and_current_nudge() -> None:
    acts = [
        run(1, day(0), 5.0),
        run(2, day(1), None, sport="WeightTraining"),
        run(3, day(3), None, sport="Yoga"),  # week 1: 2 sessions, meets the goal
        run(4, day(8), None, sport="generic", is_strength=True),  # week 2: 1 session
    ]
    result = analyse(acts, as_of=day(16))  # Wednesday of week 3: none so far
    found = {f.subject: f for f in of(result.findings, "missing_strength")}
    assert set(found) == {f"week:{day(7).isoformat()}", f"week:{day(14).isoformat()}"}
    past = found[f"week:{day(7).isoformat()}"]
    assert past.inputs["sessions"] == 1
    assert past.inputs["goal"] == 2
    assert past.inputs["nudge"] is False
    current = found[f"week:{day(14).isoformat()}"]
    assert current.inputs == {
        "sessions": 0,
        "goal": 2,
        "current_week": True,
        "days_left": 4,
        "nudge": True,
    }
    assert all(e in LIBRARY for e in current.exercises)
    assert current.push is False


def test_strength_logs_count_and_goal_zero_disables() -> None:
    logs = [
        StrengthLog(local_date=day(15), minutes=10),
        StrengthLog(local_date=day(16), minutes=12),
    ]
    result = analyse([run(1, day(14), 5.0)], strength_logs=logs, as_of=day(16))
    assert of(result.findings, "missing_strength") == []
    lazy = AthleteProfile(strength_goal_per_week=0)
    assert (
        of(analyse([run(1, day(14))], as_of=day(16), profile=lazy).findings, "missing_strength")
        == []
    )


# -- hard_surface_share -------------------------------------------------------------------------


def _surface(hard: float, confidence: float = 1.0) -> SurfaceBreakdown:
    return SurfaceBreakdown(
        hard_m=hard * 10000,
        soft_m=(1 - hard) * 10000,
        confidence=confidence,
        method=SurfaceMethod.MAP,
    )


def test_hard_surface_needs_three_covered_weeks() -> None:
    acts = [run(i + 1, day(7 * i + 2), surface=_surface(0.9)) for i in range(4)]
    result = analyse(acts, as_of=day(27))
    found = of(result.findings, "hard_surface_share")
    assert [f.subject for f in found] == [
        f"week:{day(14).isoformat()}",
        f"week:{day(21).isoformat()}",
    ]
    assert found[0].inputs["weeks_in_a_row"] == 3
    assert "%" in found[0].message
    # a low-confidence middle week (coverage 50 % < 60 %) breaks the streak
    acts[1] = run(2, day(9), surface=_surface(0.9, confidence=0.5))
    assert of(analyse(acts, as_of=day(27)).findings, "hard_surface_share") == []


def test_hard_surface_share_at_threshold_is_not_enough() -> None:
    acts = [run(i + 1, day(7 * i + 2), surface=_surface(0.85)) for i in range(3)]
    assert of(analyse(acts, as_of=day(20)).findings, "hard_surface_share") == []


# -- no_rest_day --------------------------------------------------------------------------------


@pytest.mark.parametrize(("days_in_a_row", "expected"), [(6, 0), (7, 1), (9, 1)])
def test_no_rest_day_streaks(days_in_a_row: int, expected: int) -> None:
    acts = [run(i + 1, day(i + 2), 5.0) for i in range(days_in_a_row)]
    found = of(analyse(acts, as_of=day(20)).findings, "no_rest_day")
    assert len(found) == expected
    if found:
        assert found[0].local_date == day(8)
        assert found[0].inputs["streak_days"] == days_in_a_row


# -- shoe_mileage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gear_km", "run_day", "fires"),
    [(701.0, 20, True), (700.0, 20, False), (None, 20, False), (900.0, 0, False)],
)
def test_shoe_mileage(gear_km: float | None, run_day: int, fires: bool) -> None:
    found = rules.shoe_mileage([run(1, day(run_day), gear_km=gear_km)], as_of=day(35))
    assert bool(found) is fires
    if found:
        assert "km" in found[0].message
        assert found[0].push is False


# -- persistent_pain ----------------------------------------------------------------------------


def _pain(n: int, score: int, area: str = "upper_back") -> PainLog:
    return PainLog(local_date=day(n), area=area, score=score)  # type: ignore[arg-type]


def test_persistent_pain_three_occasions_in_14_days() -> None:
    logs = [_pain(0, 3), _pain(5, 4), _pain(13, 3), _pain(13, 2)]
    (finding,) = rules.persistent_pain(logs, as_of=day(20))
    assert finding.subject == "area:upper_back"
    assert finding.local_date == day(13)
    assert finding.push is True
    assert "physiotherapist" in finding.message
    assert "physiotherapist" in finding.action
    assert "does not diagnose" in finding.message


def test_persistent_pain_outside_window_or_other_area() -> None:
    spread = [_pain(0, 5), _pain(7, 5), _pain(14, 5)]  # 15 days: only 2 in any 14-day window
    assert rules.persistent_pain(spread, as_of=day(20)) == []
    mixed = [_pain(0, 5), _pain(2, 5, "knee"), _pain(4, 5)]
    assert rules.persistent_pain(mixed, as_of=day(20)) == []


def test_persistent_pain_rising() -> None:
    (finding,) = rules.persistent_pain([_pain(0, 1), _pain(2, 2), _pain(4, 3)], as_of=day(5))
    assert finding.inputs["rising"] is True
    assert rules.persistent_pain([_pain(0, 1), _pain(2, 2)], as_of=day(5)) == []
    assert rules.persistent_pain([_pain(0, 0), _pain(2, 1), _pain(4, 2)], as_of=day(5)) == []


# -- ACWR context -------------------------------------------------------------------------------


def test_acwr_is_context_only() -> None:
    acts = [run(i + 1, day(i * 2), 8.0) for i in range(20)]
    loads = {i + 1: ActivityLoad(load=60.0, method="pace") for i in range(20)}
    (finding,) = of(analyse(acts, loads=loads, as_of=day(40)).findings, "acwr")
    assert finding.push is False
    assert finding.severity == "info"
    assert finding.inputs["acwr_ewma"] is not None
    (early,) = of(analyse(acts[:3], loads=loads, as_of=day(5)).findings, "acwr")
    assert early.inputs == {"acwr_ewma": None, "acwr_uncoupled": None}


# -- analyse ------------------------------------------------------------------------------------


def _rich_history() -> tuple[list[ActivitySummary], dict[int, ActivityLoad], list[PainLog]]:
    acts = [run(i + 1, day(i), 8.0, surface=_surface(0.95), gear_km=750.0) for i in range(9)]
    acts.append(run(50, day(12), 20.0))
    acts.append(run(51, day(60), 5.0, gear_km=750.0))
    loads = {a.id: ActivityLoad(load=55.0, method="pace") for a in acts}
    pains = [_pain(50, 4), _pain(52, 4), _pain(55, 5)]
    return acts, loads, pains


def test_analyse_covers_the_whole_history() -> None:
    acts, loads, pains = _rich_history()
    result = analyse(acts, loads=loads, pain_logs=pains, as_of=day(61))
    rule_ids = {f.rule_id for f in result.findings}
    assert {
        "single_run_spike",
        "run_ceiling",
        "monotony",
        "missing_strength",
        "no_rest_day",
        "shoe_mileage",
        "persistent_pain",
        "acwr",
    } <= rule_ids
    spikes = {f.subject: f.inputs["band"] for f in of(result.findings, "single_run_spike")}
    assert spikes == {"activity:50": "large", "activity:51": "return_after_break"}
    assert result.daily.index[0].date() == day(0)
    assert result.daily.index[-1].date() == day(61)
    assert result.ceiling.ceiling_km == pytest.approx(5.5)
    for f in result.findings:
        assert f.message
        assert f.action
        assert f.citation
        assert f.evidence_grade == rules.CITATIONS[f.rule_id][0]
        assert all(e in LIBRARY for e in f.exercises)
        if f.push:
            assert f.rule_id in {"single_run_spike", "persistent_pain"}
    keys = [(f.rule_id, f.subject) for f in result.findings]
    assert len(keys) == len(set(keys))
    assert result.findings == sorted(
        result.findings, key=lambda f: (f.local_date, f.rule_id, f.subject)
    )


def test_analyse_ignores_the_future() -> None:
    acts, loads, pains = _rich_history()
    result = analyse(acts, loads=loads, pain_logs=pains, as_of=day(20))
    assert all(f.local_date <= day(20) for f in result.findings)
    assert of(result.findings, "persistent_pain") == []


def test_config_thresholds_are_used() -> None:
    acts = [run(1, day(0), 10.0), run(2, day(3), 10.8)]
    assert rules.single_run_spike(acts, as_of=day(3)) == []
    strict = dataclasses.replace(rules.DEFAULT_CONFIG, spike_small=1.05)
    (finding,) = rules.single_run_spike(acts, as_of=day(3), config=strict)
    assert finding.thresholds["small_above"] == 1.05
    with pytest.raises(ValueError, match="bands"):
        rules.RuleConfig(spike_small=1.5, spike_moderate=1.3)


_day_offsets = st.lists(
    st.tuples(st.integers(0, 70), st.floats(1.0, 30.0)), min_size=1, max_size=25
)


@settings(max_examples=20, deadline=None)
@given(
    runs=_day_offsets,
    pain_days=st.lists(st.integers(0, 70), max_size=6),
    rule_id=st.sampled_from(rules.RULE_IDS),
)
def test_analyse_is_idempotent_and_muting_removes_exactly_that_rule(
    runs: list[tuple[int, float]], pain_days: list[int], rule_id: str
) -> None:
    acts = [run(i + 1, day(d), km, gear_km=800.0) for i, (d, km) in enumerate(runs)]
    loads = {a.id: ActivityLoad(load=10.0 * a.id % 90, method="pace") for a in acts}
    pains = [_pain(d, 4) for d in pain_days]
    first = analyse(acts, loads=loads, pain_logs=pains, as_of=day(71))
    second = analyse(acts, loads=loads, pain_logs=pains, as_of=day(71))
    keys = [(f.rule_id, f.local_date, f.subject) for f in first.findings]
    assert keys == [(f.rule_id, f.local_date, f.subject) for f in second.findings]
    assert len({(f.rule_id, f.subject) for f in first.findings}) == len(keys)
    muted = AthleteProfile(muted_rules=frozenset({rule_id}))
    quiet = analyse(acts, loads=loads, pain_logs=pains, as_of=day(71), profile=muted)
    assert quiet.findings == [f for f in first.findings if f.rule_id != rule_id]
