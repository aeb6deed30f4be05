"""The demo history: real FIT files, checked with plain fitdecode (an independent reader), that
plant every situation the analysis rules look for."""

from __future__ import annotations

import gzip
import itertools
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import mean, pstdev
from typing import Any
from zoneinfo import ZoneInfo

import fitdecode
import pytest

from analysis.activity import DecodedActivity
from analysis.model import SurfaceBreakdown, SurfaceMethod
from analysis.surfaces import classify_surface, weekly_surface_share
from connector.fit import decode_fit
from connector.osm import OsmExtractLookup, read_extract_ways
from strideguard.demo_history import (
    HOME,
    HR_MAX,
    HR_REST,
    MIN_WEEKS,
    PlannedActivity,
    encode_activity,
    plan_history,
    write_demo_map,
    write_history,
)

END = date(2025, 11, 5)  # a Wednesday; 16 weeks back spans the end of summer time (26 Oct)
TZ = ZoneInfo("Europe/Copenhagen")
ZONE4_BPM = 0.8 * HR_MAX  # 152


@dataclass
class Decoded:
    """What fitdecode sees in one file."""

    path: Path
    file_id: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    activity: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    laps: list[dict[str, Any]] = field(default_factory=list)
    sets: list[dict[str, Any]] = field(default_factory=list)
    sessions: int = 0

    @property
    def start(self) -> datetime:
        value: datetime = self.session["start_time"]
        return value

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(TZ)

    @property
    def is_run(self) -> bool:
        return bool(self.session["sport"] == "running")

    @property
    def distance(self) -> float:
        return float(self.session.get("total_distance") or 0.0)

    def hard_minutes(self) -> float:
        return sum(1 for r in self.records if r["heart_rate"] >= ZONE4_BPM) * 5 / 60


def _decode(path: Path) -> Decoded:
    out = Decoded(path)
    with fitdecode.FitReader(path, check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if not isinstance(frame, fitdecode.FitDataMessage):
                continue
            values = {f.name: f.value for f in frame.fields}
            if frame.name == "record":
                out.records.append(values)
            elif frame.name == "lap":
                out.laps.append(values)
            elif frame.name == "set":
                out.sets.append(values)
            elif frame.name == "session":
                out.session = values
                out.sessions += 1
            elif frame.name in ("file_id", "activity"):
                setattr(out, frame.name, values)
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_history(tmp_path_factory.mktemp("demo"), end=END, tz=TZ)


@pytest.fixture(scope="module")
def decoded(history: list[Path]) -> list[Decoded]:
    return [_decode(p) for p in history]


@pytest.fixture(scope="module")
def runs(decoded: list[Decoded]) -> list[Decoded]:
    return sorted((d for d in decoded if d.is_run), key=lambda d: d.start)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _trimp(d: Decoded) -> float:
    """Banister TRIMP from HR samples (EVIDENCE 3.1, unspecified sex), 5 s per sample."""
    total = 0.0
    for r in d.records[1:]:
        hrr = min(1.0, max(0.0, (r["heart_rate"] - HR_REST) / (HR_MAX - HR_REST)))
        total += (5 / 60) * hrr * 0.725215 * math.exp(1.795 * hrr)
    return total


# -- files ------------------------------------------------------------------------------------


def test_every_file_is_a_complete_garmin_activity(
    history: list[Path], decoded: list[Decoded]
) -> None:
    assert 70 <= len(history) <= 95
    assert [p.name for p in history] == sorted(p.name for p in history)
    for d in decoded:
        assert d.file_id["type"] == "activity"
        assert d.file_id["manufacturer"] == "garmin"
        assert d.file_id["garmin_product"] == "fr965"
        assert d.file_id["serial_number"]
        assert d.sessions == 1
        assert d.activity["num_sessions"] == 1
        assert d.laps
        assert d.records


def test_session_totals_agree_with_records(decoded: list[Decoded]) -> None:
    for d in decoded:
        s, recs = d.session, d.records
        assert s["start_time"] == recs[0]["timestamp"] == d.file_id["time_created"]
        elapsed = (recs[-1]["timestamp"] - recs[0]["timestamp"]).total_seconds()
        assert s["total_elapsed_time"] == s["total_timer_time"] == elapsed
        hrs = [r["heart_rate"] for r in recs]
        assert s["max_heart_rate"] == max(hrs)
        assert abs(s["avg_heart_rate"] - mean(hrs)) <= 1.5
        assert s["num_laps"] == len(d.laps)
        assert sum(lap["total_elapsed_time"] for lap in d.laps) == pytest.approx(elapsed)
        if not d.is_run:
            continue
        assert d.distance == pytest.approx(recs[-1]["distance"], rel=0.01)
        assert sum(lap["total_distance"] for lap in d.laps) == pytest.approx(d.distance, rel=0.01)
        dists = [r["distance"] for r in recs]
        assert dists == sorted(dists)
        assert s["enhanced_avg_speed"] == pytest.approx(d.distance / elapsed, abs=0.002)
        alts = [r["enhanced_altitude"] for r in recs if "enhanced_altitude" in r]
        if alts:
            ascent = sum(max(0.0, b - a) for a, b in itertools.pairwise(alts))
            assert abs(s["total_ascent"] - ascent) <= max(2.0, 0.05 * ascent)
        pace_min_km = elapsed / 60 / (d.distance / 1000)
        assert 4.5 <= pace_min_km <= 7.5
        cadence = [r["cadence"] for r in recs]
        assert 78 <= mean(cadence) <= 92  # strides per minute, as FIT stores running cadence


def test_local_timestamp_carries_the_zone_offset_of_that_date(decoded: list[Decoded]) -> None:
    offsets = set()
    for d in decoded:
        ts: datetime = d.activity["timestamp"]
        local: datetime = d.activity["local_timestamp"]
        expected = ts.astimezone(TZ).utcoffset()
        assert local - ts == expected
        offsets.add(expected)
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # summer and winter time


def test_nothing_starts_on_or_after_end(decoded: list[Decoded]) -> None:
    assert max(d.local_start.date() for d in decoded) < END
    assert min(d.local_start.date() for d in decoded) <= END - timedelta(days=7 * 16 - 1)


def test_gps_runs_loop_around_home(runs: list[Decoded]) -> None:
    for d in runs:
        lats = [r["position_lat"] * 180 / 2**31 for r in d.records if "position_lat" in r]
        if not lats:
            continue
        assert all(isinstance(r["position_lat"], int) for r in d.records)
        assert min(lats) > 55.55
        assert max(lats) < 55.95


# -- planted situations -----------------------------------------------------------------------


def test_weekly_runs_and_distance_look_recreational(runs: list[Decoded]) -> None:
    weeks: dict[date, list[float]] = defaultdict(list)
    for d in runs:
        weeks[_monday(d.local_start.date())].append(d.distance / 1000)
    full = [w for w in sorted(weeks) if w + timedelta(days=6) < END]
    typical = [w for w in full if 3 <= len(weeks[w]) <= 5 and 24 <= sum(weeks[w]) <= 50]
    assert len(typical) >= len(full) - 3  # the down week, the streak and the monotonous week
    easy = [d for d in runs if max(r["heart_rate"] for r in d.records) < ZONE4_BPM]
    assert len(easy) > len(runs) / 2
    for d in easy:
        assert 130 <= d.session["avg_heart_rate"] <= 150


def test_one_moderate_single_run_spike_in_the_last_two_weeks(runs: list[Decoded]) -> None:
    ratios: list[tuple[float, Decoded]] = []
    for d in runs:
        prior = [p.distance for p in runs if d.start - timedelta(days=30) <= p.start < d.start]
        if prior:
            ratios.append((d.distance / max(prior), d))
    moderate = [d for r, d in ratios if 1.30 < r <= 2.00]
    assert len(moderate) == 1
    # every other run stays within the "no spike" band, so the planted one is the story
    assert sorted(r for r, _ in ratios)[-2] <= 1.10
    spike = moderate[0]
    assert END - spike.local_start.date() <= timedelta(days=14)
    assert spike.local_start.weekday() >= 5


def test_treadmill_trail_and_track_runs(runs: list[Decoded]) -> None:
    by_sub: dict[str, list[Decoded]] = defaultdict(list)
    for d in runs:
        by_sub[d.session["sub_sport"]].append(d)
    treadmill = by_sub["treadmill"]
    assert treadmill
    for d in treadmill:
        assert d.distance > 5000
        assert not any("position_lat" in r for r in d.records)
    assert len(by_sub["trail"]) >= 3
    assert all(d.session["total_ascent"] > 40 for d in by_sub["trail"])
    assert by_sub["track"]
    assert all("position_lat" in r for d in by_sub["track"] for r in d.records)


def test_hard_surface_weeks_are_all_road(runs: list[Decoded]) -> None:
    current = _monday(END)
    for k in range(4):
        week = [d for d in runs if _monday(d.local_start.date()) == current - timedelta(weeks=k)]
        assert week
        assert {d.session["sub_sport"] for d in week} == {"street"}


def test_interval_sessions_and_recent_intensity_surge(runs: list[Decoded]) -> None:
    assert any(d.hard_minutes() > 10 for d in runs)
    assert max(max(r["heart_rate"] for r in d.records) for d in runs) <= 186

    def minutes(first: date, last: date) -> float:
        return sum(d.hard_minutes() for d in runs if first <= d.local_start.date() <= last)

    last7 = minutes(END - timedelta(days=6), END)
    prior_weekly = minutes(END - timedelta(days=34), END - timedelta(days=7)) / 4
    assert last7 > 20
    assert last7 > 1.5 * prior_weekly
    assert prior_weekly > 0  # a real baseline, not a division by zero


def test_strength_weeks_with_zero_one_and_two_sessions(decoded: list[Decoded]) -> None:
    strength = [d for d in decoded if d.session["sport"] == "training"]
    for d in strength:
        assert d.session["sub_sport"] == "strength_training"
        assert 20 * 60 <= d.session["total_elapsed_time"] <= 30 * 60
        active = [s for s in d.sets if s["set_type"] == "active"]
        assert len(active) >= 3
        assert {s["category"] for s in active} & {"row", "plank", "hip_raise"}
        assert any(s.get("repetitions") for s in active)
        assert 90 <= d.session["avg_heart_rate"] <= 130
    first = min(_monday(d.local_start.date()) for d in decoded)
    counts: dict[date, int] = {}
    monday = first
    while monday <= END:
        counts[monday] = sum(1 for d in strength if _monday(d.local_start.date()) == monday)
        monday += timedelta(weeks=1)
    values = set(counts.values())
    assert {0, 1} <= values
    assert max(values) >= 2


def test_weekly_progression_streak_and_monotony(
    runs: list[Decoded], decoded: list[Decoded]
) -> None:
    weekly: dict[date, float] = defaultdict(float)
    for d in runs:
        weekly[_monday(d.local_start.date())] += d.distance
    mondays = sorted(weekly)
    jumps = [b for a, b in itertools.pairwise(mondays) if weekly[b] > 1.3 * weekly[a]]
    assert jumps

    run_days = sorted({d.local_start.date() for d in runs})
    longest, streak = 1, 1
    for a, b in itertools.pairwise(run_days):
        streak = streak + 1 if (b - a).days == 1 else 1
        longest = max(longest, streak)
    assert longest >= 7

    loads: dict[date, float] = defaultdict(float)
    for d in decoded:
        loads[d.local_start.date()] += _trimp(d)
    monotony = []
    for monday in mondays:
        days = [loads.get(monday + timedelta(days=i), 0.0) for i in range(7)]
        if pstdev(days) > 0:
            monotony.append(mean(days) / pstdev(days))
    assert max(monotony) > 2.0


def test_same_seed_same_bytes_other_seed_other_bytes(history: list[Path]) -> None:
    # Re-encode a sample of the plan (one of each kind of workout) rather than the whole
    # history three times: byte-identity per activity is what determinism means here.
    plan = plan_history(end=END, tz=TZ)
    by_name = {p.name: p for p in history}
    sample = list({pa.workout: pa for pa in plan}.values())
    for pa in sample:
        assert encode_activity(pa) == by_name[pa.filename].read_bytes()
    other = {pa.workout: pa for pa in plan_history(end=END, tz=TZ, seed=8)}
    for pa in sample:
        assert encode_activity(other[pa.workout]) != by_name[pa.filename].read_bytes()


# -- the plan, for every weekday `end` can fall on ---------------------------------------------


def _plans() -> Iterator[tuple[date, list[PlannedActivity]]]:
    for offset in range(7):
        end = END + timedelta(days=offset)
        yield end, plan_history(end=end, tz=TZ)


@pytest.mark.parametrize(("end", "plan"), list(_plans()), ids=lambda v: str(v)[:10])
def test_plan_plants_everything_whatever_the_weekday(
    end: date, plan: list[PlannedActivity]
) -> None:
    tags = {t for a in plan for t in a.purpose}
    assert {
        "single_run_spike",
        "intensity_spike",
        "hard_surface_share",
        "weekly_progression",
        "no_rest_day",
        "monotony",
        "missing_strength",
        "surface_trail",
        "surface_treadmill",
        "surface_track",
    } <= tags
    assert all(a.start.date() < end for a in plan)
    runs = [a for a in plan if a.is_run]
    (spike,) = [a for a in runs if "single_run_spike" in a.purpose]
    prior = [
        a.distance_m for a in runs if spike.start - timedelta(days=30) <= a.start < spike.start
    ]
    ratio = spike.distance_m / max(prior)
    assert ratio > 1.30
    assert ratio <= 2.00
    surge = [a for a in runs if "intensity_spike" in a.purpose]
    assert len(surge) == 2
    assert all(end - timedelta(days=6) <= a.start.date() < end for a in surge)
    assert (surge[1].start.date() - surge[0].start.date()).days >= 2
    for a in plan:
        assert a.start.tzinfo is TZ
        assert a.start_utc.tzinfo is UTC
        assert a.duration_s == sum(s.duration_s for s in a.segments) or a.sets


def test_plan_is_deterministic_and_needs_enough_weeks() -> None:
    assert plan_history(end=END, tz=TZ) == plan_history(end=END, tz=TZ)
    assert plan_history(end=END, tz=TZ) != plan_history(end=END, tz=TZ, seed=8)
    with pytest.raises(ValueError, match="at least"):
        plan_history(end=END, tz=TZ, weeks=MIN_WEEKS - 1)


# -- the neighbourhood map ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_map(tmp_path_factory.mktemp("map") / "copenhagen.osm", end=END, tz=TZ)


@dataclass(frozen=True)
class Classified:
    """A run as the importer sees it (`decode_fit`) and its surfaces with the demo map."""

    activity: DecodedActivity
    breakdown: SurfaceBreakdown

    @property
    def sub_sport(self) -> str:
        return self.activity.sub_sport or ""

    @property
    def week(self) -> date:
        return _monday(self.activity.local_date)

    def share(self, *buckets: str) -> float:
        b = self.breakdown
        return sum(float(getattr(b, f"{name}_m")) for name in buckets) / b.total_m


@pytest.fixture(scope="module")
def classified(history: list[Path], demo_map: Path) -> list[Classified]:
    lookup = OsmExtractLookup(demo_map)
    out = []
    for path in history:
        (activity,) = decode_fit(path.read_bytes()).activities
        breakdown = classify_surface(activity, lookup=lookup)
        if breakdown is not None:
            out.append(Classified(activity, breakdown))
    assert lookup.reads == 1
    return out


def test_demo_map_is_a_small_valid_osm_extract_written_the_same_way_each_time(
    demo_map: Path, tmp_path: Path
) -> None:
    data = demo_map.read_bytes()
    assert len(data) < 600_000
    root = ET.fromstring(data)
    assert (root.tag, root.get("version")) == ("osm", "0.6")
    nodes = {
        n.get("id"): (float(n.get("lat", "")), float(n.get("lon", ""))) for n in root.iter("node")
    }
    assert len(nodes) == len(root.findall("node"))
    bounds = root.find("bounds")
    assert bounds is not None
    assert float(bounds.get("minlat", "")) < HOME[0] < float(bounds.get("maxlat", ""))
    assert float(bounds.get("minlon", "")) < HOME[1] < float(bounds.get("maxlon", ""))
    assert all(55.55 < lat < 55.95 and 12.3 < lon < 12.8 for lat, lon in nodes.values())
    tags: set[tuple[str, str]] = set()
    ways = root.findall("way")
    for way in ways:
        refs = [nd.get("ref") for nd in way.iter("nd")]
        assert len(refs) >= 2
        assert all(ref in nodes for ref in refs)
        tags |= {(t.get("k", ""), t.get("v", "")) for t in way.iter("tag")}
    assert {
        ("highway", "residential"),
        ("highway", "footway"),
        ("highway", "path"),
        ("highway", "track"),
        ("tracktype", "grade3"),
        ("surface", "asphalt"),
        ("surface", "paving_stones"),
        ("surface", "dirt"),
        ("surface", "ground"),
        ("surface", "grass"),
        ("leisure", "track"),
        ("sport", "athletics"),
        ("surface", "tartan"),
    } <= tags
    assert len(read_extract_ways(demo_map)) == len(ways)  # every way is something to run on

    again = write_demo_map(tmp_path / "again.osm", end=END, tz=TZ)
    assert again.read_bytes() == data
    packed = write_demo_map(tmp_path / "again.osm.gz", end=END, tz=TZ)
    assert gzip.decompress(packed.read_bytes()) == data
    other = write_demo_map(tmp_path / "other.osm", end=END, tz=TZ, seed=8)
    assert other.read_bytes() != data


def test_demo_runs_are_classified_by_the_map(classified: list[Classified]) -> None:
    road = [c for c in classified if c.sub_sport in ("street", "generic")]
    trail = [c for c in classified if c.sub_sport == "trail"]
    assert len(road) > 40
    assert len(trail) >= 3
    for c in road:
        assert c.breakdown.method is SurfaceMethod.MAP
        assert c.breakdown.confidence == pytest.approx(0.8)
        assert c.share("hard") > 0.85
        assert c.share("unknown") < 0.1
    # a park shortcut nobody mapped: some road metres stay unknown, as with a real extract
    assert sum(c.breakdown.unknown_m for c in road) > 0.005 * sum(c.breakdown.total_m for c in road)
    for c in trail:
        assert c.breakdown.method is SurfaceMethod.MAP
        assert c.share("soft", "moderate") > 0.85
        assert c.share("soft") > 0.6
        assert c.share("hard") < 0.05
    (treadmill,) = [c for c in classified if c.sub_sport == "treadmill"]
    assert treadmill.breakdown.method is SurfaceMethod.INDOOR
    assert treadmill.share("treadmill") == pytest.approx(1.0)
    (track,) = [c for c in classified if c.sub_sport == "track"]
    assert track.breakdown.method is SurfaceMethod.TRACK
    assert track.share("moderate") == pytest.approx(1.0)


def test_map_makes_the_recent_road_weeks_cross_the_hard_surface_threshold(
    classified: list[Classified],
) -> None:
    weeks: dict[date, list[Classified]] = defaultdict(list)
    for c in classified:
        weeks[c.week].append(c)
    full = [w for w in sorted(weeks) if w + timedelta(days=6) < END]
    for week in full[-3:]:
        runs = weeks[week]
        assert {c.sub_sport for c in runs} == {"street"}
        share = weekly_surface_share(c.breakdown for c in runs)
        assert share.hard_share is not None
        assert share.hard_share > 0.85
        assert share.coverage >= 0.60
        # the file alone (street prior, confidence 0.35) would never pass the coverage gate
        priors = weekly_surface_share(classify_surface(c.activity) or c.breakdown for c in runs)
        assert priors.coverage < 0.60
    trail_weeks = [w for w in full[:-3] if any(c.sub_sport == "trail" for c in weeks[w])]
    assert len(trail_weeks) >= 3
    for week in trail_weeks:
        share = weekly_surface_share(c.breakdown for c in weeks[week])
        assert share.hard_share is not None
        assert share.hard_share < 0.85
        assert share.coverage >= 0.60
