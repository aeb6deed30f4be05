"""Tests of `connector.fit` against the shared corpus of real device FIT files.

Oracles are independent of the module: plain fitdecode reads (stock reader, default processor),
MANIFEST.tsv, and hand-written expectations per file (from the manifest and from looking at the
files). Decodes are cached per file so the module stays fast.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fitdecode
import numpy as np
import pandas as pd
import pytest

from analysis.activity import SAMPLE_COLUMNS, DecodedFile
from connector import fit
from connector.errors import FitDecodeError
from connector.fit import _fit_crc, _make_reader, decode_fit
from tests.conftest import SAMPLES_DIR

_P = "dtcooper__python-fitparse__"
_E = "thomaschampagne__elevate__"
_J = "jarkko__fit-analyzer__"

OK, PARTIAL, FAIL = "ok", "partial", "fail"
RUN, RUN_G = ("running", None), ("running", "generic")
STRENGTH = ("training", "strength_training")

#: file -> (outcome, [(sport, sub_sport) of each activity] or the failure reason).
EXPECTED: dict[str, tuple[str, Any]] = {
    f"{_P}2013-02-06-12-11-14.fit": (OK, [RUN_G]),
    f"{_P}20170518-191602-1740899583.fit": (OK, [("fitness_equipment", "indoor_rowing")]),
    f"{_P}2019-02-17-062644-ELEMNT-297E-195-0.fit": (OK, [("cycling", None)]),
    f"{_P}Activity.fit": (OK, [RUN_G]),
    # Two identical chained copies of Activity.fit (second CRC wrong): imported once, warned.
    f"{_P}activity-activity-filecrc.fit": (OK, [RUN_G]),
    f"{_P}activity-filecrc.fit": (OK, [RUN_G]),  # bad CRC: a warning, not a rejection
    # Multisport: transitions skipped; the first session is "generic".
    f"{_P}activity-large-fenxi2-multisport.fit": (
        OK,
        [("generic", None), RUN, RUN, ("cycling", None)],
    ),
    # Complete first FIT file, corrupt chained header after it: file partial, activity intact.
    f"{_P}activity-settings-corruptheader.fit": (PARTIAL, [RUN_G]),
    f"{_P}activity-settings-nodata.fit": (PARTIAL, [RUN_G]),  # truncated 2nd chained header
    f"{_P}activity-small-fenix2-run.fit": (OK, [RUN]),
    f"{_P}activity-unexpected-eof.fit": (PARTIAL, [RUN_G]),  # cut inside the activity message
    f"{_P}compressed-speed-distance.fit": (OK, [RUN]),  # device clock unset: relative times
    f"{_P}coros-pace-2-cycling-misaligned-fields.fit": (OK, [("cycling", None)]),
    f"{_P}developer-types-sample.fit": (OK, [RUN_G]),
    f"{_P}elemnt-bolt-no-application-id-inside-developer-data-id.fit": (OK, [("cycling", None)]),
    f"{_P}event_timestamp.fit": (OK, [("swimming", "lap_swimming")]),
    f"{_P}garmin-fenix-5-bike.fit": (OK, [("cycling", "generic")]),
    f"{_P}garmin-fenix-5-run.fit": (OK, [RUN_G]),
    f"{_P}garmin-fenix-5-walk.fit": (OK, [("walking", "generic")]),
    # Sigma, truncated before any session: one activity from records, sport from `sport`.
    f"{_P}nick.fit": (PARTIAL, [("cycling", None)]),
    f"{_P}null_compressed_speed_dist.fit": (OK, [("cycling", "virtual_activity")]),
    f"{_P}sample_mulitple_header.fit": (
        OK,
        [("swimming", "open_water"), ("cycling", "generic"), RUN_G],
    ),
    # Summary first, then a byte goes missing at 7451 and the rest cannot be decoded.
    f"{_P}strava-android-app-201.10-b1218918.fit": (PARTIAL, [RUN]),
    "fgebhart__workoutizer__2020-10-25-10-54-06.fit": (OK, [("cycling", "generic")]),
    "fgebhart__workoutizer__hike_with_coordinates_muggenbrunn.fit": (OK, [("walking", "generic")]),
    f"{_J}20474406937_ACTIVITY.fit": (OK, [STRENGTH]),
    f"{_J}20548472357_ACTIVITY.fit": (OK, [("volleyball", "generic")]),
    f"{_J}20555050352_ACTIVITY.fit": (OK, [STRENGTH, RUN_G, STRENGTH]),
    f"{_J}20744294788_ACTIVITY.fit": (OK, [("cycling", "indoor_cycling"), STRENGTH]),
    f"{_J}20747700969_ACTIVITY.fit": (OK, [("cycling", "indoor_cycling")]),
    f"{_J}20748058539_ACTIVITY.fit": (OK, [STRENGTH]),
    "muktihari__fit__big_activity.fit": (OK, [("cycling", "road")]),
    "muktihari__fit__triathlon_summary_first.fit": (
        OK,
        [("swimming", "open_water"), ("cycling", "generic"), RUN_G],
    ),
    "polyvertex__fitdecode__garmin-fr935-cr.fit": (OK, [("swimming", "generic")]),
    f"{_E}bloemendaal.fit": (OK, [("running", "trail")]),
    f"{_E}empty.fit": (FAIL, "empty file"),
    f"{_E}flagged-hr.fit": (OK, [STRENGTH]),
    f"{_E}kaiteriteri.fit": (OK, [RUN_G]),
    f"{_E}loup-blanc.fit": (OK, [("running", "trail")]),
    f"{_E}portland.fit": (OK, [RUN_G]),
    f"{_E}pyselsky.fit": (OK, [RUN]),
    f"{_E}sloatsburg.fit": (OK, [RUN_G]),
    f"{_E}treadmill.fit": (OK, [("running", "treadmill")]),
    f"{_E}trosku.fit": (OK, [RUN]),
    f"{_E}zwift-pschit.fit": (OK, [("cycling", "virtual_activity")]),
    "tormoder__fit__0134902991.fit": (OK, [("cycling", "indoor_cycling")]),
    "tormoder__fit__garmin.fit": (OK, [("cycling", "road")]),
    "tormoder__fit__mornindew-broken.fit": (OK, [RUN_G]),
    "tormoder__fit__unterminated-strings.fit": (OK, [("cycling", "indoor_cycling")]),
}

#: Files over 400 kB: their per-file oracle checks are marked slow (`-m "not slow"` skips them).
LARGE = {
    f"{_P}activity-large-fenxi2-multisport.fit",
    f"{_P}2019-02-17-062644-ELEMNT-297E-195-0.fit",
    f"{_P}nick.fit",
    "muktihari__fit__big_activity.fit",
    "tormoder__fit__garmin.fit",
    f"{_E}loup-blanc.fit",
    f"{_E}portland.fit",
}


def _params(names: Any) -> list[Any]:
    return [
        pytest.param(n, id=n, marks=[pytest.mark.slow] if n in LARGE else []) for n in sorted(names)
    ]


DECODED = _params(name for name, (outcome, _) in EXPECTED.items() if outcome != FAIL)
COMPLETE = {name for name, (outcome, _) in EXPECTED.items() if outcome == OK}
#: Synthetic: one record cloned 99,998 times (constant distance) past the session's end.
SYNTHETIC = {"muktihari__fit__big_activity.fit"}


@cache
def _bytes(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


@cache
def _decode(name: str) -> DecodedFile | FitDecodeError:
    try:
        return decode_fit(_bytes(name))
    except FitDecodeError as exc:
        return exc


def _ok(name: str) -> DecodedFile:
    result = _decode(name)
    assert isinstance(result, DecodedFile), result
    return result


@dataclass
class Oracle:
    """What a plain, stock fitdecode read of the file says (default processor)."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    hr: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, Any] | None = None


@cache
def _oracle(name: str) -> Oracle:
    out = Oracle()
    reader = fitdecode.FitReader(
        io.BytesIO(_bytes(name)),
        check_crc=fitdecode.CrcCheck.DISABLED,
        error_handling=fitdecode.ErrorHandling.IGNORE,
    )
    try:
        for frame in reader:
            if frame.frame_type != fitdecode.FIT_FRAME_DATA:
                continue
            values = {}
            for fd in frame.fields:
                if fd.name not in values or values[fd.name] is None:
                    values[fd.name] = fd.value
            if frame.name == "session":
                out.sessions.append(values)
            elif frame.name == "record":
                out.records.append(values)
            elif frame.name == "hr":
                out.hr.append({"frame": frame})
            elif frame.name == "activity" and out.activity is None:
                out.activity = values
    except fitdecode.FitError:
        pass
    return out


@cache
def _manifest() -> dict[str, dict[str, str]]:
    path = SAMPLES_DIR.parent / "MANIFEST.tsv"
    with path.open(newline="") as fh:
        return {Path(r["file"]).name: r for r in csv.DictReader(fh, delimiter="\t")}


# ---------------------------------------------------------------------------------------------


def test_expectations_cover_the_whole_corpus(samples_dir: Path) -> None:
    assert {p.name for p in samples_dir.glob("*.fit")} == set(EXPECTED)
    assert set(_manifest()) == set(EXPECTED)


@pytest.mark.parametrize("name", _params(EXPECTED))
def test_corpus_outcome(name: str) -> None:
    outcome, detail = EXPECTED[name]
    result = _decode(name)
    if outcome == FAIL:
        assert isinstance(result, FitDecodeError)
        assert detail in str(result)
        return
    assert isinstance(result, DecodedFile), result
    assert [(a.sport, a.sub_sport) for a in result.activities] == detail
    assert result.partial is (outcome == PARTIAL)
    assert [a.session_index for a in result.activities] == list(range(len(detail)))
    if outcome == OK:
        assert not any(a.partial for a in result.activities)
    else:
        assert result.warnings


@pytest.mark.parametrize("name", DECODED)
def test_samples_follow_the_contract(name: str) -> None:
    for act in _ok(name).activities:
        s = act.samples
        assert set(s.columns) <= set(SAMPLE_COLUMNS)
        assert all(s[c].dtype == np.float64 and s[c].notna().any() for c in s.columns)
        assert isinstance(s.index, pd.DatetimeIndex)
        assert s.index.name == "timestamp"
        assert str(s.index.tz) == "UTC"
        assert s.index.is_monotonic_increasing
        assert s.index.is_unique
        assert act.start.tzinfo is not None
        assert act.start.utcoffset() is not None
        assert act.has_gps == ("lat_deg" in s)
        if "lat_deg" in s:
            assert s["lat_deg"].abs().max() <= 90
            assert s["lon_deg"].abs().max() <= 180


def _kept_sessions(name: str) -> list[dict[str, Any]]:
    kept, seen = [], set()
    for s in _oracle(name).sessions:
        key = (s.get("sport"), s.get("start_time"), s.get("total_elapsed_time"))
        if s.get("sport") != "transition" and key not in seen:
            seen.add(key)
            kept.append(s)
    return sorted(kept, key=lambda s: s["start_time"])


@pytest.mark.parametrize("name", DECODED)
def test_session_totals_equal_the_files_session_message(name: str) -> None:
    sessions = _kept_sessions(name)
    if name == f"{_P}compressed-speed-distance.fit":
        pytest.skip("relative device timestamps: start is re-anchored (own test)")
    result = _ok(name)
    if not sessions:
        assert len(result.activities) == 1
        assert result.activities[0].partial
        return
    assert len(result.activities) == len(sessions)
    for act, s in zip(result.activities, sessions, strict=True):
        assert act.start == s["start_time"]
        assert act.elapsed_s == pytest.approx(s["total_elapsed_time"])
        assert act.moving_s == pytest.approx(s.get("total_timer_time"))
        for ours, theirs in (
            (act.distance_m, s.get("total_distance")),
            (act.ascent_m, s.get("total_ascent")),
            (act.avg_hr, s.get("avg_heart_rate")),
            (act.max_hr, s.get("max_heart_rate")),
        ):
            if theirs is not None:
                assert ours == pytest.approx(theirs)


@pytest.mark.parametrize("name", _params(COMPLETE - SYNTHETIC))
def test_record_distance_agrees_with_session_distance(name: str) -> None:
    checked = 0
    for act in _ok(name).activities:
        if "distance_m" not in act.samples or not act.distance_m or act.distance_m < 100:
            continue
        d = act.samples["distance_m"].dropna()
        # In multisport files record distance runs on across sessions: compare what is covered.
        covered = float(d.iloc[-1] - d.iloc[0])
        assert covered == pytest.approx(act.distance_m, rel=0.01)
        checked += 1
    if not checked:
        pytest.skip("no distance in this file's sessions")


@pytest.mark.parametrize("name", DECODED)
def test_record_counts(name: str) -> None:
    """Plain fitdecode agrees with MANIFEST; we keep one sample per distinct record instant."""
    oracle = _oracle(name)
    assert len(oracle.records) == int(_manifest()[name]["records"])
    result = _ok(name)
    if len(result.activities) != 1 or name == f"{_P}strava-android-app-201.10-b1218918.fit":
        return  # multisport splits records; Strava's last record has a corrupt timestamp
    distinct = {r["timestamp"] for r in oracle.records if r.get("timestamp") is not None}
    assert len(result.activities[0].samples) == len(distinct)


def test_device_names_match_manifest() -> None:
    for name in sorted(set(EXPECTED) - LARGE - {f"{_E}empty.fit"}):
        expected = _manifest()[name]["device"]
        manufacturer, _, product = expected.partition("/")
        for act in _ok(name).activities:
            assert act.device is not None
            if product == "None":
                assert act.device.split("/")[0] == manufacturer
            else:
                assert act.device == expected


def test_semicircles_become_degrees() -> None:
    name = f"{_P}activity-small-fenix2-run.fit"
    first = _oracle(name).records[0]
    s = _ok(name).activities[0].samples
    assert s["lat_deg"].iloc[0] == pytest.approx(first["position_lat"] * 180 / 2**31)
    assert s["lon_deg"].iloc[0] == pytest.approx(first["position_long"] * 180 / 2**31)
    assert 58.9 < s["lat_deg"].iloc[0] < 59.0  # Stavanger, Norway
    assert 5.7 < s["lon_deg"].iloc[0] < 5.8


def test_running_cadence_is_steps_per_minute_and_dynamics_are_kept() -> None:
    name = f"{_P}activity-small-fenix2-run.fit"
    first = _oracle(name).records[0]
    s = _ok(name).activities[0].samples
    expected = 2 * (first["cadence"] + (first.get("fractional_cadence") or 0))
    assert s["cadence_spm"].iloc[0] == pytest.approx(expected)
    assert 140 < s["cadence_spm"].median() < 200
    assert 50 < s["vertical_oscillation_mm"].median() < 150
    assert 150 < s["stance_time_ms"].median() < 350


def test_cycling_cadence_is_left_in_rpm() -> None:
    s = _ok(f"{_P}elemnt-bolt-no-application-id-inside-developer-data-id.fit").activities[0]
    assert 50 < s.samples["cadence_spm"].median() < 110


@pytest.mark.parametrize(
    ("name", "offset_s"),
    [
        (f"{_E}flagged-hr.fit", 3 * 3600),  # local - utc = 2:59:13 in the file: rounded
        (f"{_E}kaiteriteri.fit", 13 * 3600),
        (f"{_E}sloatsburg.fit", -4 * 3600),
    ],
)
def test_local_offset_from_activity_local_timestamp(name: str, offset_s: int) -> None:
    act = _oracle(name).activity
    assert act is not None
    raw = (act["local_timestamp"] - act["timestamp"]).total_seconds()
    assert abs(raw - offset_s) < 15 * 60
    assert _ok(name).activities[0].local_offset_s == offset_s


def test_unusable_local_timestamp_falls_back_to_utc_with_a_warning() -> None:
    result = _ok(f"{_E}zwift-pschit.fit")  # Zwift writes local_timestamp = 0
    assert result.activities[0].local_offset_s == 0
    assert any("local offset" in w for w in result.warnings)


def test_relative_device_clock_is_anchored_on_local_timestamp() -> None:
    result = _ok(f"{_P}compressed-speed-distance.fit")
    act = result.activities[0]
    assert act.start.year == 2012
    assert act.start.month == 2
    assert act.start.day == 13
    assert act.samples.index[0].year == 2012
    assert any("clock" in w for w in result.warnings)


def test_hr_messages_fill_records_without_heart_rate() -> None:
    name = f"{_P}event_timestamp.fit"
    oracle = _oracle(name)
    assert all(r.get("heart_rate") is None for r in oracle.records)
    s = _ok(name).activities[0].samples
    assert "hr_bpm" in s
    assert s["hr_bpm"].notna().mean() > 0.9
    # Independent, coarser oracle: fitdecode's own expansion of the hr messages (its times can
    # be a few seconds off), sampled at the same instants.
    times, bpms = [], []
    for item in oracle.hr:
        frame = item["frame"]
        stamps = [
            f.value for f in frame.fields if f.name == "event_timestamp" and f.field_def is None
        ]
        values = frame.get_value("filtered_bpm", fallback=None)
        if stamps and isinstance(values, tuple):
            times += [t.timestamp() for t in stamps]
            bpms += list(values[: len(stamps)])
    order = np.argsort(times)
    t, b = np.asarray(times)[order], np.asarray(bpms, dtype=float)[order]
    ours = s["hr_bpm"].dropna()
    at = ours.index.as_unit("s").asi8.astype(float)
    idx = np.clip(np.searchsorted(t, at), 0, len(t) - 1)
    assert float(np.median(np.abs(b[idx] - ours.to_numpy()))) <= 3.0


def test_hr_messages_only_fill_gaps() -> None:
    name = "polyvertex__fitdecode__garmin-fr935-cr.fit"
    native = {
        r["timestamp"]: r["heart_rate"]
        for r in _oracle(name).records
        if r.get("heart_rate") is not None
    }
    s = _ok(name).activities[0].samples
    assert s["hr_bpm"].notna().sum() > len(native)
    ours = s["hr_bpm"]
    assert all(ours[ts] == hr for ts, hr in list(native.items())[::50])


def test_stryd_running_dynamics_fill_in_for_native_ones() -> None:
    name = f"{_E}sloatsburg.fit"
    records = _oracle(name).records
    assert all(r.get("stance_time") is None for r in records)
    s = _ok(name).activities[0].samples
    assert s["stance_time_ms"].iloc[0] == pytest.approx(records[0]["Ground Time"])
    assert s["vertical_oscillation_mm"].iloc[0] == pytest.approx(
        records[0]["Vertical Oscillation"] * 10
    )


def test_developer_field_power_when_native_power_is_absent() -> None:
    name = f"{_E}kaiteriteri.fit"
    records = _oracle(name).records
    assert all(r.get("power") is None for r in records)
    s = _ok(name).activities[0].samples
    dev = [r["Power"] for r in records[:200]]
    assert s["power_w"].iloc[:200].tolist() == pytest.approx(dev)


def test_native_power_in_the_stryd_sample() -> None:
    # MANIFEST lists dev fields for this file, but its power is the native field.
    name = f"{_P}developer-types-sample.fit"
    records = _oracle(name).records
    s = _ok(name).activities[0].samples
    assert s["power_w"].iloc[:200].tolist() == pytest.approx([r["power"] for r in records[:200]])


def test_strength_sets_are_split_by_session() -> None:
    acts = _ok(f"{_J}20555050352_ACTIVITY.fit").activities
    assert [len(a.sets) for a in acts] == [8, 0, 33]  # 41 set messages in the file
    sets = acts[0].sets
    assert {"start_time", "duration_s", "repetitions", "weight_kg", "set_type"} <= set(sets)
    assert set(sets["set_type"]) <= {"active", "rest"}
    assert len(acts[1].laps) == 3
    assert len(_ok(f"{_J}20474406937_ACTIVITY.fit").activities[0].sets) == 76


def test_multisport_samples_stay_inside_their_session() -> None:
    acts = _ok(f"{_P}sample_mulitple_header.fit").activities
    for before, after in itertools.pairwise(acts):
        assert before.samples.index[-1] < after.start


def test_crc_mismatch_is_only_a_warning() -> None:
    result = _ok(f"{_P}activity-filecrc.fit")
    assert not result.partial
    assert any("CRC" in w for w in result.warnings)
    assert not any("CRC" in w for w in _ok(f"{_P}Activity.fit").warnings)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello" * 100, "not a FIT file"),
        (b".FIT", "not a FIT file"),
    ],
)
def test_non_fit_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(FitDecodeError, match=reason):
        decode_fit(data)


def test_header_only_file_has_no_records() -> None:
    header = _bytes(f"{_P}Activity.fit")[:14]
    with pytest.raises(FitDecodeError, match="no records"):
        decode_fit(header)


@pytest.mark.parametrize("keep_crc", [True, False])
def test_unfinalised_header_is_repaired(keep_crc: bool) -> None:
    data = bytearray(_bytes(f"{_P}Activity.fit"))
    data[4:8] = b"\0\0\0\0"
    if not keep_crc:
        del data[-2:]
    result = decode_fit(bytes(data))
    assert result.partial
    assert result.activities[0].partial
    assert any("unfinalised" in w for w in result.warnings)
    assert len(result.activities[0].samples) == 14


def test_truncation_at_any_point_gives_partial_result_or_clear_error() -> None:
    data = _bytes(f"{_E}trosku.fit")
    rng = random.Random(7)
    cuts = [1, 11, 12, 13, 14, 15, 200, 2000, len(data) // 2, len(data) - 300, len(data) - 1]
    cuts += rng.sample(range(16, len(data)), 8)
    for cut in cuts:
        try:
            result = decode_fit(data[:cut])
        except FitDecodeError:
            continue
        assert result.partial, cut
        assert all(a.partial for a in result.activities), cut


def test_fast_reader_yields_the_same_frames_as_stock_fitdecode() -> None:
    for name in (
        f"{_E}sloatsburg.fit",
        f"{_P}coros-pace-2-cycling-misaligned-fields.fit",
        f"{_P}event_timestamp.fit",
        f"{_P}20170518-191602-1740899583.fit",
        f"{_J}20555050352_ACTIVITY.fit",
        f"{_P}strava-android-app-201.10-b1218918.fit",
    ):
        data = _bytes(name)
        stock = fitdecode.FitReader(
            io.BytesIO(data),
            processor=None,
            check_crc=fitdecode.CrcCheck.DISABLED,
            error_handling=fitdecode.ErrorHandling.IGNORE,
        )
        assert _frames(_make_reader(data)) == _frames(stock), name


def _frames(reader: Any) -> list[Any]:
    out: list[Any] = []
    try:
        for frame in reader:
            if frame.frame_type == fitdecode.FIT_FRAME_DATA:
                out.append((frame.name, [(f.name, f.raw_value, f.value) for f in frame.fields]))
            else:
                out.append(frame.frame_type)
    except fitdecode.FitError as exc:
        out.append(type(exc).__name__)
    return out


@pytest.mark.parametrize(
    "name",
    [
        f"{_P}activity-large-fenxi2-multisport.fit",  # several sessions
        f"{_P}strava-android-app-201.10-b1218918.fit",  # break mid-file, dropped record
        f"{_P}sample_mulitple_header.fit",  # chained files
        f"{_E}flagged-hr.fit",  # hr messages fill gaps
    ],
)
def test_record_chunking_does_not_change_the_result(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _bytes(name)
    whole = _ok(name)
    for rows in (1, 7):
        monkeypatch.setattr(fit, "_CHUNK_ROWS", rows)
        chunked = decode_fit(data)
        assert (chunked.partial, chunked.warnings) == (whole.partial, whole.warnings)
        assert len(chunked.activities) == len(whole.activities)
        for a, b in zip(chunked.activities, whole.activities, strict=True):
            pd.testing.assert_frame_equal(a.samples, b.samples, check_exact=True)


def test_record_values_are_cleaned_file_wide_when_one_is_an_array() -> None:
    def row(ts: int, dist: Any) -> list[Any]:
        return [ts, dist] + [None] * (fit._N_SLOTS - 2)

    def convert(rows: list[list[Any]], clean: bool = False) -> tuple[bool, np.ndarray]:
        buf = fit._Rows(clean)
        for r in rows:
            buf.pending.append(r)
            if len(buf.pending) >= 2:
                buf.flush()
        buf.flush()  # as `_read_all` does before `decode_fit` looks at `redo`
        return buf.redo, buf.matrix()

    plain = [row(1, 10), row(2, "20"), row(3, 30)]
    assert np.array_equal(convert(plain)[1][:, 1], [10.0, 20.0, 30.0])
    # An array value anywhere: every row is cleaned (strings -> NaN, arrays -> first item), as
    # one conversion of all rows would; a second pass is asked for if earlier rows were not.
    mixed = [row(1, 10), row(2, "20"), row(3, (30, 31))]
    redo, _ = convert(mixed)
    assert redo
    redo, matrix = convert(mixed, clean=True)
    assert not redo
    assert np.array_equal(matrix[:, 1], [10.0, np.nan, 30.0], equal_nan=True)
    assert convert([])[1].shape == (0, fit._N_SLOTS)


def test_crc_matches_fitdecode() -> None:
    rng = random.Random(3)
    for size in (0, 1, 2, 3, 17, 1000):
        data = bytes(rng.randrange(256) for _ in range(size))
        expected = fitdecode.utils.compute_crc(data) if data else 0
        assert _fit_crc(data) == expected


def test_start_is_utc_instant() -> None:
    act = _ok(f"{_P}Activity.fit").activities[0]
    assert act.start == datetime(2012, 4, 9, 21, 22, 26, tzinfo=UTC)
    assert act.local_offset_s == -4 * 3600
    assert act.local_date.isoformat() == "2012-04-09"
    assert not math.isnan(act.elapsed_s)
