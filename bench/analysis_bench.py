"""Analysis benchmark: stored per-activity metrics -> findings, for many athletes on one core.

Generates N synthetic athletes (seeded, deterministic) with a year of history each, about 250
activities per athlete: runs of varied distance (easy, long, tempo, the odd spike and break),
HR histograms on most runs, avg-HR-only and RPE-only sessions, strength sessions, surface
breakdowns, shoe mileage, and a few strength and pain logs. Everything is generated before the
clock starts. Then, per athlete, the analysis `strideguard.analysis_service.analyse_athlete`
runs between reading the rows and storing the findings (its plausibility screen aside):
`resolve_hr_basis`, the threshold-speed estimate, `activity_load` for every activity and
`rules.analyse`, one athlete after another in
this single-threaded process (`--pin` also pins it to one CPU). Wall and CPU seconds are both
printed: on a shared machine the wall clock includes waiting for the core.

    uv run python -m bench.analysis_bench                     # 250, 500 and 1,000 athletes
    uv run python -m bench.analysis_bench --sizes 50          # a quick look
    uv run python -m bench.analysis_bench --digest 40         # fingerprint of the results only

The fingerprint of the first 40 athletes is unchanged by the optimisation of history, load and
rules (3f8b2e3d...; compare it before and after any change meant to keep results).

HR histograms are drawn from a small per-athlete pool (the closest duration wins) so that 1,000
athletes fit in memory; the analysis never relies on two activities sharing one.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analysis.history import is_run
from analysis.load import activity_load, estimate_threshold_speed, resolve_hr_basis
from analysis.model import (
    ActivityDerived,
    ActivitySummary,
    AthleteProfile,
    PainArea,
    PainLog,
    Sex,
    StrengthLog,
    SurfaceBreakdown,
    SurfaceMethod,
)
from analysis.rules import Analysis, analyse

AS_OF = date(2026, 6, 30)
DAYS = 365
#: As `strideguard.analysis_service.HR_MAX_LOOKBACK` (not imported: it pulls in the database).
HR_MAX_LOOKBACK = timedelta(days=180)
TARGET_S = 10.0
TIME_ZONES = ("Europe/Copenhagen", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney")
PAIN_AREAS: tuple[PainArea, ...] = ("upper_back", "neck", "lower_back", "knee", "shin")


@dataclass(frozen=True, slots=True)
class Athlete:
    profile: AthleteProfile
    activities: list[ActivitySummary]
    strength_logs: list[StrengthLog]
    pain_logs: list[PainLog]
    as_of: date


# -- generation ---------------------------------------------------------------------------------


def _histogram(
    rng: random.Random, minutes: float, centre: float, spread: float
) -> dict[int, float]:
    """Seconds per integer bpm for a session of `minutes`, roughly normal around `centre`."""
    hist: dict[int, float] = {}
    total = minutes * 60.0
    samples = max(int(total / 30.0), 20)  # one 30 s chunk per draw
    for _ in range(samples):
        bpm = min(max(round(rng.gauss(centre, spread)), 60), 215)
        hist[bpm] = hist.get(bpm, 0.0) + total / samples
    return hist


def _surface(rng: random.Random, metres: float, sub_sport: str | None) -> SurfaceBreakdown | None:
    if sub_sport == "treadmill":
        return SurfaceBreakdown(treadmill_m=metres, confidence=1.0, method=SurfaceMethod.INDOOR)
    roll = rng.random()
    if roll < 0.25:
        return None
    if roll < 0.55:  # a prior: mostly hard for a road run, mostly soft on a trail
        hard_part = 0.2 if sub_sport == "trail" else 0.8
        return SurfaceBreakdown(
            hard_m=metres * hard_part,
            soft_m=metres * (1 - hard_part) * 0.5,
            unknown_m=metres * (1 - hard_part) * 0.5,
            confidence=0.3,
            method=SurfaceMethod.PRIOR,
        )
    hard = rng.uniform(0.5, 1.0) if sub_sport != "trail" else rng.uniform(0.0, 0.3)
    unknown = rng.uniform(0.0, 0.2)
    rest = max(1.0 - hard - unknown, 0.0)
    return SurfaceBreakdown(
        hard_m=metres * hard,
        moderate_m=metres * rest * 0.5,
        soft_m=metres * rest * 0.5,
        unknown_m=metres * (1.0 - hard - rest),
        confidence=rng.uniform(0.6, 0.95),
        method=SurfaceMethod.MAP,
    )


def make_athlete(seed: int, *, as_of: date = AS_OF) -> Athlete:
    """One athlete's year of history; the same seed always gives the same athlete."""
    rng = random.Random(seed)
    tz = ZoneInfo(rng.choice(TIME_ZONES))
    sex = rng.choice(list(Sex))
    true_max = rng.uniform(172, 200)
    true_rest = rng.uniform(42, 62)
    floors = (52.0, 62.0, 72.0, 82.0, 91.0) if rng.random() < 0.15 else None
    profile = AthleteProfile(
        sex=sex,
        hr_max=round(true_max) if rng.random() < 0.4 else None,
        hr_rest=round(true_rest) if rng.random() < 0.5 else None,
        zone_floors_pct=floors,
        time_zone=str(tz),
        strength_goal_per_week=rng.choice((1, 2, 2, 3)),
        units="mi" if rng.random() < 0.2 else "km",
        muted_rules=frozenset({"monotony"}) if rng.random() < 0.1 else frozenset(),
        threshold_speed_mps=rng.uniform(3.2, 4.6) if rng.random() < 0.3 else None,
    )
    # A small pool of histograms per athlete: (minutes, histogram), easy and hard flavours.
    pool: list[tuple[float, bool, dict[int, float]]] = []
    for pool_minutes in (20, 30, 40, 50, 60, 75, 90, 120, 150, 180):
        easy_centre = true_rest + 0.65 * (true_max - true_rest)
        hard_centre = true_rest + 0.85 * (true_max - true_rest)
        pool.append((pool_minutes, False, _histogram(rng, pool_minutes, easy_centre, 7.0)))
        pool.append((pool_minutes, True, _histogram(rng, pool_minutes, hard_centre, 9.0)))

    def pick(minutes: float, hard: bool) -> dict[int, float]:
        return min((p for p in pool if p[1] == hard), key=lambda p: abs(p[0] - minutes))[2]

    speed = rng.uniform(2.6, 3.6)  # easy speed, m/s
    base_km = rng.uniform(5.0, 10.0)
    runs_per_week = rng.choice((3, 3, 4, 5))
    gear = rng.uniform(100, 600)
    first = as_of - timedelta(days=DAYS - 1)
    break_start = rng.randrange(60, DAYS - 60) if rng.random() < 0.3 else -1
    acts: list[ActivitySummary] = []
    next_id = seed * 1000 + 1

    def add(day: date, hour: float, **kw: object) -> None:
        nonlocal next_id
        local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=hour)
        acts.append(
            ActivitySummary(id=next_id, local_date=day, start=local.astimezone(UTC), **kw)  # type: ignore[arg-type]
        )
        next_id += 1

    for d in range(DAYS):
        day = first + timedelta(days=d)
        if 0 <= d - break_start < rng.randint(32, 40):
            continue  # a break: the first run after it is a "return" notice
        weekday = day.weekday()
        build = 1.0 + 0.3 * math.sin(d / 40.0)
        if rng.random() < runs_per_week / 7.0 or weekday == 6:
            long_run = weekday == 6
            tempo = not long_run and rng.random() < 0.2
            km = base_km * build * (rng.uniform(1.8, 2.8) if long_run else rng.uniform(0.6, 1.3))
            if rng.random() < 0.02:
                km *= rng.uniform(1.5, 2.5)  # the odd spike
            v = speed * (1.18 if tempo else 1.0) * rng.uniform(0.93, 1.07)
            moving = km * 1000.0 / v
            sport, sub = rng.choice(
                (
                    ("running", "street"),
                    ("running", "street"),
                    ("running", None),
                    ("running", "trail"),
                    ("running", "treadmill"),
                    ("Run", None),
                    ("TrailRun", None),
                )
            )
            hard = tempo or (long_run and rng.random() < 0.3)
            hr_kind = rng.random()
            hist = pick(moving / 60.0, hard) if hr_kind < 0.65 else {}
            avg_hr = (
                true_rest + (0.85 if hard else 0.66) * (true_max - true_rest)
                if hr_kind < 0.85
                else None
            )
            max_hr = (
                min(avg_hr + rng.uniform(8, 20), true_max + rng.choice((0, 0, 0, 25)))
                if avg_hr is not None
                else None
            )
            gear += km
            add(
                day,
                rng.uniform(6, 19),
                sport=sport,
                sub_sport=sub,
                elapsed_s=moving * rng.uniform(1.0, 1.1),
                moving_s=moving if rng.random() < 0.9 else None,
                distance_m=km * 1000.0,
                avg_hr=avg_hr,
                max_hr=max_hr,
                rpe=float(rng.randint(3, 8)) if rng.random() < 0.2 else None,
                derived=ActivityDerived(
                    hr_seconds_by_bpm=hist, surface=_surface(rng, km * 1000.0, sub)
                ),
                gear_km=gear if rng.random() < 0.5 else None,
            )
        if rng.random() < 0.08:
            minutes = rng.uniform(20, 45)
            has_hr = rng.random() < 0.5
            add(
                day,
                rng.uniform(12, 21),
                sport="training",
                sub_sport=rng.choice(("strength_training", "flexibility_training", "yoga")),
                elapsed_s=minutes * 60.0,
                avg_hr=true_rest + 0.45 * (true_max - true_rest) if has_hr else None,
                rpe=float(rng.randint(3, 7)) if rng.random() < 0.5 else None,
                derived=ActivityDerived(
                    hr_seconds_by_bpm=pick(minutes, False) if has_hr else {},
                    is_strength=True,
                    strength_sets=rng.randint(6, 20),
                ),
            )
        if rng.random() < 0.03:
            minutes = rng.uniform(40, 120)
            add(
                day,
                rng.uniform(7, 18),
                sport="cycling",
                sub_sport=None,
                elapsed_s=minutes * 60.0,
                distance_m=minutes * 60.0 * rng.uniform(6, 9),
                avg_hr=true_rest + 0.6 * (true_max - true_rest),
                max_hr=true_max - rng.uniform(5, 15),
                derived=ActivityDerived(hr_seconds_by_bpm=pick(minutes, False)),
            )
    acts.sort(key=lambda a: (a.start, a.id))
    strength_logs = [
        StrengthLog(local_date=first + timedelta(days=rng.randrange(DAYS)), minutes=15.0)
        for _ in range(rng.randint(5, 30))
    ]
    pain_logs: list[PainLog] = []
    for _ in range(rng.randint(0, 3)):  # a few episodes of a few check-ins each
        area = rng.choice(PAIN_AREAS)
        d0 = rng.randrange(DAYS - 20)
        score = rng.randint(1, 5)
        for k in range(rng.randint(1, 5)):
            score = min(max(score + rng.choice((-1, 0, 1, 1)), 0), 10)
            day = first + timedelta(days=d0 + 3 * k + rng.randint(0, 2))
            pain_logs.append(PainLog(local_date=day, area=area, score=score))
    return Athlete(profile, acts, strength_logs, pain_logs, as_of)


def make_athletes(n: int, *, seed: int = 20260630) -> list[Athlete]:
    return [make_athlete(seed * 10_000 + i) for i in range(n)]


# -- the timed work -----------------------------------------------------------------------------


def analyse_athlete(athlete: Athlete) -> Analysis:
    """What `analysis_service.analyse_athlete` does between reading rows and storing findings."""
    profile, summaries, as_of = athlete.profile, athlete.activities, athlete.as_of
    since = as_of - HR_MAX_LOOKBACK
    basis = resolve_hr_basis(
        profile,
        recent_max_hrs=[
            s.max_hr for s in summaries if s.max_hr is not None and since <= s.local_date <= as_of
        ],
    )
    threshold = profile.threshold_speed_mps or estimate_threshold_speed(
        [s for s in summaries if is_run(s)]
    )
    loads = {
        s.id: activity_load(s, basis, profile, threshold_speed_mps=threshold) for s in summaries
    }
    return analyse(
        activities=summaries,
        loads=loads,
        strength_logs=athlete.strength_logs,
        pain_logs=athlete.pain_logs,
        profile=profile,
        as_of=as_of,
    )


def time_batch(athletes: Sequence[Athlete]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to analyse `athletes` one after another.

    CPU time is reported too because the machine may be shared: on a busy box the wall clock
    includes time spent waiting for the core.
    """
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for athlete in athletes:
        analyse_athlete(athlete)
    return time.perf_counter() - t0, time.process_time() - c0


def digest(athletes: Sequence[Athlete]) -> str:
    """A fingerprint of everything `analyse` returns, to compare two implementations."""
    h = hashlib.sha256()
    for athlete in athletes:
        result = analyse_athlete(athlete)
        for frame in (result.daily, result.weekly):
            h.update(",".join(map(str, frame.columns)).encode())
            h.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).asi8).tobytes())
            h.update(np.ascontiguousarray(frame.to_numpy(dtype=float)).tobytes())
        h.update(repr(result.ceiling).encode())
        for f in result.findings:
            h.update(repr(f).encode())
    return h.hexdigest()


def _pin_to_one_cpu() -> str:
    if hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250,500,1000", help="athlete counts, comma-separated")
    parser.add_argument("--seed", type=int, default=20260630)
    parser.add_argument("--digest", type=int, default=0, help="print a result fingerprint only")
    parser.add_argument(
        "--pin", action="store_true", help="pin the process to one CPU (off: it is one thread)"
    )
    args = parser.parse_args()
    pinned = _pin_to_one_cpu() if args.pin else "single thread, not pinned"

    if args.digest:
        athletes = make_athletes(args.digest, seed=args.seed)
        print(json.dumps({"athletes": args.digest, "digest": digest(athletes)}))
        return

    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    t0 = time.perf_counter()
    athletes = make_athletes(max(sizes), seed=args.seed)
    n_acts = sum(len(a.activities) for a in athletes)
    n_hist = sum(
        1 for a in athletes for s in a.activities if s.derived and s.derived.hr_seconds_by_bpm
    )
    print(
        f"generated {len(athletes)} athletes, {n_acts / len(athletes):.0f} activities each "
        f"({n_hist / n_acts:.0%} with an HR histogram) in {time.perf_counter() - t0:.1f} s; "
        f"{pinned}"
    )
    analyse_athlete(athletes[0])  # warm-up: imports, caches
    rows: list[dict[str, float]] = []
    for n in sizes:
        wall, cpu = time_batch(athletes[:n])
        rows.append(
            {
                "athletes": n,
                "seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "ms_per_athlete": round(1000 * wall / n, 3),
            }
        )
    base = rows[0]
    print(
        f"{'athletes':>9} {'seconds':>9} {'cpu s':>7} {'ms/athlete':>11} "
        f"{'time ratio':>11} {'n ratio':>8}"
    )
    for row in rows:
        print(
            f"{row['athletes']:>9.0f} {row['seconds']:>9.2f} {row['cpu_seconds']:>7.2f} "
            f"{row['ms_per_athlete']:>11.2f} {row['seconds'] / base['seconds']:>11.2f} "
            f"{row['athletes'] / base['athletes']:>8.2f}"
        )
    if 1000 in sizes:
        total = next(r["seconds"] for r in rows if r["athletes"] == 1000)
        verdict = "met" if total < TARGET_S else "MISSED"
        print(
            f"target: 1,000 athletes under {TARGET_S:.0f} s on one core: {verdict} ({total:.2f} s)"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
