"""OSM surface lookups over a synthetic extract and a local fake Overpass server (no network)."""

from __future__ import annotations

import bz2
import gzip
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

from analysis.activity import DecodedActivity
from analysis.model import SurfaceMethod
from analysis.surfaces import EARTH_RADIUS_M, classify_surface, haversine_m, track_from_samples
from connector.errors import ConnectorError
from connector.osm import (
    OsmExtractLookup,
    OsmLookupError,
    OverpassError,
    OverpassLookup,
    WayCache,
    parse_overpass_json,
)

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

# Nodes of the synthetic map (id -> lat, lon): a ~230 m grid near 47 N 8 E.
NODES = {
    1: (47.0000, 8.0000),
    2: (47.0000, 8.0030),
    3: (47.0020, 8.0030),
    4: (47.0020, 8.0060),
    5: (47.0000, 8.0060),
    6: (47.0000, 8.0090),
    # a building far from the run's route, and a proposed road along the off-map leg
    20: (47.0100, 8.0100),
    21: (47.0101, 8.0100),
    22: (47.0101, 8.0101),
    30: (47.0005, 8.0120),
    31: (47.0030, 8.0120),
}
WAYS: dict[int, tuple[list[int], dict[str, str]]] = {
    100: ([1, 2], {"highway": "residential", "surface": "asphalt", "name": "Asphaltweg"}),
    101: ([2, 3], {"highway": "path", "surface": "grass"}),
    102: ([3, 4], {"highway": "track", "surface": "gravel"}),
    103: ([4, 5], {"highway": "residential"}),  # no surface: a motor road, so hard
    104: ([5, 6], {"highway": "footway"}),  # matched, but says nothing: unknown
    105: ([20, 21, 22, 20], {"building": "yes"}),
    106: ([30, 31], {"highway": "proposed"}),
}
#: The run: along ways 100..104 in order, then off-map across a field to the north-east.
LEGS = [
    (100, NODES[1], NODES[2]),
    (101, NODES[2], NODES[3]),
    (102, NODES[3], NODES[4]),
    (103, NODES[4], NODES[5]),
    (104, NODES[5], NODES[6]),
    (None, NODES[6], (47.0030, 8.0120)),
]
BUCKET_OF_WAY = {100: "hard", 101: "soft", 102: "moderate", 103: "hard", 104: None, None: None}


def osm_xml(
    nodes: dict[int, tuple[float, float]], ways: dict[int, tuple[list[int], dict[str, str]]]
) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines.append('  <bounds minlat="46.99" minlon="7.99" maxlat="47.02" maxlon="8.02"/>')
    for node_id, (lat, lon) in nodes.items():
        lines.append(f'  <node id="{node_id}" version="1" lat="{lat}" lon="{lon}"/>')
    lines.append(
        '  <node id="99" version="1" lat="47.05" lon="8.05"><tag k="amenity" v="bench"/></node>'
    )
    for way_id, (refs, tags) in ways.items():
        lines.append(f'  <way id="{way_id}" version="1">')
        lines.extend(f'    <nd ref="{ref}"/>' for ref in refs)
        lines.extend(f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append("  </way>")
    lines.append('  <relation id="7"><member type="way" ref="100" role=""/></relation>')
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


@dataclass
class SyntheticRun:
    samples: pd.DataFrame
    expected: dict[str | None, float] = field(default_factory=dict)
    """Metres per bucket (None = unknown), from great-circle lengths of the run's segments."""
    total: float = 0.0


def synthetic_run(step_m: float = 5.0) -> SyntheticRun:
    """Fixes every ~5 m exactly along each leg; the legs' junctions are fixes themselves."""
    lats: list[float] = [LEGS[0][1][0]]
    lons: list[float] = [LEGS[0][1][1]]
    leg_of_segment: list[int | None] = []
    for way_id, (lat_a, lon_a), (lat_b, lon_b) in LEGS:
        length = float(haversine_m(lat_a, lon_a, lat_b, lon_b))
        n = max(1, math.ceil(length / step_m))
        for i in range(1, n + 1):
            lats.append(lat_a + (lat_b - lat_a) * i / n)
            lons.append(lon_a + (lon_b - lon_a) * i / n)
            leg_of_segment.append(way_id)
    lat, lon = np.array(lats), np.array(lons)
    seg = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    expected: dict[str | None, float] = {"hard": 0.0, "moderate": 0.0, "soft": 0.0, None: 0.0}
    for way_id, length in zip(leg_of_segment, seg, strict=True):
        expected[BUCKET_OF_WAY[way_id]] += float(length)
    index = pd.DatetimeIndex(
        pd.Timestamp(START) + pd.to_timedelta(np.arange(len(lat)), unit="s"), name="timestamp"
    )
    samples = pd.DataFrame(
        {"lat_deg": lat, "lon_deg": lon, "distance_m": np.concatenate(([0.0], np.cumsum(seg)))},
        index=index,
    )
    return SyntheticRun(samples=samples, expected=expected, total=float(seg.sum()))


def run_activity(
    samples: pd.DataFrame, distance_m: float, sub_sport: str | None = None
) -> DecodedActivity:
    return DecodedActivity(
        sport="running",
        sub_sport=sub_sport,
        start=START,
        local_offset_s=0,
        elapsed_s=float(len(samples)),
        moving_s=None,
        distance_m=distance_m,
        ascent_m=None,
        avg_hr=None,
        max_hr=None,
        has_gps=True,
        device=None,
        partial=False,
        samples=samples,
    )


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    path = tmp_path / "area.osm"
    path.write_text(osm_xml(NODES, WAYS), encoding="utf-8")
    return path


@pytest.fixture
def cache() -> Iterator[WayCache]:
    with WayCache() as c:
        yield c


def assert_matches_geometry(run: SyntheticRun, lookup: OsmExtractLookup | OverpassLookup) -> None:
    b = classify_surface(run_activity(run.samples, run.total), lookup=lookup)
    assert b is not None
    assert b.method is SurfaceMethod.MAP
    assert b.hard_m == pytest.approx(run.expected["hard"], rel=1e-6)
    assert b.moderate_m == pytest.approx(run.expected["moderate"], rel=1e-6)
    assert b.soft_m == pytest.approx(run.expected["soft"], rel=1e-6)
    assert b.unknown_m == pytest.approx(run.expected[None], rel=1e-6)
    assert b.total_m == pytest.approx(run.total)


# -- local extract ----------------------------------------------------------------------------


def test_extract_buckets_follow_the_ways_the_run_is_on(extract: Path, cache: WayCache) -> None:
    run = synthetic_run()
    # sanity of the fixture itself: every bucket is represented, off-map part included
    assert all(v > 100 for v in run.expected.values())
    assert_matches_geometry(run, OsmExtractLookup(extract, cache=cache))


@pytest.mark.parametrize("suffix", [".osm.bz2", ".osm.gz"])
def test_compressed_extracts_read_the_same(tmp_path: Path, suffix: str, cache: WayCache) -> None:
    data = osm_xml(NODES, WAYS).encode()
    path = tmp_path / f"area{suffix}"
    path.write_bytes(bz2.compress(data) if suffix.endswith("bz2") else gzip.compress(data))
    assert_matches_geometry(synthetic_run(), OsmExtractLookup(path, cache=cache))


def test_offsets_within_reach_match_and_beyond_do_not(extract: Path, cache: WayCache) -> None:
    lookup = OsmExtractLookup(extract, cache=cache)
    lon = np.linspace(8.0005, 8.0025, 40)  # along way 100, away from its ends
    for offset_m, expected in [(0.0, "hard"), (15.0, "hard"), (40.0, None)]:
        lat = np.full(40, 47.0 + math.degrees(-offset_m / EARTH_RADIUS_M))  # south of it
        track = track_from_samples(pd.DataFrame({"lat_deg": lat, "lon_deg": lon}))
        assert track is not None
        assert set(lookup.segment_buckets(track)) == {expected}


def test_extract_is_read_once_per_cache(extract: Path, tmp_path: Path) -> None:
    run = synthetic_run()
    track = track_from_samples(run.samples)
    assert track is not None
    with WayCache(tmp_path / "ways.sqlite") as file_cache:
        lookup = OsmExtractLookup(extract, cache=file_cache)
        first = lookup.segment_buckets(track)
        second = lookup.segment_buckets(track)
        assert first == second
        assert lookup.reads == 1
    # another process, same cache file: the parsed ways are reused
    with WayCache(tmp_path / "ways.sqlite") as file_cache:
        again = OsmExtractLookup(extract, cache=file_cache)
        assert again.segment_buckets(track) == first
        assert again.reads == 0
        # a changed extract (different size and mtime) is read again
        extract.write_text(osm_xml(NODES, WAYS) + "\n", encoding="utf-8")
        os.utime(extract, ns=(time.time_ns(), time.time_ns() + 10**9))
        again.segment_buckets(track)
        assert again.reads == 1


def test_clipped_extract_does_not_invent_segments(tmp_path: Path, cache: WayCache) -> None:
    nodes = {k: v for k, v in NODES.items() if k != 3}  # way 101 and 102 lose their shared node
    path = tmp_path / "clipped.osm"
    path.write_text(osm_xml(nodes, WAYS), encoding="utf-8")
    run = synthetic_run()
    b = classify_surface(
        run_activity(run.samples, run.total), lookup=OsmExtractLookup(path, cache=cache)
    )
    assert b is not None
    assert b.soft_m == 0  # single-node remnants of ways 101 and 102 are no segments
    assert b.moderate_m == 0
    # the first/last 25 m of the lost legs are within reach of the neighbouring roads
    assert b.hard_m == pytest.approx(run.expected["hard"] + 2 * 25.0, abs=5.0)


def test_corrupt_extract_is_an_error_and_the_classifier_falls_back(
    tmp_path: Path, cache: WayCache
) -> None:
    path = tmp_path / "broken.osm"
    path.write_text(osm_xml(NODES, WAYS)[:400], encoding="utf-8")
    lookup = OsmExtractLookup(path, cache=cache)
    run = synthetic_run()
    track = track_from_samples(run.samples)
    assert track is not None
    with pytest.raises(OsmLookupError) as info:
        lookup.segment_buckets(track)
    assert isinstance(info.value, ConnectorError)
    b = classify_surface(run_activity(run.samples, run.total), lookup=lookup)
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    with pytest.raises(OsmLookupError):
        OsmExtractLookup(tmp_path / "missing.osm", cache=cache).segment_buckets(track)


# -- Overpass ---------------------------------------------------------------------------------


def overpass_answer() -> dict[str, object]:
    """What `[out:json]; ...; out tags geom;` returns for the synthetic map (recorded shape)."""
    elements: list[dict[str, object]] = []
    for way_id, (refs, tags) in WAYS.items():
        if "highway" not in tags:
            continue
        geometry = [{"lat": NODES[r][0], "lon": NODES[r][1]} for r in refs]
        elements.append(
            {
                "type": "way",
                "id": way_id,
                "bounds": {
                    "minlat": min(g["lat"] for g in geometry),
                    "minlon": min(g["lon"] for g in geometry),
                    "maxlat": max(g["lat"] for g in geometry),
                    "maxlon": max(g["lon"] for g in geometry),
                },
                "nodes": refs,
                "geometry": geometry,
                "tags": tags,
            }
        )
    return {
        "version": 0.6,
        "generator": "Overpass API 0.7.62.1 084b4234",
        "osm3s": {"timestamp_osm_base": "2026-03-01T12:00:00Z", "copyright": "ODbL"},
        "elements": elements,
    }


@dataclass
class FakeOverpass:
    url: str
    bodies: list[str]
    respond: Callable[[BaseHTTPRequestHandler], None]


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json"
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (timeout test)


@pytest.fixture
def overpass(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOverpass]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    bodies: list[str] = []
    fake = FakeOverpass(
        url="",
        bodies=bodies,
        respond=lambda h: send(h, 200, json.dumps(overpass_answer()).encode()),
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            bodies.append(self.rfile.read(length).decode())
            fake.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/interpreter"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_overpass_answer_is_matched_like_the_extract(
    overpass: FakeOverpass, cache: WayCache
) -> None:
    lookup = OverpassLookup(overpass.url, cache=cache, timeout_s=5)
    assert_matches_geometry(synthetic_run(), lookup)
    assert len(overpass.bodies) == 1
    query = parse_qs(overpass.bodies[0])["data"][0]
    assert query.startswith("[out:json]")
    assert 'way["highway"]' in query
    assert query.endswith("out tags geom;")


def test_overpass_makes_one_request_per_new_area(overpass: FakeOverpass, cache: WayCache) -> None:
    lookup = OverpassLookup(overpass.url, cache=cache, timeout_s=5)
    track = track_from_samples(synthetic_run().samples)
    assert track is not None
    first = lookup.segment_buckets(track)
    second = lookup.segment_buckets(track)
    assert first == second
    assert lookup.requests == 1
    assert len(overpass.bodies) == 1
    # a second lookup sharing the cache needs no request either
    assert OverpassLookup(overpass.url, cache=cache).segment_buckets(track) == first
    assert len(overpass.bodies) == 1


def test_overpass_http_error_is_an_overpass_error(overpass: FakeOverpass, cache: WayCache) -> None:
    overpass.respond = lambda h: send(h, 429, b"rate limited", "text/plain")
    lookup = OverpassLookup(overpass.url, cache=cache, timeout_s=5)
    track = track_from_samples(synthetic_run().samples)
    assert track is not None
    with pytest.raises(OverpassError, match="429"):
        lookup.segment_buckets(track)
    # nothing was cached: once the server recovers, the same tiles are asked for again
    overpass.respond = lambda h: send(h, 200, json.dumps(overpass_answer()).encode())
    assert "hard" in lookup.segment_buckets(track)
    assert len(overpass.bodies) == 2


def test_overpass_timeout_is_an_overpass_error(overpass: FakeOverpass, cache: WayCache) -> None:
    def slow(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        send(handler, 200, b"{}")

    overpass.respond = slow
    lookup = OverpassLookup(overpass.url, cache=cache, timeout_s=0.2)
    track = track_from_samples(synthetic_run().samples)
    assert track is not None
    started = time.monotonic()
    with pytest.raises(OverpassError):
        lookup.segment_buckets(track)
    assert time.monotonic() - started < 0.9


def test_overpass_runtime_error_remark_is_not_cached(
    overpass: FakeOverpass, cache: WayCache
) -> None:
    answer = {**overpass_answer(), "remark": 'runtime error: Query timed out in "query" at line 1'}
    overpass.respond = lambda h: send(h, 200, json.dumps(answer).encode())
    lookup = OverpassLookup(overpass.url, cache=cache, timeout_s=5)
    run = synthetic_run()
    track = track_from_samples(run.samples)
    assert track is not None
    with pytest.raises(OverpassError, match="runtime error"):
        lookup.segment_buckets(track)
    b = classify_surface(run_activity(run.samples, run.total, "street"), lookup=lookup)
    assert b is not None
    assert b.method is SurfaceMethod.PRIOR
    assert len(overpass.bodies) == 2


def test_overpass_unreachable_endpoint(cache: WayCache) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lookup = OverpassLookup(f"http://127.0.0.1:{port}/api/interpreter", cache=cache, timeout_s=2)
    track = track_from_samples(synthetic_run().samples)
    assert track is not None
    with pytest.raises(OverpassError, match="unreachable"):
        lookup.segment_buckets(track)


@pytest.mark.parametrize("endpoint", ["file:///etc/passwd", "ftp://example.org/", "interpreter"])
def test_overpass_endpoint_must_be_http(endpoint: str) -> None:
    with pytest.raises(ValueError, match="http"):
        OverpassLookup(endpoint)


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"[]", b'{"elements": 3}'])
def test_overpass_non_results_are_refused(body: bytes) -> None:
    with pytest.raises(OverpassError):
        parse_overpass_json(body)


def test_overpass_parser_skips_what_it_cannot_use() -> None:
    answer = {
        "elements": [
            {"type": "node", "id": 1, "lat": 47.0, "lon": 8.0},
            {
                "type": "way",
                "id": 2,
                "tags": {"building": "yes"},
                "geometry": [{"lat": 1, "lon": 1}] * 2,
            },
            {
                "type": "way",
                "id": 3,
                "tags": {"highway": "path"},
                "geometry": [{"lat": 47.0, "lon": 8.0}],
            },
            {
                "type": "way",
                "id": 4,
                "tags": {"highway": "residential"},
                "geometry": [
                    {"lat": 47.0, "lon": 8.0},
                    None,
                    {"lat": 47.1, "lon": 8.1},
                    {"lat": 47.2, "lon": 8.2},
                ],
            },
        ]
    }
    ways = parse_overpass_json(json.dumps(answer).encode())
    assert [w.id for w in ways] == [4]
    assert ways[0].parts == (((47.1, 8.1), (47.2, 8.2)),)
