"""Turn the paths a user passes to ``strideguard import`` into a lazy stream of input items.

Accepted inputs are ``.fit`` and ``.fit.gz`` files, folders (walked recursively) and zip
archives, nested zips included (a Garmin Connect export is a zip of zips, a Strava bulk export a
zip with ``activities/*.fit.gz`` among many other files). Nothing is ever extracted to disk:
archive members are read in memory, one at a time, so hostile member names (``../x``, ``/x``,
``C:\\x``) can only affect the *display* path, which is sanitised.

Every input produces exactly one `SourceItem` (``fit``, ``skipped`` or ``failed``) and a failing
input never stops the walk. Memory stays bounded: at most one member's bytes are held, plus, for
a nested zip no larger than `Limits.max_in_memory_archive_bytes`, that nested zip's bytes (larger
nested zips are streamed through the parent's seekable member reader instead, which costs CPU --
the member is decompressed a few times to let `zipfile` seek in it -- but no memory).

Zip-bomb accounting (`Limits.max_total_uncompressed_bytes`) is per top-level archive and counts
every byte a decompression layer produces: the bytes read from each FIT-like member (actual
count, not the header's), the gunzipped bytes of ``.fit.gz`` members, and the declared size of
each nested zip (its bytes are produced at least once to open it; ``zipfile`` never returns more
than the declared size, it stops there and reports a bad CRC).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from connector.errors import FileTooLargeError, SourceError, UnsafeArchiveError

__all__ = ["Limits", "SourceItem", "iter_sources"]

_CHUNK = 1024 * 1024
"""Read size: big enough to be fast, small enough that a lying header costs at most this much."""

RATIO_CHECK_MIN_BYTES = 1024 * 1024
"""The compression-ratio check only applies above this uncompressed size: tiny members (a
run of zero padding, an empty-ish JSON) legitimately compress very well and cannot hurt."""

_Kind = Literal["fit", "fitgz", "zip"]
_ACCEPTED = "a .fit, .fit.gz or .zip file"


@dataclass(frozen=True, slots=True)
class Limits:
    """Safety limits; the defaults suit real exports, tests lower them to exercise the refusals."""

    max_file_bytes: int = 50 * 1024 * 1024
    """One FIT file (after gunzip) over this is a failed item."""
    max_total_uncompressed_bytes: int = 20 * 1024**3
    """Per top-level archive, summed over nested archives (see the module docstring)."""
    max_compression_ratio: float = 100.0
    """Per member (uncompressed / compressed), for members over `RATIO_CHECK_MIN_BYTES`."""
    max_archive_depth: int = 3
    """How many zips a file may sit inside: 1 is a zip given directly or found in a folder, so
    the default allows ``a.zip!b.zip!c.zip!x.fit`` and refuses a fourth level."""
    max_in_memory_archive_bytes: int = 64 * 1024 * 1024
    """A nested zip up to this size is read into memory (fast random access); a bigger one is
    streamed from its parent (bounded memory, more CPU)."""

    def __post_init__(self) -> None:
        """Reject nonsensical limits early rather than refusing every input later."""
        if self.max_file_bytes <= 0 or self.max_total_uncompressed_bytes <= 0:
            raise ValueError("size limits must be positive")
        if self.max_compression_ratio < 1:
            raise ValueError("max_compression_ratio must be at least 1")
        if self.max_archive_depth < 0 or self.max_in_memory_archive_bytes < 0:
            raise ValueError("max_archive_depth and max_in_memory_archive_bytes must be >= 0")


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One input: FIT bytes to import, or the reason it was skipped or failed."""

    path: str
    """Display path (control characters escaped), ``!`` separating archive members, e.g.
    ``/home/me/export.zip!DI_CONNECT/uploaded.zip!123_ACTIVITY.fit``."""
    status: Literal["fit", "skipped", "failed"]
    data: bytes | None
    """The FIT bytes (gunzipped) when ``status == "fit"``, else None."""
    error: str | None
    """Human-readable reason when failed or skipped, None for ``fit``."""


_DEFAULT_LIMITS = Limits()


def iter_sources(
    paths: Iterable[Path], *, limits: Limits = _DEFAULT_LIMITS
) -> Iterator[SourceItem]:
    """Yield one item per input file found under `paths`, lazily and in a deterministic order."""
    seen_dirs: set[tuple[int, int]] = set()
    for path in paths:
        yield from _walk_top(Path(path), limits, seen_dirs)


# --- items and messages -------------------------------------------------------------------------


def _fit(path: str, data: bytes) -> SourceItem:
    return SourceItem(path=path, status="fit", data=data, error=None)


def _skipped(path: str, reason: str) -> SourceItem:
    return SourceItem(path=path, status="skipped", data=None, error=reason)


def _failed(path: str, reason: str) -> SourceItem:
    return SourceItem(path=path, status="failed", data=None, error=reason)


def _fmt_size(n: float) -> str:
    """Binary units with the familiar labels, so the default limit prints as "50 MB"."""
    if n < 1024:
        return f"{int(n)} byte" + ("" if n == 1 else "s")
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            break
    return f"{n:.1f}".rstrip("0").rstrip(".") + f" {unit}"


def _too_large(size: int | None, limit: int, *, decompressed: bool = False) -> FileTooLargeError:
    what = "decompressed file" if decompressed else "file"
    if size is None:
        return FileTooLargeError(f"{what} is over the {_fmt_size(limit)} limit")
    return FileTooLargeError(f"{what} is {_fmt_size(size)}, over the {_fmt_size(limit)} limit")


def _os_reason(exc: OSError) -> str:
    """`strerror` without the path (the item already carries it), e.g. "permission denied"."""
    return (exc.strerror or str(exc)).lower()


def _escape_char(ch: str) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # an undecodable byte smuggled in by surrogateescape
        return f"\\x{cp - 0xDC00:02x}"
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def _clean(text: str) -> str:
    """Escape control, format, line-separator and unencodable characters for display.

    Names come from untrusted archives and file systems: ANSI escapes, bidi overrides or lone
    surrogates must not reach a terminal, a log or the database.
    """
    return "".join(
        _escape_char(ch) if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch
        for ch in text
    )


def _fs_display(path: Path) -> str:
    return _clean(str(path))


def _member_display(archive: str, name: str) -> str:
    """Backslashes are shown as ``/`` (Windows zip tools write them as separators)."""
    return f"{archive}!{_clean(name.replace(chr(92), '/'))}"


def _classify(name: str) -> _Kind | None:
    """Recognise inputs by (base) name, case-insensitively."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if base.endswith(".fit.gz"):
        return "fitgz"
    if base.endswith(".fit"):
        return "fit"
    if base.endswith(".zip"):
        return "zip"
    return None


def _is_hidden(component: str) -> bool:
    return component.startswith(".") and component not in (".", "..")


# --- bounded reading ----------------------------------------------------------------------------


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _GzipSource(_Readable, Protocol):
    """What `gzip.GzipFile` is typed to want; it only ever reads forward here."""

    def seek(self, offset: int, /) -> object: ...


class _Budget:
    """Running total of uncompressed bytes for one top-level archive."""

    __slots__ = ("limit", "refused", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = False

    @property
    def message(self) -> str:
        return (
            f"archive refused: more than {_fmt_size(self.limit)} uncompressed in total; "
            "looks like a zip bomb"
        )

    def reserve(self, n: int) -> None:
        """Refuse before reading when a declared size would already break the budget."""
        if self.refused or self.used + n > self.limit:
            self.refused = True
            raise UnsafeArchiveError(self.message)

    def charge(self, n: int) -> None:
        """Count bytes actually produced; refuse the archive as soon as the total is over."""
        self.used += n
        if self.used > self.limit:
            self.refused = True
            raise UnsafeArchiveError(self.message)


class _Counted:
    """A reader that charges every byte it returns to a budget (headers are not trusted)."""

    __slots__ = ("_budget", "_inner")

    def __init__(self, inner: _Readable, budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget

    def read(self, size: int = -1, /) -> bytes:
        data = self._inner.read(size)
        self._budget.charge(len(data))
        return data

    def seek(self, offset: int, /) -> object:
        """Present for `gzip.GzipFile`'s type; it never seeks when reading forward."""
        raise io.UnsupportedOperation("seek")


def _read_bounded(stream: _Readable, limit: int, *, decompressed: bool = False) -> bytes:
    """Read at most `limit` bytes in chunks, raising as soon as the stream has more."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(None, limit, decompressed=decompressed)


def _gunzip_bounded(stream: _GzipSource, limit: int, budget: _Budget | None) -> bytes:
    """Decompress a gzip stream without ever producing more than `limit` + one chunk."""
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
            source: _Readable = gz if budget is None else _Counted(gz, budget)
            return _read_bounded(source, limit, decompressed=True)
    except SourceError:
        raise
    except (OSError, EOFError, ValueError) as exc:  # BadGzipFile, zlib.error, truncation
        raise SourceError(f"not a readable gzip file: {exc}") from exc


def _finish_fit(path: str, data: bytes) -> SourceItem:
    return _fit(path, data) if data else _failed(path, "empty file")


# --- file system --------------------------------------------------------------------------------


def _open_regular(path: Path) -> IO[bytes]:
    """Open for reading, refusing anything but a regular file.

    O_NONBLOCK keeps a FIFO swapped in after the stat from blocking the import forever.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceError("not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _stat_failure(path: Path, display: str, exc: OSError) -> SourceItem:
    if isinstance(exc, FileNotFoundError) and path.is_symlink():
        return _failed(display, "broken symbolic link")
    return _failed(display, _os_reason(exc))


def _walk_top(path: Path, limits: Limits, seen_dirs: set[tuple[int, int]]) -> Iterator[SourceItem]:
    """One path from the command line: a folder, an accepted file, or a clear skip/failure."""
    display = _fs_display(path)
    try:
        st = path.stat()
    except OSError as exc:
        yield _stat_failure(path, display, exc)
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(path, display, st, limits, seen_dirs)
    elif not stat.S_ISREG(st.st_mode):
        yield _skipped(display, f"not a regular file or folder; expected {_ACCEPTED} or a folder")
    elif (kind := _classify(path.name)) is None:
        yield _skipped(display, f"named on the command line but not {_ACCEPTED}; ignored")
    else:
        yield from _read_file(path, display, kind, st.st_size, limits)


def _list_dir(path: Path) -> list[Path]:
    with os.scandir(path) as entries:
        return [path / name for name in sorted(entry.name for entry in entries)]


def _walk_dir(
    root: Path,
    root_display: str,
    root_st: os.stat_result,
    limits: Limits,
    seen_dirs: set[tuple[int, int]],
) -> Iterator[SourceItem]:
    """Depth-first, children sorted by name; an explicit stack so deep trees cannot overflow.

    Symlinks are followed, but every directory is entered at most once (by device and inode),
    which breaks symlink loops and skips a folder listed twice.
    """

    def enter(path: Path, display: str, st: os.stat_result) -> SourceItem | list[Path]:
        key = (st.st_dev, st.st_ino)
        if st.st_ino and key in seen_dirs:
            return _skipped(display, "folder already visited (symlink loop or listed twice)")
        seen_dirs.add(key)
        try:
            return _list_dir(path)
        except OSError as exc:
            return _failed(display, f"cannot list folder: {_os_reason(exc)}")

    first = enter(root, root_display, root_st)
    if isinstance(first, SourceItem):
        yield first
        return
    stack: list[Iterator[Path]] = [iter(first)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        display = _fs_display(child)
        if child.name == "__MACOSX":
            yield _skipped(display, "macOS metadata folder")
            continue
        if _is_hidden(child.name):
            yield _skipped(display, "hidden file or folder")
            continue
        try:
            st = child.stat()
        except OSError as exc:
            yield _stat_failure(child, display, exc)
            continue
        if stat.S_ISDIR(st.st_mode):
            entered = enter(child, display, st)
            if isinstance(entered, SourceItem):
                yield entered
            else:
                stack.append(iter(entered))
        elif not stat.S_ISREG(st.st_mode):
            yield _skipped(display, "not a regular file")
        elif (kind := _classify(child.name)) is None:
            yield _skipped(display, f"not a FIT file name (expected {_ACCEPTED})")
        else:
            yield from _read_file(child, display, kind, st.st_size, limits)


def _read_file(
    path: Path, display: str, kind: _Kind, size: int, limits: Limits
) -> Iterator[SourceItem]:
    """Read one file from disk: a FIT file, a gzipped FIT file, or a zip to walk."""
    if kind == "fit" and size > limits.max_file_bytes:
        yield _failed(display, str(_too_large(size, limits.max_file_bytes)))
        return
    if kind == "zip" and limits.max_archive_depth < 1:
        yield _failed(display, "archive refused: zip archives are disabled (max_archive_depth=0)")
        return
    try:
        handle = _open_regular(path)
    except SourceError as exc:
        yield _skipped(display, str(exc))
        return
    except OSError as exc:
        yield _failed(display, _os_reason(exc))
        return
    with handle:
        if kind == "zip":
            yield from _walk_archive(
                handle, display, 1, _Budget(limits.max_total_uncompressed_bytes), limits
            )
            return
        try:
            if kind == "fit":
                data = _read_bounded(handle, limits.max_file_bytes)
            else:
                data = _gunzip_bounded(handle, limits.max_file_bytes, None)
        except SourceError as exc:
            yield _failed(display, str(exc))
            return
        except OSError as exc:
            yield _failed(display, _os_reason(exc))
            return
    yield _finish_fit(display, data)


# --- zip archives -------------------------------------------------------------------------------


def _walk_archive(
    fileobj: IO[bytes], display: str, depth: int, budget: _Budget, limits: Limits
) -> Iterator[SourceItem]:
    """Open `fileobj` as a zip (or fail one item for it) and walk its members."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except Exception as exc:  # BadZipFile, truncation, bad offsets: any error is "corrupt"
        yield _failed(display, f"not a readable zip archive: {exc}")
        return
    with archive:
        yield from _walk_members(archive, display, depth, budget, limits)


def _member_skip_reason(info: zipfile.ZipInfo) -> str | None:
    parts = info.filename.replace("\\", "/").split("/")
    if "__MACOSX" in parts:
        return "macOS metadata (__MACOSX)"
    if any(_is_hidden(part) for part in parts):
        return "hidden file or folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link inside archive (not followed)"
    if _classify(info.filename) is None:
        return f"not a FIT file name (expected {_ACCEPTED})"
    return None


def _check_ratio(info: zipfile.ZipInfo, limits: Limits) -> None:
    """Refuse members that expand suspiciously well (declared sizes; zipfile enforces them)."""
    size, packed = info.file_size, info.compress_size
    if size > RATIO_CHECK_MIN_BYTES and size > limits.max_compression_ratio * max(packed, 1):
        ratio = size / max(packed, 1)
        raise UnsafeArchiveError(
            f"archive refused: member expands {ratio:,.0f}x ({_fmt_size(size)} from "
            f"{_fmt_size(packed)}), over the {limits.max_compression_ratio:g}x limit; "
            "looks like a zip bomb"
        )


def _walk_members(
    archive: zipfile.ZipFile, display: str, depth: int, budget: _Budget, limits: Limits
) -> Iterator[SourceItem]:
    """One item per file member, in on-disk order (keeps a streamed nested zip forward-only)."""
    members = sorted(
        (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.header_offset
    )
    for info in members:
        path = _member_display(display, info.filename)
        reason = _member_skip_reason(info)
        if reason is not None:
            yield _skipped(path, reason)
            continue
        kind = _classify(info.filename)
        if budget.refused:
            yield _failed(path, budget.message)
            continue
        if info.flag_bits & 0x1:
            yield _failed(path, "encrypted (password-protected) archive member; cannot be read")
            continue
        if kind == "zip":
            yield from _walk_nested(archive, info, path, depth + 1, budget, limits)
            continue
        try:
            _check_ratio(info, limits)
            if kind == "fit" and info.file_size > limits.max_file_bytes:
                raise _too_large(info.file_size, limits.max_file_bytes)
            budget.reserve(info.file_size)
            with archive.open(info) as member:
                counted = _Counted(member, budget)
                if kind == "fit":
                    data = _read_bounded(counted, limits.max_file_bytes)
                else:
                    data = _gunzip_bounded(counted, limits.max_file_bytes, budget)
        except SourceError as exc:
            yield _failed(path, str(exc))
            continue
        except Exception as exc:  # untrusted data: any decoder error is this member's failure
            yield _failed(path, f"cannot read archive member: {exc}")
            continue
        yield _finish_fit(path, data)


def _walk_nested(
    parent: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: str,
    depth: int,
    budget: _Budget,
    limits: Limits,
) -> Iterator[SourceItem]:
    """Walk a zip inside a zip: in memory when small, streamed from the parent otherwise."""
    if depth > limits.max_archive_depth:
        yield _failed(
            path, f"archive refused: nested more than {limits.max_archive_depth} zip levels deep"
        )
        return
    with contextlib.ExitStack() as stack:
        try:
            _check_ratio(info, limits)
            budget.reserve(info.file_size)
            budget.charge(info.file_size)
            fileobj: IO[bytes]
            if info.file_size <= limits.max_in_memory_archive_bytes:
                with parent.open(info) as member:
                    data = _read_bounded(member, limits.max_in_memory_archive_bytes)
                fileobj = io.BytesIO(data)
            else:  # zipfile seeks in it: seekable, re-decompressing from the start when going back
                fileobj = stack.enter_context(parent.open(info))
        except SourceError as exc:
            yield _failed(path, str(exc))
            return
        except Exception as exc:
            yield _failed(path, f"cannot read archive member: {exc}")
            return
        yield from _walk_archive(fileobj, path, depth, budget, limits)
