"""Surface classification: layers, priors, the sum invariant, weekly share, real files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.activity import DecodedActivity
from analysis.model import SurfaceBreakdown, SurfaceMethod
from analysis.surfaces import (
    EARTH_RADIUS_M,
    MAP_CONFIDENCE,
    PRIORS,
    Bucket,
    NoSurfaceLookup,
    SurfaceLookupError,
    Track,
    bucket_for_tags,
    classify_surface,
    haversine_m,
    track_from_samples,
    weekly_surface_share,
)
from connector.fit import decode_fit

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
LAT0, LON0 = 47.0, 8.0


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
    distance_m: float | None = None,
    has_gps: bool | None = None,
) -> DecodedActivity:
    samples = samples if samples is not None else pd.DataFrame()
    return DecodedActivity(
        sport=sport,
        sub_sport=sub_sport,
        start=START,
        local_offset_s=0,
        elapsed_s=1800.0,
        moving_s=None,
        distance_m=distance_m,
        ascent_m=None,
        avg_hr=None,
        max_hr=None,
        has_gps=("lat_deg" in samples) if has_gps is None else has_gps,
        device=None,
        partial=False,
        samples=samples,
    )


def from_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres east/north of (LAT0, LON0) to degrees."""
    lat = LAT0 + np.degrees(y / EARTH_RADIUS_M)
    lon = LON0 + np.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(LAT0))))
    return lat, lon


def gps_run(lat: np.ndarray, lon: np.ndarray) -> pd.DataFrame:
    """A 1 Hz GPS run through the given fixes, distance = cumulative great-circle metres."""
    seg = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    dist = np.concatenate(([0.0], np.cumsum(seg)))
    return frame(np.arange(len(lat)), lat_deg=lat, lon_deg=lon, distance_m=dist)


def straight_run(n: int = 600, step_m: float = 3.0) -> pd.DataFrame:
    x = np.arange(n) * step_m
    return gps_run(*from_xy(x, np.zeros(n)))


def steady_samples(n: int = 1800, speed: float = 3.0, wobble: float = 0.05) -> pd.DataFrame:
    t = np.arange(n, dtype=float)
    v = speed * (1 + wobble * np.sin(t / 7.0))
    return frame(t, speed_mps=v, distance_m=np.cumsum(v))


class FixedLookup:
    """A lookup answering from a precomputed list, counting its calls."""

    def __init__(self, buckets: Sequence[str | None]) -> None:
        self.buckets = cast("list[Bucket | None]", list(buckets))
        self.calls = 0

    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        self.calls += 1
        return self.buckets


class FailingLookup:
    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        raise SurfaceLookupError("endpoint down")


def assert_sums(b: SurfaceBreakdown, total: float) -> None:
    for value in (b.hard_m, b.moderate_m, b.soft_m, b.treadmill_m, b.unknown_m):
        assert value >= 0
    assert b.total_m == pytest.approx(total, rel=1e-9, abs=1e-6)


# -- tags -> bucket ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "bucket"),
    [
        ({"highway": "residential", "surface": "asphalt"}, "hard"),
        ({"highway": "footway", "surface": "paving_stones"}, "hard"),
        ({"highway": "pedestrian", "surface": "sett"}, "hard"),
        ({"highway": "service", "surface": "cobblestone"}, "hard"),
        ({"highway": "path", "surface": "concrete"}, "hard"),
        ({"highway": "path", "surface": "paved"}, "hard"),
        ({"highway": "residential"}, "hard"),
        ({"highway": "primary"}, "hard"),
        ({"highway": "motorway_link"}, "hard"),
        ({"highway": "living_street"}, "hard"),
        ({"highway": "footway", "footway": "sidewalk"}, "hard"),
        ({"highway": "track", "surface": "compacted"}, "moderate"),
        ({"highway": "path", "surface": "fine_gravel"}, "moderate"),
        ({"highway": "track", "surface": "gravel"}, "moderate"),
        ({"leisure": "track", "sport": "athletics"}, "moderate"),
        ({"leisure": "track", "surface": "tartan"}, "moderate"),
        ({"highway": "track", "tracktype": "grade2"}, "moderate"),
        ({"highway": "track", "tracktype": "grade1"}, "hard"),
        ({"highway": "track", "tracktype": "grade5"}, "soft"),
        ({"highway": "path", "surface": "dirt"}, "soft"),
        ({"highway": "path", "surface": "ground"}, "soft"),
        ({"highway": "path", "surface": "grass"}, "soft"),
        ({"highway": "path", "surface": "woodchips"}, "soft"),
        ({"highway": "path", "surface": "sand"}, "soft"),
        ({"highway": "path", "surface": "mud"}, "soft"),
        ({"highway": "path", "surface": "snow"}, "soft"),
        ({"highway": "path", "surface": "earth"}, "soft"),
        ({"highway": "track", "surface": "unpaved"}, "soft"),
        ({"highway": "residential", "surface": "gravel"}, "moderate"),  # surface beats highway
        ({"highway": "path", "surface": "Asphalt ; gravel"}, "hard"),  # first of several
        ({"highway": "path"}, None),
        ({"highway": "footway"}, None),
        ({"highway": "cycleway"}, None),
        ({"highway": "track"}, None),
        ({"highway": "residential", "surface": "something_odd"}, None),  # not guessed
        ({"building": "yes"}, None),
        ({}, None),
    ],
)
def test_bucket_for_tags(tags: Mapping[str, str], bucket: str | None) -> None:
    assert bucket_for_tags(tags) == bucket


# -- layer selection --------------------------------------------------------------------------


@pytest.mark.parametrize("sport", ["walking", "hiking", "cycling", "training", "generic"])
def test_non_runs_have_no_breakdown(sport: str) -> None:
    assert classify_surface(activity(straight_run(), sport=sport, distance_m=1000.0)) is None


@pytest.mark.parametrize("sub_sport", ["treadmill", "indoor_running", "virtual_activity"])
def test_indoor_sub_sports_are_all_treadmill(sub_sport: str) -> None:
    # GPS in a virtual run is synthetic: the sub_sport wins over any map.
    lookup = FixedLookup(["hard"] * 599)
    b = classify_surface(
        activity(straight_run(), sub_sport=sub_sport, distance_m=5000.0), lookup=lookup
    )
    assert b == SurfaceBreakdown(treadmill_m=5000.0, confidence=0.95, method=SurfaceMethod.INDOOR)
    assert lookup.calls == 0


def test_track_sub_sport_is_moderate() -> None:
    b = classify_surface(activity(straight_run(), sub_sport="track", distance_m=4000.0))
    assert b is not None
    assert (b.method, b.moderate_m, b.unknown_m) == (SurfaceMethod.TRACK, 4000.0, 0.0)
    assert b.confidence >= 0.85


def test_no_gps_steady_pace_is_a_treadmill_with_lower_confidence() -> None:
    b = classify_surface(activity(steady_samples(), distance_m=5400.0))
    assert b is not None
    assert (b.method, b.treadmill_m) == (SurfaceMethod.INDOOR, 5400.0)
    assert 0.3 < b.confidence < 0.95


def test_no_gps_steady_pace_over_hills_is_not_a_treadmill() -> None:
    samples = steady_samples()
    samples["altitude_m"] = 200 + 60 * np.sin(np.arange(len(samples)) / 300)
    b = classify_surface(activity(samples, distance_m=5400.0))
    assert b is not None
    assert b.method is SurfaceMethod.NONE


def test_no_gps_uneven_pace_is_unknown() -> None:
    t = np.arange(1800.0)
    v = np.where((t // 120) % 2 == 0, 4.5, 2.0)  # 2-minute intervals
    b = classify_surface(activity(frame(t, speed_mps=v), distance_m=5000.0))
    assert b == SurfaceBreakdown(unknown_m=5000.0, confidence=0.0, method=SurfaceMethod.NONE)


def test_no_gps_steady_pace_on_a_street_profile_is_the_street_prior() -> None:
    b = classify_surface(activity(steady_samples(), sub_sport="street", distance_m=5400.0))
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    assert b.treadmill_m == 0


def oval_fixes(laps: float, *, lane_radius: float = 37.0, noise_m: float = 2.0) -> pd.DataFrame:
    """Laps of a 400 m stadium outline (84.39 m straights), rotated 30 deg, 1 Hz at ~4 m/s."""
    straight = 84.39
    perimeter = 2 * straight + 2 * math.pi * lane_radius
    s = np.arange(0.0, laps * perimeter, 4.0) % perimeter
    x, y = np.empty_like(s), np.empty_like(s)
    a = s < straight
    x[a], y[a] = -straight / 2 + s[a], -lane_radius
    b = (s >= straight) & (s < straight + math.pi * lane_radius)
    phi = (s[b] - straight) / lane_radius - math.pi / 2
    x[b], y[b] = straight / 2 + lane_radius * np.cos(phi), lane_radius * np.sin(phi)
    c = (s >= straight + math.pi * lane_radius) & (s < 2 * straight + math.pi * lane_radius)
    x[c], y[c] = straight / 2 - (s[c] - straight - math.pi * lane_radius), lane_radius
    d = s >= 2 * straight + math.pi * lane_radius
    phi = (s[d] - 2 * straight - math.pi * lane_radius) / lane_radius + math.pi / 2
    x[d], y[d] = -straight / 2 + lane_radius * np.cos(phi), lane_radius * np.sin(phi)
    rng = np.random.default_rng(3)
    x += rng.normal(0, noise_m, len(x))
    y += rng.normal(0, noise_m, len(y))
    rot = math.radians(30)
    xr, yr = x * math.cos(rot) - y * math.sin(rot), x * math.sin(rot) + y * math.cos(rot)
    return gps_run(*from_xy(xr, yr))


def test_gps_laps_of_a_400m_oval_are_a_track() -> None:
    samples = oval_fixes(laps=8)
    b = classify_surface(activity(samples, distance_m=3200.0), lookup=FixedLookup([]))
    assert b is not None
    assert (b.method, b.moderate_m) == (SurfaceMethod.TRACK, 3200.0)
    assert b.confidence < 0.9  # geometry is weaker evidence than the sub_sport


def test_one_lap_or_a_bigger_loop_is_not_a_track() -> None:
    one_lap = classify_surface(activity(oval_fixes(laps=1), distance_m=1000.0))
    assert one_lap is not None
    assert one_lap.method is SurfaceMethod.PRIOR
    t = np.linspace(0, 6 * math.pi, 1500)  # three laps of a 300 m-wide circle
    circle = gps_run(*from_xy(150 * np.cos(t), 150 * np.sin(t)))
    b = classify_surface(activity(circle, distance_m=2800.0))
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR


# -- map layer --------------------------------------------------------------------------------


def test_map_buckets_count_segment_metres_and_unmatched_stays_unknown() -> None:
    samples = straight_run(n=601, step_m=5.0)  # 600 segments of ~5 m
    buckets: list[str | None] = ["hard"] * 300 + ["soft"] * 100 + [None] * 200
    seg = np.diff(samples["distance_m"].to_numpy())
    total = float(seg.sum())
    b = classify_surface(activity(samples, distance_m=total), lookup=FixedLookup(buckets))
    assert b is not None
    assert b.method is SurfaceMethod.MAP
    assert b.confidence == MAP_CONFIDENCE
    assert b.hard_m == pytest.approx(seg[:300].sum())
    assert b.soft_m == pytest.approx(seg[300:400].sum())
    assert b.unknown_m == pytest.approx(seg[400:].sum())
    assert_sums(b, total)


def test_map_track_shorter_than_the_session_leaves_the_rest_unknown() -> None:
    samples = straight_run(n=101, step_m=5.0)  # 500 m of fixes
    b = classify_surface(activity(samples, distance_m=800.0), lookup=FixedLookup(["hard"] * 100))
    assert b is not None
    assert b.hard_m == pytest.approx(500.0, rel=1e-3)
    assert b.unknown_m == pytest.approx(300.0, rel=1e-2)
    assert_sums(b, 800.0)


def test_map_track_longer_than_the_session_is_scaled_down() -> None:
    samples = straight_run(n=101, step_m=5.0)
    b = classify_surface(
        activity(samples, distance_m=450.0), lookup=FixedLookup(["hard"] * 50 + ["soft"] * 50)
    )
    assert b is not None
    assert b.hard_m == pytest.approx(225.0)
    assert b.soft_m == pytest.approx(225.0)
    assert_sums(b, 450.0)


def test_gaps_between_fixes_are_not_map_matched() -> None:
    lat, lon = from_xy(np.array([0.0, 5.0, 10.0, 510.0, 515.0]), np.zeros(5))
    samples = gps_run(lat, lon)
    b = classify_surface(activity(samples, distance_m=515.0), lookup=FixedLookup(["hard"] * 4))
    assert b is not None
    # Only 15 m matched: below the minimum map share, so the plain prior answers instead.
    assert b.method is SurfaceMethod.PRIOR


def test_too_little_map_coverage_falls_back_to_the_prior() -> None:
    samples = straight_run(n=101, step_m=5.0)
    b = classify_surface(
        activity(samples, sub_sport="trail", distance_m=500.0),
        lookup=FixedLookup(["hard"] * 10 + [None] * 90),
    )
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    assert b.soft_m > b.hard_m


def test_a_failing_lookup_falls_back_or_raises() -> None:
    run = activity(straight_run(), sub_sport="street", distance_m=1800.0)
    b = classify_surface(run, lookup=FailingLookup())
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    with pytest.raises(SurfaceLookupError):
        classify_surface(run, lookup=FailingLookup(), on_lookup_error="raise")


def test_a_lookup_answering_the_wrong_length_is_a_bug() -> None:
    with pytest.raises(ValueError, match="buckets"):
        classify_surface(activity(straight_run(), distance_m=1800.0), lookup=FixedLookup(["hard"]))


# -- priors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_sport", "dominant"), [("trail", "soft_m"), ("street", "hard_m"), (None, "hard_m")]
)
def test_priors_are_low_confidence_guesses_with_an_unknown_share(
    sub_sport: str | None, dominant: str
) -> None:
    b = classify_surface(
        activity(straight_run(), sub_sport=sub_sport, distance_m=10_000.0),
        lookup=NoSurfaceLookup(),
    )
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    assert b.confidence <= 0.35
    assert b.unknown_m >= 0.15 * 10_000.0 - 1e-6
    assert b.treadmill_m == 0
    parts = {"hard_m": b.hard_m, "moderate_m": b.moderate_m, "soft_m": b.soft_m}
    assert max(parts, key=parts.__getitem__) == dominant
    assert_sums(b, 10_000.0)


def test_every_prior_leaves_part_unknown() -> None:
    for split in PRIORS.values():
        assert split.unknown >= 0.15 - 1e-9
        assert split.confidence <= 0.35


def test_distance_falls_back_to_the_samples() -> None:
    samples = straight_run(n=201, step_m=5.0)
    b = classify_surface(activity(samples, sub_sport="trail", distance_m=None))
    assert b is not None
    assert b.total_m == pytest.approx(1000.0, rel=1e-3)


def test_fixes_without_position_are_skipped() -> None:
    samples = straight_run(n=11, step_m=5.0)
    samples.loc[samples.index[3:5], ["lat_deg", "lon_deg"]] = np.nan
    track = track_from_samples(samples)
    assert track is not None
    assert track.n_segments == 8
    assert track.distance_m[-1] == pytest.approx(50.0, rel=1e-3)  # recorded distance kept


@settings(max_examples=60, deadline=None)
@given(
    buckets=st.lists(st.sampled_from(["hard", "moderate", "soft", None]), min_size=1, max_size=80),
    session=st.one_of(st.none(), st.floats(min_value=0.0, max_value=50_000.0)),
    sub_sport=st.sampled_from([None, "trail", "street", "generic"]),
)
def test_breakdown_always_sums_to_the_run_distance(
    buckets: list[str | None], session: float | None, sub_sport: str | None
) -> None:
    samples = straight_run(n=len(buckets) + 1, step_m=4.0)
    run = activity(samples, sub_sport=sub_sport, distance_m=session)
    b = classify_surface(run, lookup=FixedLookup(buckets))
    assert b is not None
    expected = session if session is not None else float(samples["distance_m"].iloc[-1])
    assert_sums(b, expected)
    assert 0.0 <= b.confidence <= 1.0


# -- weekly share -----------------------------------------------------------------------------


def test_weekly_share_weights_by_confidence() -> None:
    mapped = SurfaceBreakdown(hard_m=8000, soft_m=2000, confidence=0.8, method=SurfaceMethod.MAP)
    treadmill = SurfaceBreakdown(treadmill_m=5000, confidence=0.95, method=SurfaceMethod.INDOOR)
    share, coverage = weekly_surface_share([mapped, treadmill])
    classified = 0.8 * 10_000 + 0.95 * 5000
    assert share == pytest.approx(0.8 * 8000 / classified)
    assert coverage == pytest.approx(classified / 15_000)


def test_a_week_of_priors_never_reaches_the_coverage_gate() -> None:
    b = classify_surface(activity(straight_run(), sub_sport="street", distance_m=10_000.0))
    assert b is not None
    share, coverage = weekly_surface_share([b] * 5)
    assert share is not None
    assert share > 0.85  # the guess itself is "mostly hard"...
    assert coverage < 0.6  # ...but it can never fire the rule on its own


def test_weekly_share_of_nothing() -> None:
    assert weekly_surface_share([]) == (None, 0.0)
    unknown = SurfaceBreakdown(unknown_m=5000.0)
    assert weekly_surface_share([unknown]) == (None, 0.0)


# -- real files -------------------------------------------------------------------------------


def decode_first_session(path: Path) -> DecodedActivity:
    """The first session of a real FIT file, through the project's decoder."""
    return decode_fit(path.read_bytes()).activities[0]


def test_real_treadmill_file_is_all_treadmill(samples_dir: Path) -> None:
    run = decode_first_session(samples_dir / "thomaschampagne__elevate__treadmill.fit")
    b = classify_surface(run)
    assert b is not None
    assert run.distance_m is not None
    assert b.treadmill_m == pytest.approx(run.distance_m)
    assert b.unknown_m == 0
    assert b.method is SurfaceMethod.INDOOR


def test_real_trail_file_is_a_prior_with_an_unknown_share(samples_dir: Path) -> None:
    run = decode_first_session(samples_dir / "thomaschampagne__elevate__loup-blanc.fit")
    assert run.sub_sport == "trail"
    b = classify_surface(run, lookup=NoSurfaceLookup())
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    assert b.unknown_m > 0
    assert b.soft_m > b.hard_m
    assert run.distance_m is not None
    assert_sums(b, run.distance_m)
