"""A synthetic but realistic 16-week training history, written as real FIT files.

`strideguard demo` needs an athlete whose history exercises every analysis rule
(EVIDENCE.md section 2) through the normal import path, so the files are genuine Garmin-style
activity files built with fit-tool's `FitFileBuilder` and profile messages, never hand-made
bytes. `plan_history` decides what happens on which day (and tags why it was planted);
`write_history` renders each plan into per-record samples and writes one file per activity.

Everything is deterministic for a given ``end``/``seed``/``tz``: the same call writes the same
bytes, so tests and screenshots are reproducible.
"""

from __future__ import annotations

import gzip
import itertools
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from fit_tool import FitFileBuilder
from fit_tool.data_message import DataMessage
from fit_tool.profile.messages import record_message as rec
from fit_tool.profile.messages.activity_message import ActivityMessage
from fit_tool.profile.messages.common_fields import TimestampField
from fit_tool.profile.messages.device_info_message import DeviceInfoMessage
from fit_tool.profile.messages.event_message import EventMessage
from fit_tool.profile.messages.file_creator_message import FileCreatorMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.lap_message import LapMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.messages.session_message import SessionMessage
from fit_tool.profile.messages.set_message import SetMessage
from fit_tool.profile.messages.sport_message import SportMessage
from fit_tool.profile.profile_type import (
    Activity,
    Event,
    EventType,
    ExerciseCategory,
    FileType,
    FitBaseUnit,
    GarminProduct,
    Intensity,
    LapTrigger,
    Manufacturer,
    SessionTrigger,
    SetType,
    Sport,
    SubSport,
)

__all__ = [
    "HOME",
    "HR_MAX",
    "HR_REST",
    "RECORD_INTERVAL_S",
    "PlannedActivity",
    "Segment",
    "StrengthSet",
    "plan_history",
    "write_demo_map",
    "write_history",
]

#: Garmin smart recording writes a record every 1-10 s; 5 s keeps the demo fast (fit-tool is
#: pure Python) while leaving HR-zone minutes and distances realistic.
RECORD_INTERVAL_S = 5
#: The demo athlete's physiology; intensity targets below are chosen against these.
HR_MAX = 190
HR_REST = 50
#: Easy running stays below zone 4 (80 % of HR_MAX = 152) even when HR_max is instead
#: estimated from the data (highest value ~184 -> zone 4 from ~147).
EASY_HR_CEILING = 146
#: Home (Copenhagen), the trail area (Jaegersborg Dyrehave) and the club track (Oesterbro).
HOME = (55.6800, 12.5700)
TRAIL_START = (55.7905, 12.5660)
TRACK_CENTER = (55.7030, 12.5720)
DEVICE_SERIAL = 3_391_205_417
DEVICE_PRODUCT = GarminProduct.FR965
SOFTWARE_VERSION = 21.19
MIN_WEEKS = 12
SPIKE_RATIO = 1.45
"""Planted single-run spike vs the longest run of the previous 30 days: moderate, (1.30, 2.00]."""
CAP_RATIO = 1.08
"""Every other run stays within this ratio of its 30-day longest run, so the spike is unique."""

_FIT_EPOCH_UNIX_S = 631_065_600
_METERS_PER_DEG_LAT = 111_320.0
_WEIGHT_KG = 72.0
_LOCAL_RECORD = 1
_LOCAL_LAP = 2
_LOCAL_SET = 3


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A steady part of a run (warm-up, rep, recovery...): how long, how fast, how hard."""

    kind: str
    duration_s: int
    speed_mps: float
    hr_target: int
    cadence_spm: int
    """Running cadence as FIT stores it: strides (one foot) per minute."""
    lap: bool = False
    """A manual lap starts with this segment (structured workouts press the lap key)."""


@dataclass(frozen=True, slots=True)
class StrengthSet:
    """One active set of a strength session and the rest that follows it."""

    category: str
    """FIT ``exercise_category`` name, e.g. ``row``, ``plank``."""
    subtype: int
    reps: int | None
    weight_kg: float | None
    duration_s: int
    rest_s: int


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    """What was planted on a day: enough to render the file and to explain why it exists."""

    start: datetime
    """Local start, aware in the athlete's zone."""
    sport: str
    """FIT sport name: ``running`` or ``training``."""
    sub_sport: str
    """FIT sub_sport name: ``generic``, ``street``, ``trail``, ``treadmill``, ``track``,
    ``strength_training``."""
    workout: str
    """easy, long, recovery, trail_long, treadmill, intervals, tempo, track, strength."""
    distance_m: float
    duration_s: int
    purpose: tuple[str, ...]
    """Why it is there: rule ids it exercises (``single_run_spike``...) plus context tags."""
    segments: tuple[Segment, ...] = field(default=(), repr=False)
    sets: tuple[StrengthSet, ...] = field(default=(), repr=False)
    seed: int = field(default=0, repr=False)

    @property
    def is_run(self) -> bool:
        return self.sport == "running"

    @property
    def has_gps(self) -> bool:
        return self.is_run and self.sub_sport != "treadmill"

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(seconds=self.duration_s)

    @property
    def filename(self) -> str:
        """Chronological, human-readable file name (sorting by name sorts by time)."""
        return f"{self.start:%Y-%m-%d-%H%M}-{self.sport}-{self.sub_sport}-{self.workout}.fit"


@dataclass(slots=True)
class _Draft:
    """A run while the plan is still being edited (distances capped, days moved...)."""

    day: date
    workout: str
    km: float
    tags: list[str]
    sub_sport: str = "generic"


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


# Weekly templates, by how many calendar weeks before the week containing `end` (k = 0 is the
# current, partial week). Entries: (weekday, workout, km); structured workouts size themselves.
_Design = tuple[tuple[int, str, float], ...]
_DESIGNS: dict[int, tuple[_Design, tuple[str, ...]]] = {
    0: (((1, "easy", 7.0), (3, "easy", 8.0), (5, "easy", 6.0), (6, "long", 13.0)), ()),
    1: (((1, "easy", 6.0), (3, "easy", 8.0), (5, "easy", 6.0), (6, "long", 13.0)), ()),
    2: (((1, "intervals", 0), (3, "easy", 8.0), (5, "easy", 6.0), (6, "long", 13.0)), ()),
    3: (((1, "easy", 7.0), (2, "easy", 6.0), (3, "easy", 8.0), (6, "long", 12.5)), ()),
    4: (((1, "intervals", 0), (3, "easy", 8.0), (5, "easy", 6.0), (6, "trail_long", 12.0)), ()),
    5: (
        ((1, "easy", 7.0), (3, "easy", 8.0), (5, "easy", 6.0), (6, "long", 12.0)),
        ("weekly_progression", "back_after_cold"),
    ),
    6: (((1, "easy", 7.0), (3, "recovery", 5.0), (6, "easy", 6.0)), ("down_week", "cold")),
    7: (((1, "easy", 7.0), (2, "treadmill", 8.0), (4, "easy", 6.0), (6, "trail_long", 12.0)), ()),
    8: (tuple((d, "easy", 5.5) for d in range(1, 7)), ("monotony",)),
    9: (((1, "track", 0), (3, "easy", 7.0), (5, "easy", 5.5), (6, "trail_long", 11.5)), ()),
    10: (
        (
            (0, "easy", 4.0),
            (1, "easy", 6.0),
            (2, "easy", 4.5),
            (3, "easy", 6.5),
            (4, "recovery", 4.0),
            (5, "easy", 5.0),
            (6, "long", 9.0),
        ),
        ("no_rest_day", "run_streak"),
    ),
    11: (((1, "intervals", 0), (3, "easy", 7.0), (5, "easy", 5.5), (6, "trail_long", 11.0)), ()),
}
_BASE_EVEN: _Design = ((1, "intervals", 0), (3, "easy", 7.0), (6, "trail_long", 11.0))
_BASE_ODD: _Design = ((1, "easy", 6.5), (3, "easy", 7.0), (5, "easy", 5.0), (6, "long", 10.5))
#: Strength sessions per week (k -> count); weeks with 0, 1 and 2 for `missing_strength`.
_STRENGTH = {0: 0, 1: 1, 2: 2, 3: 1, 4: 2, 5: 1, 6: 0, 7: 2, 8: 0, 9: 1, 10: 2, 11: 1}
_STRENGTH_BASE = (2, 0, 1, 2)


def _design(k: int) -> tuple[_Design, tuple[str, ...]]:
    if k in _DESIGNS:
        return _DESIGNS[k]
    return (_BASE_EVEN if k % 2 == 0 else _BASE_ODD), ()


def _strength_count(k: int) -> int:
    return _STRENGTH.get(k, _STRENGTH_BASE[k % len(_STRENGTH_BASE)])


def _pick_surge_days(end: date, spike_day: date) -> tuple[date, date]:
    """Two hard days in the last 7 days (end excluded): weekdays, not back to back, not the day
    after the long run; Tuesday/Thursday preferred, as a club runner would."""
    window = [end - timedelta(days=d) for d in range(6, 0, -1)]
    candidates = [d for d in window if d.weekday() < 5 and abs((d - spike_day).days) > 1]
    best: tuple[int, int, tuple[date, date]] | None = None
    for i, first in enumerate(candidates):
        for second in candidates[i + 1 :]:
            if (second - first).days < 2:
                continue
            preferred = sum(d.weekday() in (1, 3) for d in (first, second))
            key = (preferred, -(end - second).days, (first, second))
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:  # cannot happen for any weekday of `end`; kept as a guard
        raise ValueError(f"no room for two hard sessions before {end}")
    return best[2]


def _start_time(rng: random.Random, draft: _Draft) -> time:
    """Weekday runs before work or after it; weekend runs mid-morning; clubs in the evening."""
    weekend = draft.day.weekday() >= 5
    if draft.workout in ("track", "treadmill"):
        hour, minute = 18, 10
    elif draft.tags and "monotony" in draft.tags:
        hour, minute = 6, 40
    elif weekend:
        hour, minute = (8, 30) if draft.workout.endswith("long") else (9, 15)
    else:
        hour, minute = rng.choice(((6, 20), (6, 40), (7, 0), (17, 35), (18, 5)))
    return time(hour, minute + rng.randrange(0, 10))


def _pace_speed(min_per_km: float) -> float:
    return 1000.0 / (min_per_km * 60.0)


def _steps(seconds: float) -> int:
    """Round a duration to whole recording intervals (records are every 5 s)."""
    return max(1, round(seconds / RECORD_INTERVAL_S)) * RECORD_INTERVAL_S


def _continuous(workout: str, km: float, rng: random.Random, fixed: bool) -> tuple[Segment, ...]:
    if fixed:  # the monotonous week: the same run every day
        pace, hr = 6.0, 138
    elif workout == "long":
        pace, hr = rng.uniform(6.05, 6.3), rng.randrange(134, 139)
    elif workout == "trail_long":
        pace, hr = rng.uniform(6.6, 7.0), rng.randrange(130, 135)
    elif workout == "recovery":
        pace, hr = rng.uniform(6.2, 6.45), rng.randrange(128, 133)
    elif workout == "treadmill":
        pace, hr = rng.uniform(5.7, 5.85), rng.randrange(139, 143)
    else:
        pace, hr = rng.uniform(5.6, 6.15), rng.randrange(134, 141)
    speed = _pace_speed(pace)
    cadence = round(84 + (6.0 - pace) * 4)
    return (Segment("steady", _steps(km * 1000 / speed), speed, hr, cadence),)


def _intervals(reps: int, rng: random.Random) -> tuple[Segment, ...]:
    """Warm-up, reps x 3 min hard (170-182 bpm) with 90 s jogs, cool-down; a lap per part."""
    segs = [Segment("warmup", 720, _pace_speed(rng.uniform(5.9, 6.1)), 134, 84, True)]
    rep_speed = _pace_speed(rng.uniform(4.55, 4.75))
    for i in range(reps):
        hr = 170 + round(12 * i / max(1, reps - 1))
        segs.append(Segment("rep", 180, rep_speed, hr, 91, True))
        if i < reps - 1:
            segs.append(Segment("recovery", 90, _pace_speed(7.0), 128, 80, True))
    segs.append(Segment("cooldown", 480, _pace_speed(rng.uniform(6.1, 6.3)), 126, 83, True))
    return tuple(segs)


def _tempo(rng: random.Random) -> tuple[Segment, ...]:
    return (
        Segment("warmup", 720, _pace_speed(rng.uniform(5.9, 6.1)), 134, 84, True),
        Segment("tempo", 1500, _pace_speed(rng.uniform(5.0, 5.15)), 162, 89, True),
        Segment("cooldown", 480, _pace_speed(rng.uniform(6.1, 6.3)), 126, 83, True),
    )


def _track(rng: random.Random) -> tuple[Segment, ...]:
    """Club night: 2 km warm-up, 6 x 800 m with 400 m jogs, 1.6 km cool-down, on a 400 m oval."""
    segs = [Segment("warmup", _steps(2000 / 2.78), 2000 / _steps(2000 / 2.78), 134, 84, True)]
    rep_s = _steps(800 / _pace_speed(rng.uniform(4.1, 4.25)))
    jog_s = _steps(400 / _pace_speed(6.7))
    for i in range(6):
        segs.append(Segment("rep", rep_s, 800 / rep_s, 172 + 2 * i, 92, True))
        if i < 5:
            segs.append(Segment("recovery", jog_s, 400 / jog_s, 128, 80, True))
    cool_s = _steps(1600 / 2.67)
    segs.append(Segment("cooldown", cool_s, 1600 / cool_s, 126, 83, True))
    return tuple(segs)


_EXERCISES: tuple[tuple[str, int, int | None, float | None, int], ...] = (
    # category, subtype, reps, weight kg, hold seconds when not counted in reps
    ("row", 2, 12, 14.0, 0),  # dumbbell row: midback
    ("squat", 37, 12, 16.0, 0),  # goblet squat
    ("plank", 43, None, None, 45),  # plank
    ("hip_raise", 11, 15, None, 0),  # hip raise / glute bridge
    ("lunge", 21, 10, 8.0, 0),  # dumbbell lunge
    ("shoulder_stability", 10, 12, 2.0, 0),  # floor Y raise: shoulder blades, upper back
    ("plank", 66, None, None, 30),  # side plank
)


def _strength_sets(rng: random.Random) -> tuple[StrengthSet, ...]:
    """A 20-30 min runner's routine (rows, planks, hips...) as the physio article suggests."""
    chosen = sorted(rng.sample(range(len(_EXERCISES)), 5))
    sets: list[StrengthSet] = []
    total = 0
    for idx in chosen:
        category, subtype, reps, weight, hold = _EXERCISES[idx]
        for _ in range(3):
            active = _steps(hold if reps is None else reps * rng.uniform(2.6, 3.2))
            rest = _steps(rng.uniform(70, 95))
            if total + active > 29 * 60:
                break
            sets.append(StrengthSet(category, subtype, reps, weight, active, rest))
            total += active + rest
    last = sets[-1]
    sets[-1] = replace(last, rest_s=0)
    return tuple(sets)


def _distance(segments: Sequence[Segment]) -> float:
    return round(sum(s.speed_mps * s.duration_s for s in segments), 1)


def plan_history(
    *, end: date, tz: ZoneInfo, weeks: int = 16, seed: int = 7
) -> list[PlannedActivity]:
    """Plan a recreational runner's last ``weeks`` weeks up to ``end`` (a rest day, so no file
    starts in the future when ``end`` is today), with every rule's trigger planted and tagged.

    The history starts on the Monday on or before ``end - (7 * weeks - 1)`` days, so it always
    covers whole Monday-Sunday weeks plus the current one.
    """
    if weeks < MIN_WEEKS:
        raise ValueError(f"the demo history needs at least {MIN_WEEKS} weeks, got {weeks}")
    rng = random.Random(seed)
    first_monday = _monday(end - timedelta(days=7 * weeks - 1))
    last_monday = _monday(end)
    n_weeks = (last_monday - first_monday).days // 7 + 1

    drafts: list[_Draft] = []
    strength_days: list[tuple[date, int]] = []
    for i in range(n_weeks):
        k = n_weeks - 1 - i
        monday = first_monday + timedelta(days=7 * i)
        design, week_tags = _design(k)
        for weekday, workout, km in design:
            day = monday + timedelta(days=weekday)
            jitter = 1.0 if "monotony" in week_tags else rng.uniform(0.97, 1.03)
            tags = list(week_tags)
            if k <= 3:
                tags.append("hard_surface_share")
            drafts.append(_Draft(day, workout, round(km * jitter, 1), tags))
        count = _strength_count(k)
        for weekday in (0, 3)[:count]:
            strength_days.append((monday + timedelta(days=weekday), count))
    # The streak (k=10) starts on the Sunday before: 8 consecutive days with a run.
    streak_monday = last_monday - timedelta(days=70)
    for d in drafts:
        if d.day == streak_monday - timedelta(days=1):
            d.tags.append("no_rest_day")

    drafts = [d for d in drafts if d.day < end]
    drafts[0].workout, drafts[0].km = "easy", 10.0
    drafts[0].tags.append("history_start")

    # single_run_spike: the Sunday long run of last week, with a rest day before it.
    spike_day = last_monday - timedelta(days=1)
    drafts = [d for d in drafts if d.day != spike_day - timedelta(days=1)]
    spike = next(d for d in drafts if d.day == spike_day)
    spike.workout = "long"
    spike.tags.append("single_run_spike")

    # intensity_spike: two hard sessions in the last 7 days; no other hard work in them.
    surge_days = _pick_surge_days(end, spike_day)
    window_start = end - timedelta(days=6)
    for d in drafts:
        if d.day >= window_start and d.workout == "intervals":
            d.workout, d.km = "easy", 7.0
    for surge_day, workout in zip(surge_days, ("intervals_surge", "tempo"), strict=True):
        existing = next((d for d in drafts if d.day == surge_day), None)
        if existing is None:
            # Keep the week at 3-5 runs: the easy run next to a new hard day makes room.
            drafts = [
                d
                for d in drafts
                if not (
                    abs((d.day - surge_day).days) == 1
                    and d.workout == "easy"
                    and d.day not in surge_days
                )
            ]
            existing = _Draft(surge_day, workout, 0.0, ["hard_surface_share"])
            drafts.append(existing)
        existing.workout = workout
        existing.tags.append("intensity_spike")
    drafts.sort(key=lambda d: d.day)

    # Surfaces: road for the last four weeks; a mix of plain and street runs before.
    for d in drafts:
        if d.workout == "trail_long":
            d.sub_sport = "trail"
        elif d.workout in ("treadmill", "track"):
            d.sub_sport = d.workout
        elif "hard_surface_share" in d.tags:
            d.sub_sport = "street"
        else:
            d.sub_sport = rng.choice(("generic", "street"))

    # Segments, then the 30-day cap that keeps the planted spike the only one.
    planned: list[tuple[_Draft, tuple[Segment, ...], datetime]] = []
    for d in drafts:
        start = datetime.combine(d.day, _start_time(rng, d), tzinfo=tz)
        planned.append((d, _segments_for(d, rng), start))
    history: list[tuple[datetime, float]] = []
    capped: list[tuple[_Draft, tuple[Segment, ...], datetime]] = []
    for d, segs, start in planned:
        prior = [km for t, km in history if start - timedelta(days=30) <= t < start]
        longest = max(prior) if prior else None
        if "single_run_spike" in d.tags:
            if longest is None:
                raise ValueError("no run in the 30 days before the planted spike")
            d.km = round(longest * SPIKE_RATIO, 1)
            segs = _segments_for(d, rng)
        elif longest is not None and _distance(segs) / 1000 > longest * CAP_RATIO:
            if d.workout not in _CONTINUOUS:
                raise ValueError(f"{d.workout} on {d.day} would be an unplanned spike")
            d.km = math.floor(longest * CAP_RATIO * 10) / 10
            segs = _segments_for(d, rng)
        history.append((start, _distance(segs) / 1000))
        capped.append((d, segs, start))

    activities: list[PlannedActivity] = []
    for d, segs, start in capped:
        activities.append(
            PlannedActivity(
                start=start,
                sport="running",
                sub_sport=d.sub_sport,
                workout="intervals" if d.workout == "intervals_surge" else d.workout,
                distance_m=_distance(segs),
                duration_s=sum(s.duration_s for s in segs),
                purpose=_purpose(d),
                segments=segs,
            )
        )
    for day, count in strength_days:
        if not first_monday <= day < end:
            continue
        sets = _strength_sets(rng)
        start = datetime.combine(day, time(20, rng.randrange(0, 15)), tzinfo=tz)
        activities.append(
            PlannedActivity(
                start=start,
                sport="training",
                sub_sport="strength_training",
                workout="strength",
                distance_m=0.0,
                duration_s=sum(s.duration_s + s.rest_s for s in sets),
                purpose=("missing_strength", f"strength_week_{count}"),
                sets=sets,
            )
        )
    activities.sort(key=lambda a: a.start)
    return [replace(a, seed=rng.randrange(1, 2**31)) for a in activities]


_CONTINUOUS = ("easy", "long", "recovery", "trail_long", "treadmill")


def _segments_for(d: _Draft, rng: random.Random) -> tuple[Segment, ...]:
    if d.workout == "intervals":
        return _intervals(5, rng)
    if d.workout == "intervals_surge":
        return _intervals(8, rng)
    if d.workout == "tempo":
        return _tempo(rng)
    if d.workout == "track":
        return _track(rng)
    return _continuous(d.workout, d.km, rng, fixed="monotony" in d.tags)


def _purpose(d: _Draft) -> tuple[str, ...]:
    tags = list(d.tags)
    if d.sub_sport in ("trail", "treadmill", "track"):
        tags.append(f"surface_{d.sub_sport}")
    if d.workout in ("intervals", "intervals_surge", "tempo", "track"):
        tags.append("zone_4_5")
    if not tags:
        tags.append("base")
    return tuple(dict.fromkeys(tags))


# -- rendering --------------------------------------------------------------------------------


class _Route:
    """Where the runner is after ``s`` metres: a smooth closed loop through a start point, or
    the 400 m oval of a track. Altitude is a fixed function of place (same hill, same height)."""

    def __init__(self, kind: str, length_m: float, rng: random.Random) -> None:
        self.kind = kind
        self.length = length_m
        if kind == "track":
            self.origin = TRACK_CENTER
            return
        self.origin = TRAIL_START if kind == "trail" else HOME
        n = 360
        harmonics = [(k, rng.uniform(0.05, 0.14), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4)]
        theta0 = rng.uniform(0, 2 * math.pi)
        direction = rng.choice((1, -1))
        pts: list[tuple[float, float]] = []
        for j in range(n + 1):
            th = theta0 + direction * 2 * math.pi * j / n
            r = 1 + sum(a * math.cos(k * th + ph) for k, a, ph in harmonics)
            pts.append((r * math.cos(th), r * math.sin(th)))
        perimeter = sum(math.dist(pts[j], pts[j + 1]) for j in range(n))
        scale = length_m / perimeter
        x0, y0 = pts[0]
        self.xy = [((x - x0) * scale, (y - y0) * scale) for x, y in pts]
        self.cum = [0.0]
        for j in range(n):
            self.cum.append(self.cum[-1] + math.dist(self.xy[j], self.xy[j + 1]))

    def xy_at(self, s: float) -> tuple[float, float]:
        if self.kind == "track":
            return _oval(s % 400.0)
        s = min(max(s, 0.0), self.cum[-1])
        j = min(bisect_right(self.cum, s) - 1, len(self.cum) - 2)
        span = self.cum[j + 1] - self.cum[j]
        f = (s - self.cum[j]) / span if span else 0.0
        (xa, ya), (xb, yb) = self.xy[j], self.xy[j + 1]
        return xa + f * (xb - xa), ya + f * (yb - ya)

    def altitude(self, x: float, y: float) -> float:
        if self.kind == "track":
            return 7.0
        if self.kind == "trail":
            return (
                38
                + 14 * math.sin(x / 520)
                + 10 * math.cos(y / 410 + 0.7)
                + 4 * math.sin((x - y) / 230)
            )
        return (
            9
            + 4 * math.sin(x / 800 + 1.1)
            + 3 * math.cos(y / 650 - 0.4)
            + 2 * math.sin((x + y) / 400)
        )

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        lat0, lon0 = self.origin
        lat = lat0 + y / _METERS_PER_DEG_LAT
        lon = lon0 + x / (_METERS_PER_DEG_LAT * math.cos(math.radians(lat0)))
        return lat, lon


def _route_for(pa: PlannedActivity, rng: random.Random) -> _Route:
    """The route of a run; the first use of the activity's rng (the map rebuilds it from there)."""
    kind = {"trail": "trail", "track": "track"}.get(pa.sub_sport, "city")
    return _Route(kind, pa.distance_m, rng)


def _oval(s: float) -> tuple[float, float]:
    """Lane 1 of a standard track: two 84.39 m straights and two bends of radius 36.80 m."""
    straight, radius = 84.39, 36.80
    bend = math.pi * radius
    if s < straight:
        return radius, -straight / 2 + s
    s -= straight
    if s < bend:
        a = s / radius
        return radius * math.cos(a), straight / 2 + radius * math.sin(a)
    s -= bend
    if s < straight:
        return -radius, straight / 2 - s
    a = (s - straight) / radius
    return -radius * math.cos(a), -straight / 2 - radius * math.sin(a)


@dataclass(slots=True)
class _Samples:
    """Per-record channels of one activity (index i is t = i * RECORD_INTERVAL_S)."""

    hr: list[int]
    distance: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    cadence: list[int] = field(default_factory=list)
    altitude: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)


def _hr_step(hr: float, target: float, rng: random.Random) -> float:
    """First-order response of heart rate to effort: faster up than down, plus a little noise."""
    tau = 30.0 if target > hr else 45.0
    return hr + (target - hr) * (1 - math.exp(-RECORD_INTERVAL_S / tau)) + rng.gauss(0, 0.6)


def _run_samples(pa: PlannedActivity, rng: random.Random) -> _Samples:
    steps = pa.duration_s // RECORD_INTERVAL_S
    seg_of_step: list[Segment] = []
    for seg in pa.segments:
        seg_of_step.extend([seg] * (seg.duration_s // RECORD_INTERVAL_S))
    route = _route_for(pa, rng)
    route_kind = route.kind
    easy = pa.workout in _CONTINUOUS

    # Speeds: segment speed, smoothed transitions, gentle noise, slower uphill on trails.
    speeds: list[float] = []
    noise, v, s = 0.0, pa.segments[0].speed_mps * 0.8, 0.0
    treadmill = pa.sub_sport == "treadmill"
    for step in range(steps):
        seg = seg_of_step[step]
        noise = 0.7 * noise + rng.gauss(0, 0.004 if treadmill else 0.012)
        factor = 1.0
        if route_kind == "trail":
            xa, ya = route.xy_at(s)
            xb, yb = route.xy_at(s + 10)
            grade = (route.altitude(xb, yb) - route.altitude(xa, ya)) / 10
            factor = min(1.12, max(0.78, 1 - 3.5 * grade))
        v += (seg.speed_mps * factor * (1 + noise) - v) * 0.6
        speeds.append(v)
        s += v * RECORD_INTERVAL_S
    scale = pa.distance_m / s  # land exactly on the planned distance
    speeds = [round(x * scale, 3) for x in speeds]

    out = _Samples(hr=[])
    hr = rng.uniform(88, 98)
    dist = 0.0
    for i in range(steps + 1):
        seg = seg_of_step[min(i, steps - 1)]
        t = i * RECORD_INTERVAL_S
        if i:
            dist += speeds[i - 1] * RECORD_INTERVAL_S
        d = pa.distance_m if i == steps else round(dist, 2)
        target = float(seg.hr_target)
        if seg.kind in ("steady", "tempo"):
            target += min(8.0, 6.0 * t / 3600)  # cardiac drift
        x, y = route.xy_at(d)
        if route_kind == "trail" and i:
            target += 200 * (route.altitude(*route.xy_at(d + 10)) - route.altitude(x, y)) / 10
        hr = _hr_step(hr, target, rng)
        hr_i = round(hr)
        if easy:
            hr_i = min(hr_i, EASY_HR_CEILING)
        out.hr.append(max(80, min(hr_i, 186)))
        out.distance.append(d)
        out.speed.append(speeds[min(i, steps - 1)])
        out.cadence.append(round(seg.cadence_spm + rng.gauss(0, 0.6)))
        if not treadmill:
            gps_noise = 0.0 if route_kind == "track" else 1.2  # metres; the track is a clean oval
            lat, lon = route.latlon(x + rng.gauss(0, gps_noise), y + rng.gauss(0, gps_noise))
            out.lat.append(lat)
            out.lon.append(lon)
            out.altitude.append(round(route.altitude(x, y) * 5) / 5)
    return out


def _strength_samples(pa: PlannedActivity, rng: random.Random) -> _Samples:
    targets: list[float] = []
    for st in pa.sets:
        effort = {"squat": 128, "lunge": 126, "row": 120, "plank": 112}.get(st.category, 116)
        targets.extend([float(effort)] * (st.duration_s // RECORD_INTERVAL_S))
        targets.extend([98.0] * (st.rest_s // RECORD_INTERVAL_S))
    out = _Samples(hr=[])
    hr = rng.uniform(84, 92)
    for i in range(len(targets) + 1):
        hr = _hr_step(hr, targets[min(i, len(targets) - 1)], rng)
        out.hr.append(round(hr))
    return out


def _fit_ms(dt: datetime) -> int:
    """fit-tool takes date_time fields as Unix milliseconds (and converts to the FIT epoch)."""
    return int(dt.timestamp()) * 1000


def _lean_record(field_types: Sequence[Callable[[], Any]]) -> Any:
    """A RecordMessage holding only the fields we write.

    ``RecordMessage()`` instantiates all 84 profile fields; building tens of thousands of them
    made writing the demo ~10x slower (and superlinear, from garbage-collector pressure). This
    is the same profile message class with the same field classes, so the bytes written are
    exactly what ``RecordMessage()`` would produce for these values.
    """
    msg = RecordMessage.__new__(RecordMessage)
    DataMessage.__init__(
        msg,
        name=RecordMessage.NAME,
        global_id=RecordMessage.ID,
        local_id=_LOCAL_RECORD,
        fields=[factory() for factory in field_types],
    )
    return msg


def _record_fields(pa: PlannedActivity) -> list[Callable[[], Any]]:
    if not pa.is_run:
        return [TimestampField, rec.RecordHeartRateField]
    fields: list[Callable[[], Any]] = [TimestampField]
    if pa.has_gps:
        fields += [rec.RecordPositionLatField, rec.RecordPositionLongField]
    fields += [rec.RecordHeartRateField, rec.RecordCadenceField, rec.RecordDistanceField]
    fields.append(rec.RecordEnhancedSpeedField)
    if pa.has_gps:
        fields.append(rec.RecordEnhancedAltitudeField)
    return fields


def _ascent_descent(alts: Sequence[float]) -> tuple[int, int]:
    up = sum(max(0.0, b - a) for a, b in itertools.pairwise(alts))
    down = sum(max(0.0, a - b) for a, b in itertools.pairwise(alts))
    return round(up), round(down)


def _lap_bounds(pa: PlannedActivity, smp: _Samples) -> list[tuple[int, int, LapTrigger, str]]:
    """Record-index ranges of laps: auto-lap every km, or one lap per structured segment."""
    n = len(smp.hr) - 1
    if not pa.is_run:
        return [(0, n, LapTrigger.SESSION_END, "active")]
    if pa.workout in _CONTINUOUS:
        bounds, km = [0], 1
        for i, d in enumerate(smp.distance):
            if d >= km * 1000 and i < n:
                bounds.append(i)
                km += 1
        bounds.append(n)
        laps = []
        for j in range(len(bounds) - 1):
            last = j == len(bounds) - 2
            trig = LapTrigger.SESSION_END if last else LapTrigger.DISTANCE
            laps.append((bounds[j], bounds[j + 1], trig, "active"))
        return laps
    laps, i = [], 0
    for seg in pa.segments:
        j = i + seg.duration_s // RECORD_INTERVAL_S
        laps.append((i, j, LapTrigger.MANUAL, seg.kind))
        i = j
    first, _, _, kind = laps[-1]
    laps[-1] = (first, n, LapTrigger.SESSION_END, kind)
    return laps


_INTENSITY = {
    "warmup": Intensity.WARMUP,
    "cooldown": Intensity.COOLDOWN,
    "recovery": Intensity.RECOVERY,
    "active": Intensity.ACTIVE,
    "rep": Intensity.ACTIVE,
    "tempo": Intensity.ACTIVE,
    "steady": Intensity.ACTIVE,
}
_SUB_SPORT = {
    "generic": SubSport.GENERIC,
    "street": SubSport.STREET,
    "trail": SubSport.TRAIL,
    "treadmill": SubSport.TREADMILL,
    "track": SubSport.TRACK,
    "strength_training": SubSport.STRENGTH_TRAINING,
}
_SPORT_NAME = {
    "generic": "Run",
    "street": "Road Run",
    "trail": "Trail Run",
    "treadmill": "Treadmill",
    "track": "Track Run",
    "strength_training": "Strength",
}


def _summarise(msg: Any, pa: PlannedActivity, smp: _Samples, a: int, b: int) -> None:
    """Fill the totals shared by lap and session from records a..b (inclusive)."""
    start = pa.start_utc + timedelta(seconds=a * RECORD_INTERVAL_S)
    seconds = (b - a) * RECORD_INTERVAL_S
    msg.timestamp = _fit_ms(start + timedelta(seconds=seconds))
    msg.start_time = _fit_ms(start)
    msg.total_elapsed_time = seconds
    msg.total_timer_time = seconds
    msg.sport = Sport.RUNNING if pa.is_run else Sport.TRAINING
    msg.sub_sport = _SUB_SPORT[pa.sub_sport]
    hrs = smp.hr[a + 1 : b + 1] or smp.hr[a : a + 1]
    msg.avg_heart_rate = round(sum(hrs) / len(hrs))
    msg.max_heart_rate = max(hrs)
    if not pa.is_run:
        msg.total_calories = round(seconds / 60 * 6)
        return
    distance = smp.distance[b] - smp.distance[a]
    msg.total_distance = round(distance, 2)
    msg.enhanced_avg_speed = round(distance / seconds, 3) if seconds else 0.0
    msg.enhanced_max_speed = max(smp.speed[a : b + 1])
    cads = smp.cadence[a + 1 : b + 1] or smp.cadence[a : a + 1]
    msg.avg_cadence = round(sum(cads) / len(cads))
    msg.max_cadence = max(cads)
    msg.total_calories = round(distance / 1000 * _WEIGHT_KG)
    if smp.altitude:
        up, down = _ascent_descent(smp.altitude[a : b + 1])
        msg.total_ascent = up
        msg.total_descent = down
    if smp.lat:
        msg.start_position_lat = smp.lat[a]
        msg.start_position_long = smp.lon[a]


def encode_activity(pa: PlannedActivity) -> bytes:
    """Render one planned activity into a complete Garmin-style activity file."""
    rng = random.Random(pa.seed)
    smp = _run_samples(pa, rng) if pa.is_run else _strength_samples(pa, rng)
    start, end = pa.start_utc, pa.end_utc
    builder = FitFileBuilder(auto_define=True)

    file_id = FileIdMessage()
    file_id.type = FileType.ACTIVITY
    file_id.manufacturer = Manufacturer.GARMIN.value
    file_id.product = DEVICE_PRODUCT.value
    file_id.serial_number = DEVICE_SERIAL
    file_id.time_created = _fit_ms(start)
    builder.add(file_id)
    creator = FileCreatorMessage()
    creator.software_version = round(SOFTWARE_VERSION * 100)
    builder.add(creator)
    event = EventMessage()
    event.timestamp = _fit_ms(start)
    event.event = Event.TIMER
    event.event_type = EventType.START
    builder.add(event)
    device = DeviceInfoMessage()
    device.timestamp = _fit_ms(start)
    device.device_index = 0
    device.manufacturer = Manufacturer.GARMIN.value
    device.product = DEVICE_PRODUCT.value
    device.serial_number = DEVICE_SERIAL
    device.software_version = SOFTWARE_VERSION
    builder.add(device)
    sport = SportMessage()
    sport.sport = Sport.RUNNING if pa.is_run else Sport.TRAINING
    sport.sub_sport = _SUB_SPORT[pa.sub_sport]
    sport.sport_name = _SPORT_NAME[pa.sub_sport]
    builder.add(sport)

    laps = _lap_bounds(pa, smp)
    lap_ends = {b: idx for idx, (_, b, _, _) in enumerate(laps)}
    fields = _record_fields(pa)
    t0 = _fit_ms(start)
    for i, hr in enumerate(smp.hr):
        r = _lean_record(fields)
        r.timestamp = t0 + i * RECORD_INTERVAL_S * 1000
        r.heart_rate = hr
        if pa.is_run:
            if smp.lat:
                r.position_lat = smp.lat[i]
                r.position_long = smp.lon[i]
                r.enhanced_altitude = smp.altitude[i]
            r.distance = smp.distance[i]
            r.enhanced_speed = smp.speed[i]
            r.cadence = smp.cadence[i]
        builder.add(r)
        if i in lap_ends:
            idx = lap_ends[i]
            a, b, trigger, kind = laps[idx]
            lap = LapMessage(local_id=_LOCAL_LAP)
            lap.message_index = idx
            lap.event = Event.LAP
            lap.event_type = EventType.STOP
            lap.lap_trigger = trigger
            lap.intensity = _INTENSITY.get(kind, Intensity.ACTIVE)
            _summarise(lap, pa, smp, a, b)
            if smp.lat:
                lap.end_position_lat = smp.lat[b]
                lap.end_position_long = smp.lon[b]
            builder.add(lap)

    if pa.sets:
        t = start
        for idx, st in enumerate(pa.sets):
            active = SetMessage(local_id=_LOCAL_SET)
            active.timestamp = _fit_ms(t + timedelta(seconds=st.duration_s))
            active.start_time = _fit_ms(t)
            active.duration = st.duration_s
            active.set_type = SetType.ACTIVE.value
            active.category = [ExerciseCategory[st.category.upper()].value]
            active.category_subtype = [st.subtype]
            if st.reps is not None:
                active.repetitions = st.reps
            if st.weight_kg is not None:
                active.weight = st.weight_kg
                active.weight_display_unit = FitBaseUnit.KILOGRAM.value
            active.message_index = 2 * idx
            builder.add(active)
            t += timedelta(seconds=st.duration_s)
            if st.rest_s:
                rest = SetMessage(local_id=_LOCAL_SET)
                rest.timestamp = _fit_ms(t + timedelta(seconds=st.rest_s))
                rest.start_time = _fit_ms(t)
                rest.duration = st.rest_s
                rest.set_type = SetType.REST.value
                rest.message_index = 2 * idx + 1
                builder.add(rest)
                t += timedelta(seconds=st.rest_s)

    stop = EventMessage()
    stop.timestamp = _fit_ms(end)
    stop.event = Event.TIMER
    stop.event_type = EventType.STOP_ALL
    builder.add(stop)
    session = SessionMessage()
    session.message_index = 0
    session.event = Event.SESSION
    session.event_type = EventType.STOP
    session.trigger = SessionTrigger.ACTIVITY_END
    session.first_lap_index = 0
    session.num_laps = len(laps)
    _summarise(session, pa, smp, 0, len(smp.hr) - 1)
    session.sport_profile_name = _SPORT_NAME[pa.sub_sport]
    builder.add(session)
    activity = ActivityMessage()
    activity.timestamp = _fit_ms(end)
    activity.total_timer_time = pa.duration_s
    activity.num_sessions = 1
    activity.type = Activity.MANUAL
    activity.event = Event.ACTIVITY
    activity.event_type = EventType.STOP
    # local_date_time is a raw FIT-epoch field in fit-tool (no Unix-ms conversion, unlike
    # date_time): wall-clock seconds = UTC seconds + the zone's offset at that instant.
    offset = end.astimezone(pa.start.tzinfo).utcoffset()
    offset_s = int(offset.total_seconds()) if offset is not None else 0
    activity.local_timestamp = int(end.timestamp()) - _FIT_EPOCH_UNIX_S + offset_s
    builder.add(activity)
    data: bytes = builder.build_bytes()
    return data


def write_history(
    out_dir: Path, *, end: date, tz: ZoneInfo, weeks: int = 16, seed: int = 7
) -> list[Path]:
    """Write the planned history as FIT files in ``out_dir`` (created if missing), one file per
    activity, and return their paths in chronological order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for pa in plan_history(end=end, tz=tz, weeks=weeks, seed=seed):
        path = out_dir / pa.filename
        path.write_bytes(encode_activity(pa))
        paths.append(path)
    return paths


# -- the neighbourhood map --------------------------------------------------------------------

_Tags = tuple[tuple[str, str], ...]
#: Streets of the road loops, drawn per stretch of `_CITY_PIECE_M` (weight, tags): all paved.
_CITY_WAYS: tuple[tuple[float, _Tags], ...] = (
    (0.55, (("highway", "residential"), ("surface", "asphalt"))),
    (0.15, (("highway", "tertiary"),)),  # a through road: paved, though the tags do not say so
    (0.18, (("highway", "footway"), ("surface", "paving_stones"))),
    (0.12, (("highway", "cycleway"), ("foot", "designated"), ("surface", "asphalt"))),
)
#: A park on some road loops: a gravel path, then a shortcut across the lawn nobody mapped.
_PARK_PATH: _Tags = (("highway", "footway"), ("surface", "fine_gravel"))
#: Forest paths of the trail loops (weight, tags), plus one gravel forest road per loop and,
#: sometimes, a path whose surface nobody tagged.
_TRAIL_WAYS: tuple[tuple[float, _Tags], ...] = (
    (0.45, (("highway", "path"), ("surface", "dirt"))),
    (0.35, (("highway", "path"), ("surface", "ground"))),
    (0.20, (("highway", "path"), ("surface", "grass"))),
)
_FOREST_ROAD: _Tags = (("highway", "track"), ("tracktype", "grade3"), ("surface", "gravel"))
_UNTAGGED_PATH: _Tags = (("highway", "path"),)
_ATHLETICS_TRACK: _Tags = (("leisure", "track"), ("sport", "athletics"), ("surface", "tartan"))
_CITY_PIECE_M = (300.0, 900.0)
_TRAIL_PIECE_M = (500.0, 1400.0)
_MAP_TOLERANCE_M = 3.0
"""Ways keep a node wherever the route bends more than this (Douglas-Peucker), as OSM does."""
_MAP_MAX_NODE_GAP_M = 150.0


class _OsmWriter:
    """Nodes (deduplicated by rounded position, so stretches and loops share them) and ways."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], int] = {}
        self.ways: list[tuple[list[int], _Tags]] = []

    def add_way(self, points: Sequence[tuple[float, float]], tags: _Tags) -> None:
        refs: list[int] = []
        for lat, lon in points:
            key = (f"{lat:.7f}", f"{lon:.7f}")
            ref = self.nodes.setdefault(key, len(self.nodes) + 1)
            if not refs or refs[-1] != ref:
                refs.append(ref)
        if len(refs) >= 2:
            self.ways.append((refs, tags))

    def xml(self) -> str:
        lats = [float(lat) for lat, _ in self.nodes]
        lons = [float(lon) for _, lon in self.nodes]
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<osm version="0.6" generator="strideguard demo">',
            f' <bounds minlat="{min(lats):.7f}" minlon="{min(lons):.7f}"'
            f' maxlat="{max(lats):.7f}" maxlon="{max(lons):.7f}"/>',
        ]
        lines.extend(f' <node id="{i}" lat="{a}" lon="{b}"/>' for (a, b), i in self.nodes.items())
        for way_id, (refs, tags) in enumerate(self.ways, start=1):
            lines.append(f' <way id="{way_id}">')
            lines.extend(f'  <nd ref="{ref}"/>' for ref in refs)
            lines.extend(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags)
            lines.append(" </way>")
        lines.append("</osm>")
        return "\n".join(lines) + "\n"


def _simplify(points: Sequence[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker: the fewest points that stay within `tolerance` metres of the polyline."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = points[a], points[b]
        dx, dy = bx - ax, by - ay
        norm = math.hypot(dx, dy)
        worst, worst_i = 0.0, -1
        for i in range(a + 1, b):
            px, py = points[i]
            if norm:
                d = abs(dx * (py - ay) - dy * (px - ax)) / norm
            else:
                d = math.hypot(px - ax, py - ay)
            if d > worst:
                worst, worst_i = d, i
        if worst > tolerance:
            keep[worst_i] = True
            stack += [(a, worst_i), (worst_i, b)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _densify(points: Sequence[tuple[float, float]], max_gap: float) -> list[tuple[float, float]]:
    out = [points[0]]
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        n = max(1, math.ceil(math.hypot(bx - ax, by - ay) / max_gap))
        out.extend((ax + (bx - ax) * i / n, ay + (by - ay) * i / n) for i in range(1, n + 1))
    return out


def _route_stretch(route: _Route, s0: float, s1: float) -> list[tuple[float, float]]:
    """The route between `s0` and `s1` metres as a simplified polyline of (lat, lon)."""
    inner = route.xy[bisect_right(route.cum, s0) : bisect_left(route.cum, s1)]
    xy = _simplify([route.xy_at(s0), *inner, route.xy_at(s1)], _MAP_TOLERANCE_M)
    return [route.latlon(x, y) for x, y in _densify(xy, _MAP_MAX_NODE_GAP_M)]


def _loop_stretches(route: _Route, rng: random.Random) -> list[tuple[float, float, _Tags | None]]:
    """Cut a loop into stretches of street or path, each with its tags (None: not mapped)."""
    trail = route.kind == "trail"
    low, high = _TRAIL_PIECE_M if trail else _CITY_PIECE_M
    weights, choices = zip(*(_TRAIL_WAYS if trail else _CITY_WAYS), strict=True)
    special: list[tuple[float, _Tags | None]] = []
    if trail:
        special.append((rng.uniform(600, 1500), _FOREST_ROAD))
        if rng.random() < 0.5:
            special.append((rng.uniform(150, 400), _UNTAGGED_PATH))
    elif rng.random() < 0.7:
        special += [(rng.uniform(150, 300), _PARK_PATH), (rng.uniform(120, 250), None)]
    special_at = rng.uniform(0.3, 0.6) * route.length
    out: list[tuple[float, float, _Tags | None]] = []
    s = 0.0
    while s < route.length:
        if special and s >= special_at:
            for length, tags in special:
                end = min(s + length, route.length)
                out.append((s, end, tags))
                s = end
            special = []
            continue
        end = s + rng.uniform(low, high)
        if route.length - end < low / 2:
            end = route.length
        out.append((s, end, rng.choices(choices, weights)[0]))
        s = end
    return [(a, b, tags) for a, b, tags in out if b > a]


def write_demo_map(path: Path, *, end: date, tz: ZoneInfo, weeks: int = 16, seed: int = 7) -> Path:
    """Write an OSM XML extract of the demo athlete's neighbourhood and return its path.

    The ways follow the routes of the GPS runs `plan_history` plans for the same arguments
    (rebuilt with the same route code and rng as `encode_activity`, so tracks and map agree):
    road loops as streets, footways and cycle paths (paved; some pass a park with a gravel
    path and an unmapped shortcut), trail loops as dirt/ground/grass paths with a gravel forest
    road, and the club's athletics track. A ``.gz`` path is written gzip-compressed.
    Deterministic: the same arguments write the same bytes.
    """
    writer = _OsmWriter()
    track_done = False
    for pa in plan_history(end=end, tz=tz, weeks=weeks, seed=seed):
        if not pa.has_gps:
            continue
        route = _route_for(pa, random.Random(pa.seed))
        if route.kind == "track":
            if not track_done:
                oval = _simplify([_oval(i * 2.0) for i in range(201)], 0.3)
                writer.add_way([route.latlon(x, y) for x, y in oval], _ATHLETICS_TRACK)
                track_done = True
            continue
        rng = random.Random(pa.seed * 7919 + seed)
        for s0, s1, tags in _loop_stretches(route, rng):
            if tags is not None:
                writer.add_way(_route_stretch(route, s0, s1), tags)
    data = writer.xml().encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
