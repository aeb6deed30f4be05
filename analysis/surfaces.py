"""Which surfaces a run was on: hard / moderate / soft / treadmill / unknown metres (EVIDENCE 3.7).

Pure: no I/O, no clock. Map data comes in through a `SurfaceLookup` the caller passes (the
connector implements it over a local OSM extract or an Overpass endpoint); without one, runs are
classified from what the file itself says. Layers, strongest evidence first; the first that
applies decides the whole breakdown, so one run carries one method and one confidence:

1. **indoor** - FIT sub_sport treadmill / indoor_running / virtual_activity: all treadmill,
   confidence 0.95. No GPS, no outdoor sub_sport and a steady pace: treadmill, confidence 0.5.
2. **track** - sub_sport track: all moderate (an athletics track is "moderate"), confidence 0.9.
   GPS that stays on a 400 m oval for at least two laps: all moderate, confidence 0.7.
3. **map** - per-segment OSM buckets from the lookup (`bucket_for_tags`), confidence 0.8; used
   when it matches at least `MIN_MAP_SHARE` of the run. Unmatched segments stay unknown.
4. **prior** - sub_sport trail / street, or a plain outdoor run: fixed splits (`PRIORS`) with
   confidence <= 0.35 that always leave part unknown. A prior is a guess, labelled as one.

Otherwise (no GPS, uneven pace, no sub_sport) everything is unknown, method NONE.

`weekly_surface_share` turns breakdowns into the numbers the `hard_surface_share` rule needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.activity import DecodedActivity
from analysis.model import SurfaceBreakdown, SurfaceMethod

FloatArray = npt.NDArray[np.float64]
Bucket = Literal["hard", "moderate", "soft"]

EARTH_RADIUS_M = 6_371_008.8

# -- layer 1: indoor ---------------------------------------------------------------------------
INDOOR_SUB_SPORTS = frozenset({"treadmill", "indoor_running", "virtual_activity"})
#: sub_sports that say "outdoors": they forbid the steady-pace treadmill guess.
OUTDOOR_SUB_SPORTS = frozenset({"street", "trail", "track"})
INDOOR_CONFIDENCE = 0.95
STEADY_PACE_CONFIDENCE = 0.5
#: Steady pace = coefficient of variation of the smoothed moving speed below this. A treadmill
#: belt is steady; foot-pod noise is removed by the rolling median over `STEADY_SMOOTH_SAMPLES`.
STEADY_PACE_MAX_CV = 0.10
STEADY_SMOOTH_SAMPLES = 31
STEADY_MIN_MOVING_SAMPLES = 300
#: A barometric altitude spread above this (1st-99th percentile) means hills: not a treadmill.
INDOOR_MAX_ALTITUDE_SPREAD_M = 25.0
MOVING_SPEED_MPS = 0.5

# -- layer 2: track ----------------------------------------------------------------------------
TRACK_SUB_SPORT_CONFIDENCE = 0.9
TRACK_GEOMETRY_CONFIDENCE = 0.7
#: A 400 m track is ~177 x 92 m over all lanes and ~158 x 73 m along lane 1's kerb; GPS widens
#: both. Extents are the 1st-99th percentile spread along the track's principal axes.
OVAL_MAJOR_M = (150.0, 190.0)
OVAL_MINOR_M = (65.0, 105.0)
OVAL_MAX_OFF_M = 12.0
"""A fix counts as on the oval within this distance of the fitted stadium outline."""
OVAL_MIN_ON_SHARE = 0.9
OVAL_MIN_LAPS = 2.0
OVAL_MIN_DISTANCE_M = 1000.0

# -- layer 3: map ------------------------------------------------------------------------------
MAP_CONFIDENCE = 0.8
MIN_MAP_SHARE = 0.25
"""Below this matched share of the run the map says too little; the prior is used instead."""
MAX_SEGMENT_M = 100.0
"""A longer gap between two fixes (lost signal) is not map-matched: it stays unknown."""


# -- layer 4: priors ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PriorSplit:
    """Shares of a run's distance assumed per bucket when nothing is measured; rest unknown."""

    hard: float
    moderate: float
    soft: float
    confidence: float

    @property
    def unknown(self) -> float:
        return 1.0 - self.hard - self.moderate - self.soft


#: trail: trails are mostly dirt/grass, some gravel roads; street: a road-run profile on the
#: watch; plain: an outdoor run with no profile - most recreational running is on roads, but
#: that is a population guess, hence the lowest confidence. Every split leaves >= 15 % unknown.
PRIORS: Mapping[str, PriorSplit] = {
    "trail": PriorSplit(hard=0.0, moderate=0.25, soft=0.60, confidence=0.3),
    "street": PriorSplit(hard=0.80, moderate=0.05, soft=0.0, confidence=0.35),
    "plain": PriorSplit(hard=0.65, moderate=0.10, soft=0.05, confidence=0.2),
}


# -- OSM tags -> bucket ------------------------------------------------------------------------
SURFACE_BUCKETS: Mapping[str, Bucket] = {
    **dict.fromkeys(
        (
            "asphalt",
            "concrete",
            "concrete:plates",
            "concrete:lanes",
            "paving_stones",
            "paving_stones:lanes",
            "sett",
            "cobblestone",
            "cobblestone:flattened",
            "unhewn_cobblestone",
            "paved",
            "chipseal",
            "bricks",
            "brick",
            "metal",
            "rock",
            "stone",
            "ice",
            "acrylic",
        ),
        "hard",
    ),
    **dict.fromkeys(
        (
            "compacted",
            "fine_gravel",
            "gravel",
            "pebblestone",
            "grass_paver",
            "tartan",
            "rubber",
            "clay",
            "artificial_turf",
        ),
        "moderate",
    ),
    **dict.fromkeys(
        (
            "dirt",
            "ground",
            "earth",
            "grass",
            "woodchips",
            "sand",
            "mud",
            "snow",
            "unpaved",
            "soil",
        ),
        "soft",
    ),
}
#: Motor roads are paved unless tagged otherwise (EVIDENCE 3.7: "motor roads with no surface").
MOTOR_ROADS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "service",
        "living_street",
    }
)
#: highway=track without surface: grade1 is solid (paved/hard-packed), grade2-3 gravel or mixed,
#: grade4-5 mostly soil/grass.
TRACKTYPE_BUCKETS: Mapping[str, Bucket] = {
    "grade1": "hard",
    "grade2": "moderate",
    "grade3": "moderate",
    "grade4": "soft",
    "grade5": "soft",
}
#: footway=sidewalk/crossing is the pavement of a street: paved.
PAVED_FOOTWAYS = frozenset({"sidewalk", "crossing"})


def bucket_for_tags(tags: Mapping[str, str]) -> Bucket | None:
    """Map one OSM way's tags to a surface bucket, or None when the tags do not say.

    An explicit `surface` wins (its first value if several, "asphalt;gravel"); an unrecognised
    surface value is unknown rather than guessed from `highway`. Without `surface`: motor roads
    and sidewalks are hard, `highway=track` follows `tracktype`, an athletics `leisure=track` is
    moderate; paths, footways and cycleways without a surface are unknown.
    """
    surface = tags.get("surface")
    if surface is not None:
        first = surface.split(";", 1)[0].strip().lower()
        return SURFACE_BUCKETS.get(first)
    highway = tags.get("highway", "").strip().lower()
    if highway in MOTOR_ROADS:
        return "hard"
    if highway == "footway" and tags.get("footway", "").strip().lower() in PAVED_FOOTWAYS:
        return "hard"
    if highway == "track":
        return TRACKTYPE_BUCKETS.get(tags.get("tracktype", "").strip().lower())
    if tags.get("leisure") == "track" and tags.get("sport", "").lower() in {
        "athletics",
        "running",
    }:
        return "moderate"
    return None


# -- track geometry and the lookup protocol ----------------------------------------------------
def haversine_m(
    lat1: FloatArray | float,
    lon1: FloatArray | float,
    lat2: FloatArray | float,
    lon2: FloatArray | float,
) -> FloatArray:
    """Great-circle distance in metres (element-wise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class Track:
    """A run's GPS fixes in order; segment i joins fix i and fix i + 1.

    `distance_m` is cumulative from 0, taken from the recorded distance where it is sane (the
    device's own, smoothed) and great-circle otherwise, so segment metres match the run's.
    """

    lat_deg: FloatArray
    lon_deg: FloatArray
    distance_m: FloatArray

    @property
    def n_segments(self) -> int:
        return max(len(self.lat_deg) - 1, 0)

    @property
    def segment_m(self) -> FloatArray:
        return np.diff(self.distance_m)

    def midpoints(self) -> tuple[FloatArray, FloatArray]:
        """Segment midpoints (lat, lon); good enough for segments of a few metres."""
        return (
            (self.lat_deg[:-1] + self.lat_deg[1:]) / 2,
            (self.lon_deg[:-1] + self.lon_deg[1:]) / 2,
        )

    def bbox(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) in degrees."""
        return (
            float(self.lat_deg.min()),
            float(self.lon_deg.min()),
            float(self.lat_deg.max()),
            float(self.lon_deg.max()),
        )


class SurfaceLookup(Protocol):
    """Map data: one call per run, so a remote lookup can make one request for the whole track."""

    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        """Return `track.n_segments` buckets, None where the map does not know the segment.

        Raise `SurfaceLookupError` when the map source is unavailable (not for "no match").
        """
        ...


class SurfaceLookupError(Exception):
    """The map source failed (network, corrupt extract); the connector subclasses this."""


class NoSurfaceLookup:
    """The offline default: the map layer knows nothing, so priors decide."""

    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        return [None] * track.n_segments


def track_from_samples(samples: pd.DataFrame) -> Track | None:
    """The fixes of a samples frame as a `Track`, or None when fewer than two fixes exist."""
    if "lat_deg" not in samples or "lon_deg" not in samples or len(samples) < 2:
        return None
    frame = samples if samples.index.is_monotonic_increasing else samples.sort_index()
    lat = frame["lat_deg"].to_numpy(dtype=np.float64, na_value=np.nan)
    lon = frame["lon_deg"].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    ok &= ~((lat == 0) & (lon == 0))  # (0, 0) is a "no fix" placeholder, not the Gulf of Guinea
    if ok.sum() < 2:
        return None
    lat, lon = lat[ok], lon[ok]
    seg = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    if "distance_m" in frame:
        dist = frame["distance_m"].to_numpy(dtype=np.float64, na_value=np.nan)[ok]
        recorded = np.diff(dist)
        seg = np.where(np.isfinite(recorded) & (recorded >= 0), recorded, seg)
    return Track(lat_deg=lat, lon_deg=lon, distance_m=np.concatenate(([0.0], np.cumsum(seg))))


# -- classification ----------------------------------------------------------------------------
def classify_surface(
    activity: DecodedActivity,
    *,
    lookup: SurfaceLookup | None = None,
    on_lookup_error: Literal["fallback", "raise"] = "fallback",
) -> SurfaceBreakdown | None:
    """Surface breakdown of a run (None for anything that is not sport "running").

    The buckets always sum to the run's distance (the session's, else the samples'). A failing
    lookup (`SurfaceLookupError`) falls through to the priors unless `on_lookup_error="raise"`.
    """
    if activity.sport != "running":
        return None
    sub = (activity.sub_sport or "").lower()
    samples = activity.samples
    track = track_from_samples(samples) if activity.has_gps else None
    total = _run_distance(activity, track)

    if sub in INDOOR_SUB_SPORTS:
        return SurfaceBreakdown(
            treadmill_m=total, confidence=INDOOR_CONFIDENCE, method=SurfaceMethod.INDOOR
        )
    if sub == "track":
        return SurfaceBreakdown(
            moderate_m=total, confidence=TRACK_SUB_SPORT_CONFIDENCE, method=SurfaceMethod.TRACK
        )
    if track is None and sub not in OUTDOOR_SUB_SPORTS and _steady_pace(samples):
        return SurfaceBreakdown(
            treadmill_m=total, confidence=STEADY_PACE_CONFIDENCE, method=SurfaceMethod.INDOOR
        )
    if track is not None and total >= OVAL_MIN_DISTANCE_M and _is_oval_laps(track):
        return SurfaceBreakdown(
            moderate_m=total, confidence=TRACK_GEOMETRY_CONFIDENCE, method=SurfaceMethod.TRACK
        )
    if track is not None and lookup is not None:
        try:
            mapped = _map_breakdown(track, total, lookup)
        except SurfaceLookupError:
            if on_lookup_error == "raise":
                raise
            mapped = None
        if mapped is not None:
            return mapped
    if sub in PRIORS:
        return _prior(PRIORS[sub], total)
    if track is not None:
        return _prior(PRIORS["plain"], total)
    return SurfaceBreakdown(unknown_m=total, confidence=0.0, method=SurfaceMethod.NONE)


def _run_distance(activity: DecodedActivity, track: Track | None) -> float:
    """Session distance if recorded, else the samples' distance channel, else the GPS length."""
    if activity.distance_m is not None and math.isfinite(activity.distance_m):
        return max(float(activity.distance_m), 0.0)
    samples = activity.samples
    if "distance_m" in samples:
        dist = samples["distance_m"].to_numpy(dtype=np.float64, na_value=np.nan)
        dist = dist[np.isfinite(dist)]
        if len(dist):
            return float(dist.max() - min(dist.min(), 0.0))
    if track is not None:
        return float(track.distance_m[-1])
    return 0.0


def _steady_pace(samples: pd.DataFrame) -> bool:
    """True when the moving speed barely varies (a treadmill belt), judged on smoothed speed,
    and the altitude (if recorded) stays flat."""
    if "altitude_m" in samples:
        alt = samples["altitude_m"].to_numpy(dtype=np.float64, na_value=np.nan)
        alt = alt[np.isfinite(alt)]
        if len(alt) and float(np.ptp(np.percentile(alt, [1, 99]))) > INDOOR_MAX_ALTITUDE_SPREAD_M:
            return False
    if "speed_mps" in samples:
        speed = samples["speed_mps"].to_numpy(dtype=np.float64, na_value=np.nan)
    elif "distance_m" in samples and len(samples) >= 2:
        dist = samples["distance_m"].to_numpy(dtype=np.float64, na_value=np.nan)
        index = pd.DatetimeIndex(samples.index)
        secs = (index - index[0]).total_seconds().to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = np.diff(dist) / np.diff(secs)
    else:
        return False
    moving = speed[np.isfinite(speed) & (speed > MOVING_SPEED_MPS)]
    if len(moving) < STEADY_MIN_MOVING_SAMPLES:
        return False
    smooth = pd.Series(moving).rolling(STEADY_SMOOTH_SAMPLES, center=True, min_periods=1).median()
    mean = float(smooth.mean())
    return mean > 0 and float(smooth.std(ddof=0)) / mean < STEADY_PACE_MAX_CV


def _is_oval_laps(track: Track) -> bool:
    """True when the fixes lie on a 400 m stadium outline and go round it at least twice."""
    if len(track.lat_deg) < 20:
        return False
    lat0 = math.radians(float(np.mean(track.lat_deg)))
    x = np.radians(track.lon_deg - track.lon_deg.mean()) * EARTH_RADIUS_M * math.cos(lat0)
    y = np.radians(track.lat_deg - track.lat_deg.mean()) * EARTH_RADIUS_M
    pts = np.column_stack((x, y))
    _, vectors = np.linalg.eigh(np.cov(pts.T))
    along = pts @ vectors[:, 1]  # eigh sorts ascending: last column is the major axis
    across = pts @ vectors[:, 0]
    lo_u, hi_u = np.percentile(along, [1, 99])
    lo_v, hi_v = np.percentile(across, [1, 99])
    major, minor = hi_u - lo_u, hi_v - lo_v
    if not (OVAL_MAJOR_M[0] <= major <= OVAL_MAJOR_M[1]):
        return False
    if not (OVAL_MINOR_M[0] <= minor <= OVAL_MINOR_M[1]):
        return False
    u = along - (lo_u + hi_u) / 2
    v = across - (lo_v + hi_v) / 2
    radius = minor / 2
    half_straight = major / 2 - radius
    off = np.where(
        np.abs(u) <= half_straight,
        np.abs(np.abs(v) - radius),
        np.abs(np.hypot(np.abs(u) - half_straight, v) - radius),
    )
    if float(np.mean(off <= OVAL_MAX_OFF_M)) < OVAL_MIN_ON_SHARE:
        return False
    angle = np.unwrap(np.arctan2(v, u))
    return abs(float(angle[-1] - angle[0])) / (2 * math.pi) >= OVAL_MIN_LAPS


def _map_breakdown(track: Track, total: float, lookup: SurfaceLookup) -> SurfaceBreakdown | None:
    """Metres per map bucket, fitted to the run's distance; None if the map matched too little."""
    buckets = list(lookup.segment_buckets(track))
    if len(buckets) != track.n_segments:
        raise ValueError(f"lookup returned {len(buckets)} buckets for {track.n_segments} segments")
    seg = track.segment_m
    metres = {"hard": 0.0, "moderate": 0.0, "soft": 0.0}
    for bucket, length in zip(buckets, seg, strict=True):
        if bucket is not None and length <= MAX_SEGMENT_M:
            metres[bucket] += float(length)
    covered = float(seg.sum())
    matched = sum(metres.values())
    if covered <= 0 or total <= 0:
        return None
    # The fixes' distance rarely equals the session's exactly: shrink to fit when the track is
    # longer, and count the part the track does not cover as unknown when it is shorter.
    scale = min(1.0, total / covered)
    if matched * scale < MIN_MAP_SHARE * total:
        return None
    return _fitted(
        total,
        hard=metres["hard"] * scale,
        moderate=metres["moderate"] * scale,
        soft=metres["soft"] * scale,
        confidence=MAP_CONFIDENCE,
        method=SurfaceMethod.MAP,
    )


def _prior(split: PriorSplit, total: float) -> SurfaceBreakdown:
    return _fitted(
        total,
        hard=split.hard * total,
        moderate=split.moderate * total,
        soft=split.soft * total,
        confidence=split.confidence,
        method=SurfaceMethod.PRIOR,
    )


def _fitted(
    total: float,
    *,
    hard: float,
    moderate: float,
    soft: float,
    confidence: float,
    method: SurfaceMethod,
) -> SurfaceBreakdown:
    """A breakdown whose unknown share is whatever the classified buckets leave of `total`."""
    return SurfaceBreakdown(
        hard_m=hard,
        moderate_m=moderate,
        soft_m=soft,
        unknown_m=max(total - hard - moderate - soft, 0.0),
        confidence=confidence,
        method=method,
    )


# -- weekly share ------------------------------------------------------------------------------
class SurfaceShare(NamedTuple):
    """Inputs of the `hard_surface_share` rule for one week (EVIDENCE 2)."""

    hard_share: float | None
    """sum(c * hard_m) / sum(c * classified_m); None when nothing is classified."""
    coverage: float
    """sum(c * classified_m) / sum(total_m); 0 for a week without running distance."""


def weekly_surface_share(breakdowns: Iterable[SurfaceBreakdown]) -> SurfaceShare:
    """Confidence-weighted hard share and coverage of a week's runs.

    Each run's classified metres (hard + moderate + soft + treadmill) count with its confidence
    c. Treadmill is classified but not hard. Coverage is weighted too, so a week of priors
    (c <= 0.35) never reaches the rule's 60 % coverage gate on guesses alone, while treadmill
    (0.95), track (0.7-0.9) and well-matched map runs (0.8 x matched share) can.
    """
    weighted_hard = weighted_classified = total = 0.0
    for b in breakdowns:
        c = min(max(b.confidence, 0.0), 1.0)
        weighted_hard += c * b.hard_m
        weighted_classified += c * (b.hard_m + b.moderate_m + b.soft_m + b.treadmill_m)
        total += b.total_m
    share = weighted_hard / weighted_classified if weighted_classified > 0 else None
    coverage = weighted_classified / total if total > 0 else 0.0
    return SurfaceShare(hard_share=share, coverage=coverage)
