"""FIT decoding: the only module that knows about fitdecode.

`decode_fit` turns the bytes of one FIT file (possibly chained, multisport, truncated or with
a bad CRC) into a `DecodedFile` of normalised activities, following the ingestion policy in
``shared/fit-samples/README.md``: decode leniently, keep what was read before a break, and
refuse only files that yield nothing usable (with a message a user can act on).

Speed: fitdecode runs without a data processor (we convert the few values we need ourselves),
with its pure-Python CRC disabled (we check CRCs with a faster table after decoding), and, on the
fitdecode version this was verified against, with a reader that reads each data message in one
``struct`` call instead of one read per field.

Sample column notes (see `analysis.activity.SAMPLE_COLUMNS`):

* ``cadence_spm``: steps per minute for on-foot sports (FIT stores strides per minute, so
  ``(cadence + fractional_cadence) * 2``); for every other sport the device's own cycles per
  minute, unchanged (rpm for cycling, strokes per minute for swimming and rowing).
* ``power_w``: native ``power``, else a developer field named "Power" (Stryd).
* ``vertical_oscillation_mm`` / ``stance_time_ms``: native running dynamics, else Stryd's
  developer fields "Vertical Oscillation" (cm) and "Ground Time" (ms).
* ``hr_bpm``: native ``heart_rate``; gaps are filled from ``hr`` messages (chest-strap HR stored
  separately) by nearest instant within `_HR_MERGE_TOLERANCE_S`.
"""

from __future__ import annotations

import array
import io
import math
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fitdecode
import numpy as np
import numpy.typing as npt
import pandas as pd
from fitdecode import profile as _profile

from analysis.activity import SAMPLE_COLUMNS, DecodedActivity, DecodedFile
from connector.errors import FitDecodeError

__all__ = ["decode_fit"]

#: Seconds between the Unix epoch and the FIT epoch (1989-12-31T00:00:00Z).
_FIT_EPOCH_S = 631065600
#: FIT ``date_time`` values below this are seconds since device power-on, not wall-clock time.
_FIT_DATETIME_MIN = 0x10000000
_SEMICIRCLE_TO_DEG = 180.0 / 2**31
_MAX_LOCAL_OFFSET_S = 14 * 3600
_OFFSET_ROUNDING_S = 15 * 60
_HR_MERGE_TOLERANCE_S = 3.0
#: Records this far outside every session are corrupt (e.g. a year-2085 timestamp), not data.
_IMPLAUSIBLE_GAP_S = 86400.0

#: Sports whose FIT cadence is strides/min and is reported here as steps/min.
_FOOT_SPORTS = frozenset({"running", "walking", "hiking", "mountaineering", "snowshoeing"})

_MESG_FILE_ID = 0
_MESG_SPORT = 12
_MESG_SESSION = 18
_MESG_LAP = 19
_MESG_RECORD = 20
_MESG_ACTIVITY = 34
_MESG_HR = 132
_MESG_SET = 225

_FRAME_HEADER = fitdecode.FIT_FRAME_HEADER
_FRAME_DATA = fitdecode.FIT_FRAME_DATA
_FRAME_CRC = fitdecode.FIT_FRAME_CRC

# Slots of a record row, filled while iterating the fields of each record message.
(
    _R_TS,
    _R_DIST,
    _R_ESPEED,
    _R_SPEED,
    _R_EALT,
    _R_ALT,
    _R_HR,
    _R_CAD,
    _R_FCAD,
    _R_POWER,
    _R_LAT,
    _R_LON,
    _R_VO,
    _R_STANCE,
    _R_DEV_POWER,
    _R_DEV_VO_CM,
    _R_DEV_GCT_MS,
) = range(17)
_N_SLOTS = 17

_NATIVE_RECORD_SLOTS: dict[str, int] = {
    "timestamp": _R_TS,
    "distance": _R_DIST,
    "enhanced_speed": _R_ESPEED,
    "speed": _R_SPEED,
    "enhanced_altitude": _R_EALT,
    "altitude": _R_ALT,
    "heart_rate": _R_HR,
    "cadence": _R_CAD,
    "fractional_cadence": _R_FCAD,
    "power": _R_POWER,
    "position_lat": _R_LAT,
    "position_long": _R_LON,
    "vertical_oscillation": _R_VO,
    "stance_time": _R_STANCE,
}
_DEV_RECORD_SLOTS: dict[str, int] = {
    "power": _R_DEV_POWER,
    "vertical oscillation": _R_DEV_VO_CM,
    "ground time": _R_DEV_GCT_MS,
}


# --------------------------------------------------------------------------------------------
# A faster fitdecode reader
# --------------------------------------------------------------------------------------------

_Parse = Callable[[Any], Any]
#: Per field: (items in the unpacked tuple, kind, parse);
#: kind 0 scalar, 1 array, 2 byte array (parsed as a tuple), 3 string.
_Layout = list[tuple[int, int, _Parse]]


class _FastReader(fitdecode.FitReader):  # type: ignore[misc]
    """`fitdecode.FitReader` reading a data message with one read and one cached `struct`.

    fitdecode 0.11.0 builds a `struct.Struct` and reads the stream once per field; that is
    most of its run time. The two overridden private methods keep its exact semantics (same
    byte counts, same raw values), which `tests/connector/test_fit.py` checks frame by frame
    against the stock reader. Only used with CRC checking disabled (we check CRCs ourselves).
    """

    def __init__(self, data: bytes, **kwargs: Any) -> None:
        super().__init__(io.BytesIO(data), **kwargs)
        self._plans: dict[Any, tuple[struct.Struct, _Layout, list[_Parse] | None]] = {}

    def _read_bytes(self, size: int) -> bytes:
        if size <= 0:
            raise ValueError("size")
        chunk: bytes = self._fd.read(size)
        got = len(chunk)
        if got != size:
            raise fitdecode.FitEOFError(size, got, self._read_offset)
        self._chunk_size += got
        self._read_offset += got
        self._read_size += got
        return chunk

    def _read_data_message_raw_values(self, def_mesg: Any) -> tuple[list[bytes], list[Any]]:
        plan = self._plans.get(def_mesg)
        if plan is None:
            plan = self._plans[def_mesg] = _make_plan(def_mesg)
        unpacker, layout, simple = plan
        if unpacker.size == 0:
            return [], [None] * len(layout)
        chunk = self._read_bytes(unpacker.size)
        items = unpacker.unpack(chunk)
        if simple is not None:
            return [chunk], [parse(v) for parse, v in zip(simple, items, strict=True)]
        raw_values: list[Any] = []
        pos = 0
        for count, kind, parse in layout:
            if kind == 0:
                raw_values.append(parse(items[pos]) if count == 1 else None)
            elif kind == 1:
                raw_values.append(tuple(parse(v) for v in items[pos : pos + count]))
            elif kind == 2:
                raw_values.append(parse(items[pos : pos + count]))
            else:
                raw_values.append(parse(items[pos]))
            pos += count
        return [chunk], raw_values


def _make_plan(def_mesg: Any) -> tuple[struct.Struct, _Layout, list[_Parse] | None]:
    """Precompute one `struct` format for every field of a definition, as fitdecode reads it."""
    fmt = [def_mesg.endian]
    layout: _Layout = []
    byte_id = fitdecode.types.BASE_TYPE_BYTE.identifier
    for field_def in def_mesg.all_field_defs:
        base = field_def.base_type
        count = int(field_def.size / base.size)
        fmt.append(f"{count}{base.fmt}")
        if base.identifier == byte_id:
            layout.append((count, 2, base.parse))
        elif base.fmt == "s":
            layout.append((1, 3, base.parse))
        else:
            layout.append((count, 0 if count <= 1 else 1, base.parse))
    simple = None
    if all(kind == 0 and count == 1 for count, kind, _ in layout):
        simple = [parse for _, _, parse in layout]
    return struct.Struct("".join(fmt)), layout, simple


def _make_reader(data: bytes) -> Any:
    """The fast reader on the verified fitdecode version, the stock one otherwise."""
    kwargs: dict[str, Any] = {
        "processor": None,
        "check_crc": fitdecode.CrcCheck.DISABLED,
        "error_handling": fitdecode.ErrorHandling.IGNORE,
    }
    if fitdecode.__version__ == "0.11.0":
        return _FastReader(data, **kwargs)
    return fitdecode.FitReader(io.BytesIO(data), **kwargs)


# --------------------------------------------------------------------------------------------
# CRC (FIT uses CRC-16/ARC); a 2-bytes-per-step table makes checking a whole file cheap.
# --------------------------------------------------------------------------------------------


def _crc_table8() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC8 = _crc_table8()
_crc16_table: list[int] = []


def _fit_crc(data: bytes | memoryview) -> int:
    """CRC-16 of *data* as the FIT protocol computes it (header and file CRCs)."""
    if not _crc16_table:
        t8 = _CRC8
        _crc16_table.extend(
            (t8[v & 0xFF] >> 8) ^ t8[((v >> 8) ^ t8[v & 0xFF]) & 0xFF] for v in range(65536)
        )
    t16 = _crc16_table
    view = memoryview(data)
    even = len(view) & ~1
    words = array.array("H")
    words.frombytes(view[:even])
    if sys.byteorder != "little":
        words.byteswap()
    crc = 0
    for word in words:
        crc = t16[crc ^ word]
    if even != len(view):
        crc = (crc >> 8) ^ _CRC8[(crc ^ view[even]) & 0xFF]
    return crc


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Message:
    """A non-record message we keep: its fields by name and the segment it came from."""

    values: dict[str, Any]
    segment: int


#: Record rows are converted to floats this many at a time, so the Python objects of a large
#: file (a list and its values per record: ~450 bytes a record) never pile up.
_CHUNK_ROWS = 4096


class _Rows:
    """Record rows (`_N_SLOTS` values each, None where absent) gathered as float64 chunks.

    Rows are appended to `pending` (a list that is never replaced, so callers may bind its
    ``append``) and `flush` converts them: None -> NaN, and if any value is not a plain number
    (an array, a string), the row values are cleaned with `_scalar` instead. The cleaning rule
    is decided for the whole file, as one conversion of every row would: once a chunk needs it,
    the rest are cleaned too, and `redo` (final after the last `flush`) says when an earlier
    chunk was converted without it: the file must then be read again with ``clean=True``.
    """

    __slots__ = ("chunks", "clean", "count", "pending", "redo")

    def __init__(self, clean: bool = False) -> None:
        self.pending: list[list[Any]] = []
        self.chunks: list[npt.NDArray[np.float64]] = []
        self.count = 0  # rows converted so far
        self.clean = clean
        self.redo = False

    def __len__(self) -> int:
        return self.count + len(self.pending)

    def flush(self) -> None:
        rows = self.pending
        if not rows:
            return
        chunk = None
        if not self.clean:
            try:
                chunk = np.array(rows, dtype=np.float64)
                if chunk.ndim != 2:  # every value an array of one length: not a plain matrix
                    raise ValueError("array values")
            except (TypeError, ValueError):
                self.clean = True
                self.redo = self.count > 0
        if chunk is None:
            chunk = np.array([[_scalar(v) for v in row] for row in rows], dtype=np.float64)
        self.chunks.append(chunk)
        self.count += len(rows)
        rows.clear()

    def matrix(self) -> npt.NDArray[np.float64]:
        """All rows as one float matrix; the chunks are released as they are copied in."""
        self.flush()
        chunks = self.chunks
        if len(chunks) == 1:
            return chunks.pop()
        out = np.empty((self.count, _N_SLOTS), dtype=np.float64)
        pos = 0
        chunks.reverse()
        while chunks:
            chunk = chunks.pop()
            out[pos : pos + chunk.shape[0]] = chunk
            pos += chunk.shape[0]
        return out


@dataclass(slots=True)
class _Raw:
    """Everything collected from one pass over the file."""

    rows: _Rows = field(default_factory=_Rows)
    sessions: list[_Message] = field(default_factory=list)
    laps: list[dict[str, Any]] = field(default_factory=list)
    sets: list[dict[str, Any]] = field(default_factory=list)
    hr: list[tuple[Any, Any, Any, Any, Any]] = field(default_factory=list)
    file_id: dict[str, Any] | None = None
    activity: dict[str, Any] | None = None
    sport: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    #: Segment (chained FIT file) where decoding stopped early, or None if it ended cleanly.
    break_segment: int | None = None
    #: Index in `rows` of the first record of the broken segment.
    break_row: int = 0


def _values(frame: Any) -> dict[str, Any]:
    """Field values of a (rare) message by name; expanded components do not override fields."""
    out: dict[str, Any] = {}
    for fd in frame.fields:
        f = fd.field
        name = f.name if f is not None else None
        if name is not None and (name not in out or out[name] is None):
            out[name] = fd.value
    return out


def _record_slot(f: Any) -> int:
    if f is None:
        return -1
    if getattr(f, "field_type", None) == "devfield":
        name = f.name
        return _DEV_RECORD_SLOTS.get(name.strip().lower(), -1) if isinstance(name, str) else -1
    return _NATIVE_RECORD_SLOTS.get(f.name, -1)


def _check_header(data: bytes) -> tuple[bytes, bool]:
    """Reject what is not FIT; repair an unfinalised header (``data_size == 0``)."""
    if not data:
        raise FitDecodeError("empty file (0 bytes)")
    if len(data) < 12:
        raise FitDecodeError(f"not a FIT file (only {len(data)} bytes, shorter than a FIT header)")
    if data[8:12] != b".FIT":
        raise FitDecodeError("not a FIT file (bad header signature)")
    header_size = data[0]
    if header_size < 12 or header_size > len(data):
        raise FitDecodeError(f"not a FIT file (invalid header size {header_size})")
    (data_size,) = struct.unpack_from("<I", data, 4)
    if data_size == 0 and len(data) > header_size:
        patched = bytearray(data)
        struct.pack_into("<I", patched, 4, len(data) - header_size)
        if header_size >= 14:
            struct.pack_into("<H", patched, 12, 0)  # header CRC 0 = "not computed"
        return bytes(patched), True
    return data, False


def _read_all(data: bytes, repaired: bool, *, clean: bool = False) -> _Raw:
    """One pass over every frame, keeping only what the normalisation needs."""
    raw = _Raw(rows=_Rows(clean))
    rows = raw.rows
    pending = rows.pending
    append_row = pending.append
    slot_cache: dict[Any, int] = {}
    segment = -1
    seg_start = 0
    seg_first_row = 0
    seg_header: Any = None
    seg_offset = 0
    in_segment = False
    reader = _make_reader(data)
    try:
        for frame in reader:
            ftype = frame.frame_type
            if ftype == _FRAME_DATA:
                mesg_num = frame.def_mesg.global_mesg_num
                if mesg_num == _MESG_RECORD:
                    row: list[Any] = [None] * _N_SLOTS
                    for fd in frame.fields:
                        f = fd.field
                        slot = slot_cache.get(f)
                        if slot is None:
                            slot = slot_cache[f] = _record_slot(f)
                        if slot >= 0:
                            value = fd.value
                            if value is not None:
                                row[slot] = value
                    append_row(row)
                    if len(pending) >= _CHUNK_ROWS:
                        rows.flush()
                elif mesg_num == _MESG_HR:
                    raw.hr.append(_hr_fields(frame))
                elif mesg_num == _MESG_SESSION:
                    raw.sessions.append(_Message(_values(frame), segment))
                elif mesg_num == _MESG_LAP:
                    raw.laps.append(_values(frame))
                elif mesg_num == _MESG_SET:
                    raw.sets.append(_values(frame))
                elif mesg_num == _MESG_ACTIVITY:
                    raw.activity = raw.activity or _values(frame)
                elif mesg_num == _MESG_FILE_ID:
                    raw.file_id = raw.file_id or _values(frame)
                elif mesg_num == _MESG_SPORT:
                    raw.sport = raw.sport or _values(frame)
            elif ftype == _FRAME_HEADER:
                segment += 1
                in_segment = True
                seg_start = seg_offset
                seg_first_row = len(rows)
                seg_header = frame
                if frame.crc_matched is False and not repaired:
                    raw.warnings.append(f"FIT header CRC mismatch (segment {segment})")
            elif ftype == _FRAME_CRC:
                end = seg_start + seg_header.header_size + seg_header.body_size
                if not repaired and _fit_crc(memoryview(data)[seg_start:end]) != frame.crc:
                    raw.warnings.append(f"FIT file CRC mismatch (segment {segment}); data kept")
                seg_offset = end + 2
                in_segment = False
    except Exception as exc:  # any decoder failure is a break: keep what was read before it
        # A break between two chained files (e.g. a corrupt second header) spares the first.
        raw.break_segment = max(segment, 0) if in_segment else segment + 1
        raw.break_row = seg_first_row if in_segment else len(rows)
        where = getattr(exc, "offset", None)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raw.warnings.append(
            f"decoding stopped early ({detail}); kept the {len(rows)} records read before it"
            + (f" (byte {where})" if isinstance(where, int) else "")
        )
    if repaired:
        raw.break_segment = 0
        raw.break_row = 0
        raw.warnings.insert(0, "unfinalised FIT file (header data_size 0): size recomputed")
    rows.flush()  # so that `rows.redo` is final
    return raw


def _hr_fields(frame: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(timestamp, fractional_timestamp, full event_timestamp raw, event_timestamp_12, bpm)."""
    ts = frac = full = packed = bpm = None
    for fd in frame.fields:
        f = fd.field
        if f is None:
            continue
        name = f.name
        if name == "timestamp":
            ts = fd.value
        elif name == "fractional_timestamp":
            frac = fd.value
        elif name == "event_timestamp":
            if fd.field_def is not None:  # a stored value, not one expanded from the 12-bit form
                full = fd.raw_value
        elif name == "event_timestamp_12":
            packed = fd.raw_value
        elif name == "filtered_bpm":
            bpm = fd.value
    return ts, frac, full, packed, bpm


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _expand_hr(messages: Sequence[tuple[Any, Any, Any, Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Absolute (FIT seconds, bpm) samples from ``hr`` messages, as the FIT SDK expands them.

    An anchor message has ``timestamp`` (+ ``fractional_timestamp``) and one full
    ``event_timestamp``; later ones carry 12-bit ``event_timestamp_12`` deltas (1/1024 s),
    accumulated from the anchor. fitdecode's own expansion does not seed the accumulator with the
    anchor's event_timestamp, which shifts times by up to 4 s, so we do it from raw values.
    """
    times: list[float] = []
    bpms: list[float] = []
    anchor_t: float | None = None
    anchor_e = 0
    acc = 0
    for ts, frac, full, packed, bpm in messages:
        events: list[int] = []
        full_values = [v for v in _as_tuple(full) if isinstance(v, int)]
        if ts is not None and isinstance(ts, (int, float)):
            if len(full_values) != 1:
                continue
            anchor_t = float(ts) + (float(frac) if isinstance(frac, (int, float)) else 0.0)
            anchor_e = acc = full_values[0]
            events = full_values
        elif full_values:
            events = full_values
            acc = full_values[-1]
        elif packed is not None and isinstance(packed, tuple):
            number = int.from_bytes(bytes(packed), "little")
            for i in range(len(packed) * 8 // 12):
                v = (number >> (12 * i)) & 0xFFF
                new = v + (acc & ~0xFFF)
                if v < (acc & 0xFFF):
                    new += 0x1000
                acc = new
                events.append(new)
        if anchor_t is None:
            continue
        for e, b in zip(events, _as_tuple(bpm), strict=False):
            if b is None or not isinstance(b, (int, float)):
                continue
            if e < anchor_e:
                if anchor_e - e <= 0x80000000:
                    continue
                e += 0x100000000
            times.append(anchor_t + (e - anchor_e) / 1024.0)
            bpms.append(float(b))
    t = np.asarray(times, dtype=np.float64)
    b = np.asarray(bpms, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    return t[order], b[order]


def _nearest_fill(
    target_t: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    src_t: npt.NDArray[np.float64],
    src_v: npt.NDArray[np.float64],
    tolerance: float,
) -> npt.NDArray[np.float64]:
    """Fill NaNs of *values* with the *src* sample nearest in time, if within *tolerance*."""
    out = values.copy()
    missing = np.isnan(out)
    if not missing.any() or src_t.size == 0:
        return out
    t = target_t[missing]
    idx = np.searchsorted(src_t, t)
    left = np.clip(idx - 1, 0, src_t.size - 1)
    right = np.clip(idx, 0, src_t.size - 1)
    use_right = np.abs(src_t[right] - t) < np.abs(src_t[left] - t)
    best = np.where(use_right, right, left)
    ok = np.abs(src_t[best] - t) <= tolerance
    filled = np.where(ok, src_v[best], np.nan)
    out[missing] = filled
    return out


def _scalar(value: Any) -> float | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _num(value: Any) -> float | None:
    """A finite float from a FIT value, or None (invalid, missing, array, string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _enum_name(value: Any) -> str | None:
    """FIT enum as its name; unknown numeric values as their number in a string."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value))
    return None


def _utc(fit_seconds: float) -> datetime:
    return datetime.fromtimestamp(_FIT_EPOCH_S + fit_seconds, UTC)


@dataclass(slots=True)
class _Window:
    """One session (transitions included) and the time range its records are taken from."""

    values: dict[str, Any]
    segment: int
    start: float
    end: float
    lo: float = -math.inf
    hi: float = math.inf


def _session_window(values: dict[str, Any], segment: int, first_t: float) -> _Window | None:
    start = _num(values.get("start_time"))
    elapsed = _num(values.get("total_elapsed_time"))
    stamp = _num(values.get("timestamp"))
    if start is None:
        if stamp is not None and elapsed is not None:
            start = stamp - elapsed
        else:
            return None
    if elapsed is not None:
        end = start + elapsed
    elif stamp is not None and stamp >= start:
        end = stamp
    else:
        end = start if math.isnan(first_t) else max(start, first_t)
    return _Window(values, segment, start, end)


def decode_fit(data: bytes) -> DecodedFile:
    """Decode one FIT file into its activities (one per non-transition session).

    Raises `FitDecodeError` with a human-readable reason when nothing usable is in *data*.
    """
    data, repaired = _check_header(bytes(data))
    raw = _read_all(data, repaired)
    if raw.rows.redo:  # values needing cleaning came after rows converted without it
        raw = _read_all(data, repaired, clean=True)
    warnings = raw.warnings
    matrix = raw.rows.matrix()
    n_rows = matrix.shape[0]
    broken = np.zeros(n_rows, dtype=bool)
    if raw.break_segment is not None:
        broken[raw.break_row :] = True
    keep = ~np.isnan(matrix[:, _R_TS])
    if not keep.all():  # no copy in the usual case (every record has a timestamp)
        matrix, broken = matrix[keep], broken[keep]
    del keep
    if matrix.shape[0] == 0:
        if raw.break_segment is not None and not raw.sessions:
            raise FitDecodeError(f"FIT file contains no records ({warnings[-1]})")
        raise FitDecodeError("FIT file contains no records")

    # Clock: device time since power-on is anchored on activity.local_timestamp when possible.
    ts_col = matrix[:, _R_TS]
    shift = 0.0
    offset_known = True
    relative = bool(np.nanmedian(ts_col) < _FIT_DATETIME_MIN)
    if relative:
        act = raw.activity or {}
        local = _num(act.get("local_timestamp"))
        stamp = _num(act.get("timestamp"))
        if local is None or stamp is None or local < _FIT_DATETIME_MIN:
            raise FitDecodeError(
                "device clock not set: timestamps are relative to power-on and nothing in the file"
                " anchors them to a date"
            )
        shift = local - stamp
        offset_known = False
        warnings.append(
            "device clock not set (relative timestamps); anchored on activity.local_timestamp,"
            " UTC offset unknown: times are local wall-clock"
        )
        matrix[:, _R_TS] += shift

    sessions = raw.sessions
    first_t = float(np.nanmin(matrix[:, _R_TS]))
    windows: list[_Window] = []
    for msg in sessions:
        values = dict(msg.values)
        for key in ("start_time", "timestamp"):
            v = _num(values.get(key))
            if v is not None and relative and v < _FIT_DATETIME_MIN:
                values[key] = v + shift
        w = _session_window(values, msg.segment, first_t)
        if w is not None:
            windows.append(w)
        else:
            warnings.append("session without start_time skipped")

    synthesized = False
    if not windows:
        sport_msg = raw.sport or {}
        last_t = float(np.nanmax(matrix[:, _R_TS]))
        values = {
            "sport": sport_msg.get("sport") or "generic",
            "sub_sport": sport_msg.get("sub_sport"),
            "start_time": first_t,
            "total_elapsed_time": last_t - first_t,
        }
        windows = [_Window(values, raw.break_segment or 0, first_t, last_t)]
        synthesized = True
        warnings.append("no session message: one activity built from the records")

    windows = _dedupe(windows, warnings)
    windows.sort(key=lambda w: w.start)
    _assign_bounds(windows)
    matrix, broken = _drop_implausible(matrix, broken, windows, warnings)

    times = matrix[:, _R_TS]
    if not bool((times[1:] >= times[:-1]).all()):  # usually in order already
        order = np.argsort(times, kind="stable")
        matrix, broken = matrix[order], broken[order]
        del order
        times = matrix[:, _R_TS]

    hr_t = hr_v = None
    if raw.hr and np.isnan(matrix[:, _R_HR]).any():
        hr_t, hr_v = _expand_hr(raw.hr)
        hr_t = hr_t + shift

    local_offset = _local_offset(raw.activity, warnings) if offset_known else 0
    device = _device(raw.file_id)
    activities: list[DecodedActivity] = []
    for w in windows:
        sport = _enum_name(w.values.get("sport")) or "generic"
        if sport == "transition":
            continue
        lo = np.searchsorted(times, w.lo, side="left")
        hi = np.searchsorted(times, w.hi, side="right")
        part = matrix[lo:hi]
        partial = synthesized or (
            raw.break_segment is not None
            and (w.segment >= raw.break_segment or bool(broken[lo:hi].any()))
        )
        samples = _samples(part, sport, hr_t, hr_v)
        activities.append(
            _activity(
                w,
                sport,
                samples,
                device=device,
                local_offset=local_offset,
                partial=partial,
                index=len(activities),
                laps=_laps(raw.laps, w, sport, shift, relative),
                sets=_sets(raw.sets, w, shift, relative),
            )
        )
    if not activities:
        raise FitDecodeError("FIT file contains only transition sessions")
    return DecodedFile(
        activities=tuple(activities),
        partial=raw.break_segment is not None,
        warnings=tuple(warnings),
    )


def _dedupe(windows: list[_Window], warnings: list[str]) -> list[_Window]:
    """Drop a session repeated verbatim (a chained file holding the same activity twice)."""
    seen: set[tuple[Any, ...]] = set()
    out: list[_Window] = []
    for w in windows:
        v = w.values
        key = (v.get("sport"), v.get("sub_sport"), w.start, w.end, _num(v.get("total_distance")))
        if key in seen:
            warnings.append("duplicate session (same sport, start and totals) skipped")
            continue
        seen.add(key)
        out.append(w)
    return out


def _assign_bounds(windows: list[_Window]) -> None:
    """Record ranges: [start, min(end, next start)); the first is open to the left, the last to
    the right, so a lone session takes every record and pre-start/post-stop samples are kept."""
    for i, w in enumerate(windows):
        w.lo = -math.inf if i == 0 else w.start
        if i == len(windows) - 1:
            w.hi = math.inf
        else:
            nxt = windows[i + 1].start
            w.hi = min(w.end, nxt - 1e-3) if w.end < nxt else nxt - 1e-3


def _drop_implausible(
    matrix: npt.NDArray[np.float64],
    broken: npt.NDArray[np.bool_],
    windows: list[_Window],
    warnings: list[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Drop records a day or more away from every session (corrupt timestamps)."""
    lo = min(w.start for w in windows) - _IMPLAUSIBLE_GAP_S
    hi = max(w.end for w in windows) + _IMPLAUSIBLE_GAP_S
    t = matrix[:, _R_TS]
    ok = (t >= lo) & (t <= hi)
    dropped = int((~ok).sum())
    if dropped:
        warnings.append(f"dropped {dropped} records with implausible timestamps")
        return matrix[ok], broken[ok]
    return matrix, broken


def _pick(
    primary: npt.NDArray[np.float64], fallback: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.where(np.isnan(primary), fallback, primary)


def _samples(
    part: npt.NDArray[np.float64],
    sport: str,
    hr_t: npt.NDArray[np.float64] | None,
    hr_v: npt.NDArray[np.float64] | None,
) -> pd.DataFrame:
    """The samples DataFrame of one activity (columns present only when recorded)."""
    times = part[:, _R_TS]

    def cadence() -> npt.NDArray[np.float64]:
        values = part[:, _R_CAD]
        if not np.isnan(values).all():
            values = values + np.nan_to_num(part[:, _R_FCAD])
            if sport in _FOOT_SPORTS:
                values = values * 2.0
        return values

    def hr() -> npt.NDArray[np.float64]:
        values = part[:, _R_HR]
        if hr_t is not None and hr_v is not None:
            values = _nearest_fill(times, values, hr_t, hr_v, _HR_MERGE_TOLERANCE_S)
        return values

    builders: dict[str, Callable[[], npt.NDArray[np.float64]]] = {
        "distance_m": lambda: part[:, _R_DIST],
        "speed_mps": lambda: _pick(part[:, _R_ESPEED], part[:, _R_SPEED]),
        "altitude_m": lambda: _pick(part[:, _R_EALT], part[:, _R_ALT]),
        "hr_bpm": hr,
        "cadence_spm": cadence,
        "power_w": lambda: _pick(part[:, _R_POWER], part[:, _R_DEV_POWER]),
        "lat_deg": lambda: part[:, _R_LAT] * _SEMICIRCLE_TO_DEG,
        "lon_deg": lambda: part[:, _R_LON] * _SEMICIRCLE_TO_DEG,
        "vertical_oscillation_mm": lambda: _pick(part[:, _R_VO], part[:, _R_DEV_VO_CM] * 10.0),
        "stance_time_ms": lambda: _pick(part[:, _R_STANCE], part[:, _R_DEV_GCT_MS]),
    }
    # Only the recorded columns are built, straight into the frame's single float block
    # (column-major, so pandas takes it without copying; nothing keeps `part` alive).
    names: list[str] = []
    columns: list[npt.NDArray[np.float64] | None] = []
    for name in SAMPLE_COLUMNS:
        column = builders[name]()
        if not np.isnan(column).all():
            names.append(name)
            columns.append(column)
    block = np.empty((len(names), part.shape[0]), dtype=np.float64)
    for i in range(len(names)):
        block[i] = columns[i]
        columns[i] = None  # freed as soon as copied
    del columns
    index = pd.DatetimeIndex(
        pd.to_datetime((times + _FIT_EPOCH_S) * 1e9, unit="ns", utc=True), name="timestamp"
    )
    if names:
        frame = pd.DataFrame(block.T, index=index, columns=names, copy=False)
    else:
        frame = pd.DataFrame({}, index=index, dtype=np.float64)
    if frame.index.has_duplicates:
        # Some writers (Strava) split one instant over two records: merge them column-wise.
        frame = frame.groupby(level=0, sort=True).first()
        frame.index.name = "timestamp"
    elif not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    return frame


def _activity(
    w: _Window,
    sport: str,
    samples: pd.DataFrame,
    *,
    device: str | None,
    local_offset: int,
    partial: bool,
    index: int,
    laps: pd.DataFrame,
    sets: pd.DataFrame,
) -> DecodedActivity:
    """Session totals, falling back to what the samples say when the session lacks a value."""
    v = w.values
    elapsed = _num(v.get("total_elapsed_time"))
    if elapsed is None:
        elapsed = w.end - w.start
    distance = _num(v.get("total_distance"))
    if distance is None and "distance_m" in samples:
        d = samples["distance_m"].dropna()
        distance = float(d.iloc[-1] - d.iloc[0]) if len(d) else None
    avg_hr = _num(v.get("avg_heart_rate"))
    max_hr = _num(v.get("max_heart_rate"))
    if "hr_bpm" in samples:
        hr = samples["hr_bpm"].dropna()
        if len(hr):
            avg_hr = avg_hr if avg_hr is not None else round(float(hr.mean()), 1)
            max_hr = max_hr if max_hr is not None else float(hr.max())
    return DecodedActivity(
        sport=sport,
        sub_sport=_enum_name(v.get("sub_sport")),
        start=_utc(w.start),
        local_offset_s=local_offset,
        elapsed_s=elapsed,
        moving_s=_num(v.get("total_timer_time")),
        distance_m=distance,
        ascent_m=_num(v.get("total_ascent")),
        avg_hr=avg_hr,
        max_hr=max_hr,
        has_gps="lat_deg" in samples and bool(samples["lat_deg"].notna().any()),
        device=device,
        partial=partial,
        session_index=index,
        samples=samples,
        laps=laps,
        sets=sets,
    )


def _in_window(t: float | None, w: _Window) -> bool:
    return t is not None and w.lo <= t <= w.hi


def _fix_time(value: Any, shift: float, relative: bool) -> float | None:
    t = _num(value)
    if t is not None and relative and t < _FIT_DATETIME_MIN:
        t += shift
    return t


_LAP_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("elapsed_s", ("total_elapsed_time",)),
    ("moving_s", ("total_timer_time",)),
    ("distance_m", ("total_distance",)),
    ("ascent_m", ("total_ascent",)),
    ("descent_m", ("total_descent",)),
    ("avg_hr_bpm", ("avg_heart_rate",)),
    ("max_hr_bpm", ("max_heart_rate",)),
    ("avg_speed_mps", ("enhanced_avg_speed", "avg_speed")),
    ("max_speed_mps", ("enhanced_max_speed", "max_speed")),
    ("avg_power_w", ("avg_power",)),
)


def _laps(
    laps: list[dict[str, Any]], w: _Window, sport: str, shift: float, relative: bool
) -> pd.DataFrame:
    """Laps whose start falls in the session's record range, in SI-ish named columns."""
    rows: list[dict[str, Any]] = []
    for lap in laps:
        start = _fix_time(lap.get("start_time"), shift, relative)
        if not _in_window(start, w) or start is None:
            continue
        row: dict[str, Any] = {"start_time": _utc(start)}
        for column, names in _LAP_COLUMNS:
            row[column] = next(
                (x for x in (_num(lap.get(n)) for n in names) if x is not None), None
            )
        cadence = _num(lap.get("avg_cadence"))
        if cadence is not None:
            cadence += _num(lap.get("avg_fractional_cadence")) or 0.0
            if sport in _FOOT_SPORTS:
                cadence *= 2.0
        row["avg_cadence_spm"] = cadence
        row["intensity"] = _enum_name(lap.get("intensity"))
        row["lap_trigger"] = _enum_name(lap.get("lap_trigger"))
        rows.append(row)
    return _frame(rows)


_EXERCISE_CATEGORIES: dict[int, str] = dict(_profile.FIELD_TYPES["exercise_category"].enum)


def _sets(sets: list[dict[str, Any]], w: _Window, shift: float, relative: bool) -> pd.DataFrame:
    """Strength ``set`` messages of the session (FR965 and similar)."""
    rows: list[dict[str, Any]] = []
    for s in sets:
        start = _fix_time(s.get("start_time"), shift, relative)
        if start is None:
            start = _fix_time(s.get("timestamp"), shift, relative)
        if not _in_window(start, w) or start is None:
            continue
        categories = [c for c in _as_tuple(s.get("category")) if isinstance(c, int)]
        category = None
        if categories:
            category = _EXERCISE_CATEGORIES.get(categories[0], str(categories[0]))
        rows.append(
            {
                "start_time": _utc(start),
                "duration_s": _num(s.get("duration")),
                "repetitions": _num(s.get("repetitions")),
                "weight_kg": _num(s.get("weight")),
                "set_type": _enum_name(s.get("set_type")),
                "category": category,
            }
        )
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column not in ("start_time", "intensity", "lap_trigger", "set_type", "category"):
            frame[column] = frame[column].astype(np.float64)
    return frame.sort_values("start_time", kind="stable").reset_index(drop=True)


def _local_offset(activity: dict[str, Any] | None, warnings: list[str]) -> int:
    """``activity.local_timestamp - activity.timestamp``, rounded to 15 min, within +-14 h."""
    act = activity or {}
    local = _num(act.get("local_timestamp"))
    stamp = _num(act.get("timestamp"))
    if local is None or stamp is None:
        warnings.append("no activity.local_timestamp: local offset unknown, using UTC")
        return 0
    offset = round((local - stamp) / _OFFSET_ROUNDING_S) * _OFFSET_ROUNDING_S
    if abs(offset) > _MAX_LOCAL_OFFSET_S:
        warnings.append(
            f"implausible local offset {local - stamp:+.0f} s from activity.local_timestamp;"
            " using UTC"
        )
        return 0
    return int(offset)


def _device(file_id: dict[str, Any] | None) -> str | None:
    """``manufacturer/product`` from ``file_id`` (Garmin product names where fitdecode has them)."""
    if not file_id:
        return None
    manufacturer = _enum_name(file_id.get("manufacturer"))
    product = file_id.get("garmin_product")
    if product is None:
        product = file_id.get("product")
    if product is None:
        product = file_id.get("product_name")
    product_name = _enum_name(product)
    if manufacturer is None and product_name is None:
        return None
    return f"{manufacturer or 'unknown'}/{product_name}" if product_name else manufacturer
