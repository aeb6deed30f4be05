"""Worker-side decoding: FIT bytes -> activities + derived metrics, in a pool that survives.

Decoding is CPU-bound pure Python, so it runs in worker processes. A worker can die on a
hostile or huge file (killed for memory, a crash in a C extension): the pool then restarts and
retries each affected file alone, so one poisoned file fails by itself and the rest go on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pandas as pd

from analysis.activity import DecodedFile
from analysis.derive import derive_activity
from analysis.model import ActivityDerived
from analysis.surfaces import NoSurfaceLookup, SurfaceLookup, classify_surface
from connector.errors import ConnectorError
from connector.fit import decode_fit
from connector.osm import OsmExtractLookup, OverpassLookup, WayCache

__all__ = [
    "DECODER_DIED",
    "DecodeJob",
    "DecodedResult",
    "DecoderPool",
    "SurfaceConfig",
    "decode_job",
]

log = logging.getLogger(__name__)

DECODER_DIED = "the decoder process died on this file (it may be malformed or far too large)"


@dataclass(frozen=True, slots=True)
class SurfaceConfig:
    """Where the map layer of surface classification gets OSM tags (picklable for workers)."""

    osm_extract: Path | None = None
    overpass_url: str | None = None
    cache_path: Path | None = None


@functools.lru_cache(maxsize=4)
def _surface_lookup(config: SurfaceConfig) -> SurfaceLookup:
    """One lookup per worker process and configuration (its way cache is reused)."""
    cache = WayCache(str(config.cache_path)) if config.cache_path else WayCache()
    if config.osm_extract is not None:
        return OsmExtractLookup(config.osm_extract, cache=cache)
    if config.overpass_url:
        return OverpassLookup(config.overpass_url, cache=cache)
    return NoSurfaceLookup()


@dataclass(frozen=True, slots=True)
class DecodedResult:
    """A worker's answer: the file's activities without samples, and what was derived."""

    file: DecodedFile
    derived: tuple[ActivityDerived, ...]


def decode_job(data: bytes, surfaces: SurfaceConfig) -> DecodedResult | str:
    """Worker-side: decode, derive per-activity metrics, drop the samples; or say why not."""
    try:
        return _decode_and_derive(data, surfaces)
    except ConnectorError as exc:
        return str(exc)
    except Exception as exc:  # a decoder bug on untrusted bytes fails this file, not the import
        log.exception("decoder error")
        return f"decoder error: {type(exc).__name__}: {exc}"
    finally:
        _release_memory()


def _release_memory() -> None:
    """Hand freed heap back to the OS after each file, so an idle worker stays small.

    glibc keeps freed memory for reuse; after a large file that is tens of MB per worker,
    which would add up across workers. Elsewhere (not glibc) this is a no-op.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def _decode_and_derive(data: bytes, surfaces: SurfaceConfig) -> DecodedResult:
    decoded = decode_fit(data)
    lookup = _surface_lookup(surfaces)
    derived = tuple(
        dataclasses.replace(
            derive_activity(activity), surface=classify_surface(activity, lookup=lookup)
        )
        for activity in decoded.activities
    )
    empty = pd.DataFrame()
    slim = dataclasses.replace(
        decoded,
        activities=tuple(
            dataclasses.replace(a, samples=empty, laps=empty, sets=empty)
            for a in decoded.activities
        ),
    )
    return DecodedResult(slim, derived)


DecodeJob = Callable[[bytes], "DecodedResult | str"]


@dataclass(slots=True)
class Ticket:
    """A file handed to the pool; keeps its bytes so it can be retried alone."""

    data: bytes
    generation: int
    future: Future[DecodedResult | str] | None = None
    ready: DecodedResult | str | None = None

    def done(self) -> bool:
        return self.future is None or self.future.done()


class DecoderPool:
    """Runs a decode job per file: in worker processes, or inline when ``workers == 1``."""

    def __init__(self, job: DecodeJob, *, workers: int) -> None:
        self._job = job
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0

    def __enter__(self) -> DecoderPool:
        if self._workers > 1:
            self._pool = self._new_pool()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: workers start from a clean process, not a fork of one running threads
        # (the progress bar) and holding database connections. Preloading the pipeline in the
        # server lets every worker share those pages.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["connector.decoding"])
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=context)

    def _restart(self, generation: int) -> None:
        """Replace a broken pool, once per breakage (several tickets may report the same)."""
        if generation != self._generation or self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self._generation += 1

    def submit(self, data: bytes) -> Ticket:
        if self._pool is None:
            return Ticket(data, self._generation, ready=self._job(data))
        ticket = Ticket(data, self._generation)
        try:
            ticket.future = self._pool.submit(self._job, data)
        except BrokenProcessPool:
            self._restart(ticket.generation)
            ticket.generation = self._generation
            ticket.future = self._pool.submit(self._job, data)
        return ticket

    def result(self, ticket: Ticket) -> DecodedResult | str:
        if ticket.future is None:
            assert ticket.ready is not None
            return ticket.ready
        try:
            return ticket.future.result()
        except BrokenProcessPool:
            pass
        # Some worker died; this file may or may not be the cause. Retry it alone.
        self._restart(ticket.generation)
        assert self._pool is not None
        generation = self._generation
        try:
            return self._pool.submit(self._job, ticket.data).result()
        except BrokenProcessPool:
            self._restart(generation)
            return DECODER_DIED
