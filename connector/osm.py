"""OpenStreetMap surface lookups for `analysis.surfaces` (EVIDENCE 3.7 layer 3).

Two sources of the same thing - the tags and geometry of ways near a run:

- `OsmExtractLookup` reads a local OSM XML extract (``.osm``, ``.osm.bz2``, ``.osm.gz``), once;
- `OverpassLookup` asks a configured Overpass-compatible endpoint, one POST per run, for the
  map tiles the run touches that are not cached yet.

Both keep ways in a `WayCache`: a small SQLite file (or ``:memory:``) with one row per way id
(tags + geometry + bounding box) and a list of "sources" already loaded (an extract's identity,
or an Overpass tile). A run is matched against the cached ways in its bounding box only, so
memory per lookup stays proportional to the run's neighbourhood, not to the extract.

Matching: each track segment's midpoint goes to the nearest way segment within
`max_match_m` (25 m, about GPS error plus half a road's width), via a uniform grid in local
metres; the segment takes that way's `bucket_for_tags`. No way within reach, or a way whose
tags say nothing about the surface, leaves the segment unknown.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import math
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from analysis.surfaces import (
    EARTH_RADIUS_M,
    Bucket,
    SurfaceLookupError,
    Track,
    bucket_for_tags,
)
from connector.errors import ConnectorError

DEFAULT_MAX_MATCH_M = 25.0
#: Overpass tiles: 0.01 deg is ~1.1 km north-south, so a 10 km loop asks for a few dozen tiles.
DEFAULT_TILE_DEG = 0.01
DEFAULT_TIMEOUT_S = 30.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: highway values that are not (yet, or any more) something to run on.
_NOT_RUNNABLE = frozenset({"proposed", "construction", "abandoned", "razed", "platform"})

LatLon = tuple[float, float]


class OsmLookupError(ConnectorError, SurfaceLookupError):
    """An OSM source could not be read (corrupt extract, unreachable endpoint)."""


class OverpassError(OsmLookupError):
    """The Overpass endpoint failed: timeout, HTTP error, or a body that is not a result."""


@dataclass(frozen=True, slots=True)
class Way:
    """One OSM way: its tags and its geometry as one or more polylines of (lat, lon).

    Several parts only when an extract is clipped and some of the way's nodes are missing;
    joining across the gap would invent a straight line that is not there.
    """

    id: int
    tags: Mapping[str, str]
    parts: tuple[tuple[LatLon, ...], ...]

    def bbox(self) -> tuple[float, float, float, float]:
        lats = [p[0] for part in self.parts for p in part]
        lons = [p[1] for part in self.parts for p in part]
        return min(lats), min(lons), max(lats), max(lons)


def is_runnable_way(tags: Mapping[str, str]) -> bool:
    """Ways worth indexing: any highway that exists, and running/athletics tracks."""
    highway = tags.get("highway")
    if highway is not None:
        return highway not in _NOT_RUNNABLE
    return tags.get("leisure") == "track"


# -- cache -------------------------------------------------------------------------------------
class WayCache:
    """SQLite cache of ways (id -> tags, geometry) and of which sources were fully loaded.

    Pass a file path to keep it across processes, or ``":memory:"`` (the default) for one
    process. Not shared between threads (sqlite3's default check).
    """

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = sqlite3.connect(str(path))
        with self._db:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS ways (
                    id INTEGER PRIMARY KEY,
                    min_lat REAL NOT NULL, min_lon REAL NOT NULL,
                    max_lat REAL NOT NULL, max_lon REAL NOT NULL,
                    tags TEXT NOT NULL, parts TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS ways_lat ON ways (min_lat, max_lat);
                CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY);
                """
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> WayCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_source(self, key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM sources WHERE key = ?", (key,)).fetchone()
        return row is not None

    def add(self, ways: Iterable[Way], sources: Iterable[str]) -> None:
        """Store ways and mark sources loaded, in one transaction (all or nothing)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO ways VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (w.id, *w.bbox(), json.dumps(dict(w.tags)), json.dumps(w.parts))
                    for w in ways
                    if w.parts
                ),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO sources VALUES (?)", ((key,) for key in sources)
            )

    def ways_in_bbox(self, south: float, west: float, north: float, east: float) -> list[Way]:
        rows = self._db.execute(
            "SELECT id, tags, parts FROM ways"
            " WHERE max_lat >= ? AND min_lat <= ? AND max_lon >= ? AND min_lon <= ?",
            (south, north, west, east),
        ).fetchall()
        return [
            Way(
                id=int(way_id),
                tags=json.loads(tags),
                parts=tuple(
                    tuple((float(p[0]), float(p[1])) for p in part) for part in json.loads(parts)
                ),
            )
            for way_id, tags, parts in rows
        ]


# -- matching ----------------------------------------------------------------------------------
class _SegmentGrid:
    """Way segments in local metres, bucketed in square cells of 2 x max distance."""

    def __init__(self, ways: Sequence[Way], lat0: float, lon0: float, max_m: float) -> None:
        self._lat0, self._lon0 = lat0, lon0
        self._kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self._ky = math.radians(1.0) * EARTH_RADIUS_M
        self._max_m = max_m
        self._cell = 2 * max_m
        self._segments: list[tuple[float, float, float, float, Bucket | None]] = []
        self._grid: dict[tuple[int, int], list[int]] = defaultdict(list)
        for way in ways:
            bucket = bucket_for_tags(way.tags)
            for part in way.parts:
                xy = [self._xy(lat, lon) for lat, lon in part]
                for (ax, ay), (bx, by) in itertools.pairwise(xy):
                    self._insert(ax, ay, bx, by, bucket)

    def _xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky

    def _insert(self, ax: float, ay: float, bx: float, by: float, bucket: Bucket | None) -> None:
        index = len(self._segments)
        self._segments.append((ax, ay, bx, by, bucket))
        # Sample the segment every max/2 metres: every point of it is then within max/4 of a
        # sample, so a 3 x 3 cell neighbourhood around a query finds all segments within max.
        steps = max(1, math.ceil(math.hypot(bx - ax, by - ay) / (self._max_m / 2)))
        cells = {
            (
                math.floor((ax + (bx - ax) * i / steps) / self._cell),
                math.floor((ay + (by - ay) * i / steps) / self._cell),
            )
            for i in range(steps + 1)
        }
        for cell in cells:
            self._grid[cell].append(index)

    def nearest_bucket(self, lat: float, lon: float) -> Bucket | None:
        """Bucket of the nearest way segment within reach, or None."""
        px, py = self._xy(lat, lon)
        cx, cy = math.floor(px / self._cell), math.floor(py / self._cell)
        best_d, best_bucket = self._max_m, None
        found = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for index in self._grid.get((cx + dx, cy + dy), ()):
                    ax, ay, bx, by, bucket = self._segments[index]
                    d = _point_segment_m(px, py, ax, ay, bx, by)
                    if d <= best_d and (not found or d < best_d):
                        best_d, best_bucket, found = d, bucket, True
        return best_bucket


def _point_segment_m(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _margin_deg(lat: float, metres: float) -> tuple[float, float]:
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return dlat, dlon


def match_track(track: Track, ways: Sequence[Way], max_match_m: float) -> list[Bucket | None]:
    """Bucket of the nearest way (within `max_match_m`) for each segment midpoint of a track."""
    if track.n_segments == 0:
        return []
    lats, lons = track.midpoints()
    grid = _SegmentGrid(ways, float(lats.mean()), float(lons.mean()), max_match_m)
    return [grid.nearest_bucket(float(a), float(b)) for a, b in zip(lats, lons, strict=True)]


def _cached_buckets(track: Track, cache: WayCache, max_match_m: float) -> list[Bucket | None]:
    south, west, north, east = track.bbox()
    dlat, dlon = _margin_deg(max(abs(south), abs(north)), max_match_m)
    ways = cache.ways_in_bbox(south - dlat, west - dlon, north + dlat, east + dlon)
    return match_track(track, ways, max_match_m)


# -- local extract -----------------------------------------------------------------------------
def _open_extract(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return cast("IO[bytes]", gzip.open(path, "rb"))
    return path.open("rb")


def _elements(path: Path, tag: str) -> Iterator[ET.Element]:
    """Stream the top-level elements named `tag`, clearing the tree behind them."""
    with _open_extract(path) as fh:
        context = ET.iterparse(fh, events=("start", "end"))
        _, root = next(context)
        depth = 0
        for event, elem in context:
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth == 0:  # a direct child of <osm> ended
                if elem.tag == tag:
                    yield elem
                root.clear()


def read_extract_ways(path: Path) -> list[Way]:
    """The runnable ways of an OSM XML extract, in two streaming passes.

    Pass 1 keeps only runnable ways (tags + node ids); pass 2 keeps only the coordinates of
    the nodes those ways use. Memory grows with the extract's path network, not its size: for
    a country-sized extract, clip it first (``osmium extract --bbox``).
    """
    try:
        pending: list[tuple[int, dict[str, str], list[int]]] = []
        needed: set[int] = set()
        for elem in _elements(path, "way"):
            tags = {t.get("k", ""): t.get("v", "") for t in elem.iter("tag")}
            if not is_runnable_way(tags):
                continue
            refs = [int(nd.get("ref", "0")) for nd in elem.iter("nd")]
            pending.append((int(elem.get("id", "0")), tags, refs))
            needed.update(refs)
        coords: dict[int, LatLon] = {}
        for elem in _elements(path, "node"):
            node_id = int(elem.get("id", "0"))
            if node_id in needed:
                coords[node_id] = (float(elem.get("lat", "nan")), float(elem.get("lon", "nan")))
                if len(coords) == len(needed):
                    break
    except (ET.ParseError, OSError, EOFError, ValueError) as exc:
        raise OsmLookupError(f"cannot read OSM extract {path}: {exc}") from exc
    return [Way(id=wid, tags=tags, parts=_split_parts(refs, coords)) for wid, tags, refs in pending]


def _split_parts(
    refs: Sequence[int], coords: Mapping[int, LatLon]
) -> tuple[tuple[LatLon, ...], ...]:
    """Polylines of consecutive nodes that exist (a clipped extract drops some)."""
    parts: list[tuple[LatLon, ...]] = []
    current: list[LatLon] = []
    for ref in refs:
        point = coords.get(ref)
        if point is None or not all(math.isfinite(v) for v in point):
            if len(current) >= 2:
                parts.append(tuple(current))
            current = []
        else:
            current.append(point)
    if len(current) >= 2:
        parts.append(tuple(current))
    return tuple(parts)


class OsmExtractLookup:
    """Surface lookup over a local OSM XML extract, parsed once into a `WayCache`.

    The extract is identified by path, size and modification time: a file cache keeps the
    parsed ways across processes until the extract changes. `reads` counts parses of the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        cache: WayCache | None = None,
        max_match_m: float = DEFAULT_MAX_MATCH_M,
    ) -> None:
        self.path = Path(path)
        self.cache = cache if cache is not None else WayCache()
        self.max_match_m = max_match_m
        self.reads = 0

    def _source_key(self) -> str:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise OsmLookupError(f"cannot read OSM extract {self.path}: {exc}") from exc
        return f"extract:{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def _ensure_loaded(self) -> None:
        key = self._source_key()
        if self.cache.has_source(key):
            return
        self.reads += 1
        self.cache.add(read_extract_ways(self.path), [key])

    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        if track.n_segments == 0:
            return []
        self._ensure_loaded()
        return _cached_buckets(track, self.cache, self.max_match_m)


# -- Overpass ----------------------------------------------------------------------------------
Tile = tuple[int, int]


class OverpassLookup:
    """Surface lookup through an Overpass API endpoint (configured; no default public server).

    One POST per run for the tiles (`tile_deg` squares) its fixes touch that the cache lacks;
    a run in a known area makes no request. `requests` counts POSTs made.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        cache: WayCache | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        tile_deg: float = DEFAULT_TILE_DEG,
        max_match_m: float = DEFAULT_MAX_MATCH_M,
        user_agent: str = "strideguard surface lookup",
    ) -> None:
        if urllib.parse.urlsplit(endpoint).scheme not in {"http", "https"}:
            raise ValueError(f"Overpass endpoint must be http(s): {endpoint!r}")
        self.endpoint = endpoint
        self.cache = cache if cache is not None else WayCache()
        self.timeout_s = timeout_s
        self.tile_deg = tile_deg
        self.max_match_m = max_match_m
        self.user_agent = user_agent
        self.requests = 0
        self._opener = urllib.request.build_opener()

    def _tile_key(self, tile: Tile) -> str:
        return f"overpass:{self.tile_deg}:{tile[0]}:{tile[1]}"

    def tiles_for(self, track: Track) -> set[Tile]:
        """Tiles holding every fix and its `max_match_m` surroundings."""
        south, _, north, _ = track.bbox()
        dlat, dlon = _margin_deg(max(abs(south), abs(north)), self.max_match_m)
        tiles: set[Tile] = set()
        for lat, lon in zip(track.lat_deg.tolist(), track.lon_deg.tolist(), strict=True):
            for a in (lat - dlat, lat + dlat):
                for b in (lon - dlon, lon + dlon):
                    tiles.add((math.floor(a / self.tile_deg), math.floor(b / self.tile_deg)))
        return tiles

    def query_for(self, tiles: Iterable[Tile]) -> str:
        """The Overpass QL asking for runnable ways in the given tiles, with tags and geometry."""
        clauses = []
        for ty, tx in sorted(tiles):
            s, w = ty * self.tile_deg, tx * self.tile_deg
            box = f"({s:.6f},{w:.6f},{s + self.tile_deg:.6f},{w + self.tile_deg:.6f})"
            clauses.append(f'way["highway"]{box};way["leisure"="track"]{box};')
        server_timeout = max(1, math.ceil(self.timeout_s))
        return f"[out:json][timeout:{server_timeout}];({''.join(clauses)});out tags geom;"

    def segment_buckets(self, track: Track) -> Sequence[Bucket | None]:
        if track.n_segments == 0:
            return []
        missing = [t for t in self.tiles_for(track) if not self.cache.has_source(self._tile_key(t))]
        if missing:
            ways = parse_overpass_json(self._post(self.query_for(missing)))
            self.cache.add(ways, [self._tile_key(t) for t in missing])
        return _cached_buckets(track, self.cache, self.max_match_m)

    def _post(self, query: str) -> bytes:
        body = urllib.parse.urlencode({"data": query}).encode()
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "User-Agent": self.user_agent,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                data: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise OverpassError(f"Overpass HTTP {exc.code} from {self.endpoint}") from exc
        except urllib.error.URLError as exc:
            raise OverpassError(f"Overpass unreachable at {self.endpoint}: {exc.reason}") from exc
        except (TimeoutError, OSError) as exc:
            raise OverpassError(f"Overpass request to {self.endpoint} failed: {exc}") from exc
        if len(data) > MAX_RESPONSE_BYTES:
            raise OverpassError(f"Overpass response over {MAX_RESPONSE_BYTES} bytes")
        return data


def parse_overpass_json(data: bytes) -> list[Way]:
    """Ways of an ``[out:json]`` answer with ``out tags geom``; refuses runtime-error answers.

    Overpass reports a query that ran out of time or memory with HTTP 200 and a `remark`; such
    a result is incomplete and must not be cached as if the tiles were empty.
    """
    try:
        payload: Any = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OverpassError(f"Overpass answer is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("elements"), list):
        raise OverpassError("Overpass answer has no 'elements' list")
    remark = payload.get("remark")
    if isinstance(remark, str) and "error" in remark.lower():
        raise OverpassError(f"Overpass reported: {remark}")
    ways = []
    for element in payload["elements"]:
        if not isinstance(element, dict) or element.get("type") != "way":
            continue
        tags = element.get("tags") or {}
        geometry = element.get("geometry") or []
        if not isinstance(tags, dict) or not isinstance(geometry, list):
            continue
        str_tags = {str(k): str(v) for k, v in tags.items()}
        if not is_runnable_way(str_tags):
            continue
        parts: list[tuple[LatLon, ...]] = []
        current: list[LatLon] = []
        for point in geometry:  # null entries mark nodes outside a clipped geometry
            if (
                isinstance(point, dict)
                and _is_number(point.get("lat"))
                and _is_number(point.get("lon"))
            ):
                current.append((float(point["lat"]), float(point["lon"])))
            else:
                if len(current) >= 2:
                    parts.append(tuple(current))
                current = []
        if len(current) >= 2:
            parts.append(tuple(current))
        if parts and isinstance(element.get("id"), int):
            ways.append(Way(id=element["id"], tags=str_tags, parts=tuple(parts)))
    return ways


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
