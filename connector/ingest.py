"""The import pipeline: sources -> raw store -> parallel decode -> one transaction per file.

The main process walks the inputs, stores each file's bytes by content hash and records it as
``pending`` before anything is decoded, so a crash at any point loses nothing: the next import
of the same files retries what is still pending. Decoding runs in worker processes (FIT decoding
is CPU-bound pure Python); results are written in submission order, one transaction per file.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis.activity import DecodedActivity
from analysis.codec import derived_to_json
from analysis.model import ActivityDerived
from connector.decoding import DecodedResult, DecoderPool, SurfaceConfig, Ticket, decode_job
from connector.sources import Limits, iter_sources
from store.blobs import BlobStore, sha256_hex
from store.models import (
    Activity,
    ActivitySource,
    IngestJob,
    JobStatus,
    RawFile,
    RawFileStatus,
)

__all__ = ["FileOutcome", "ImportReport", "Importer", "OutcomeStatus", "SurfaceConfig"]

log = logging.getLogger(__name__)

OutcomeStatus = Literal["imported", "duplicate", "failed", "skipped"]

#: Same activity from two files: starts this close, same sport, durations within this ratio.
TWIN_START_WINDOW = timedelta(seconds=60)
TWIN_DURATION_TOLERANCE = 0.05


@dataclass(slots=True)
class FileOutcome:
    """What happened to one input file."""

    path: str
    status: OutcomeStatus
    activity_ids: list[int] = field(default_factory=list)
    partial: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class ImportReport:
    files: list[FileOutcome] = field(default_factory=list)
    job_id: int | None = None

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.count("imported"),
            "duplicates": self.count("duplicate"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "files": [f.to_json() for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class _Pending:
    """A file stored and awaiting its decode result."""

    path: str
    raw_file_id: int
    sha256: str


class Importer:
    """Imports FIT files for one athlete into the store. Reusable across calls."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        *,
        workers: int = 1,
        limits: Limits | None = None,
        surfaces: SurfaceConfig | None = None,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._workers = max(1, workers)
        self._limits = limits or Limits()
        self._surfaces = surfaces or SurfaceConfig()

    def import_paths(
        self,
        athlete_id: int,
        paths: Iterable[Path],
        *,
        kind: str = "cli-import",
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> ImportReport:
        """Import every FIT file found under ``paths``; never stops at a bad file."""
        report = ImportReport()
        job_id = self._start_job(athlete_id, kind)
        report.job_id = job_id

        def emit(outcome: FileOutcome) -> None:
            report.files.append(outcome)
            if on_file is not None:
                on_file(outcome)

        # Outcomes leave in input order: ready ones wait behind files still being decoded.
        queue: deque[FileOutcome | tuple[_Pending, Ticket]] = deque()
        decoding = 0

        def drain(*, limit: int) -> None:
            nonlocal decoding
            while queue:
                head = queue[0]
                if isinstance(head, FileOutcome):
                    queue.popleft()
                    emit(head)
                elif decoding > limit or head[1].done():
                    queue.popleft()
                    decoding -= 1
                    emit(self._finish(athlete_id, head[0], decoders.result(head[1])))
                else:
                    return

        try:
            with self._decoders() as decoders:
                seen: set[str] = set()
                for item in iter_sources(paths, limits=self._limits):
                    if item.status == "skipped":
                        queue.append(FileOutcome(item.path, "skipped", error=item.error))
                    elif item.status == "failed" or item.data is None:
                        queue.append(FileOutcome(item.path, "failed", error=item.error))
                    else:
                        early, pending = self._receive(
                            athlete_id, job_id, item.path, item.data, seen
                        )
                        if early is not None:
                            queue.append(early)
                        else:
                            assert pending is not None
                            queue.append((pending, decoders.submit(item.data)))
                            decoding += 1
                    drain(limit=2 * self._workers - 1)
                drain(limit=-1)
        except BaseException as exc:
            self._end_job(job_id, report, error=f"{type(exc).__name__}: {exc}")
            raise
        self._end_job(job_id, report, error=None)
        return report

    def rederive(self, athlete_id: int) -> int:
        """Decode the athlete's stored raw files again and refresh their derived metrics.

        For after a change to the decoder, the derive rules or the surface map; the summary
        columns stay as first imported. Returns the number of activities refreshed.
        """
        with self._sessions() as session:
            raws = session.execute(
                select(RawFile.id, RawFile.sha256).where(
                    RawFile.athlete_id == athlete_id, RawFile.status == RawFileStatus.IMPORTED
                )
            ).all()
        refreshed = 0
        with self._decoders() as decoders:
            queue: deque[tuple[str, Ticket]] = deque()

            def finish(sha256: str, ticket: Ticket) -> None:
                nonlocal refreshed
                result = decoders.result(ticket)
                if isinstance(result, str):
                    log.warning("raw file %s no longer decodes: %s", sha256, result)
                    return
                with self._sessions.begin() as session:
                    for activity, derived in zip(
                        result.file.activities, result.derived, strict=True
                    ):
                        row = session.scalar(
                            select(Activity).where(
                                Activity.athlete_id == athlete_id,
                                Activity.source == ActivitySource.FIT,
                                Activity.source_id == f"{sha256}:{activity.session_index}",
                            )
                        )
                        if row is not None:
                            row.derived = derived_to_json(derived)
                            refreshed += 1

            for _raw_id, sha256 in raws:
                queue.append((sha256, decoders.submit(self._blobs.get(sha256))))
                while len(queue) >= 2 * self._workers:
                    finish(*queue.popleft())
            while queue:
                finish(*queue.popleft())
        return refreshed

    # -- decoding -------------------------------------------------------------------------

    def _decoders(self) -> DecoderPool:
        return DecoderPool(
            functools.partial(decode_job, surfaces=self._surfaces), workers=self._workers
        )

    # -- database -------------------------------------------------------------------------

    def _start_job(self, athlete_id: int, kind: str) -> int:
        with self._sessions.begin() as session:
            job = IngestJob(athlete_id=athlete_id, kind=kind, status=JobStatus.RUNNING)
            session.add(job)
            session.flush()
            return job.id

    def _end_job(self, job_id: int, report: ImportReport, *, error: str | None) -> None:
        with self._sessions.begin() as session:
            job = session.get_one(IngestJob, job_id)
            job.status = JobStatus.FAILED if error else JobStatus.DONE
            job.error = error
            job.finished_at = datetime.now(UTC)
            job.imported = report.count("imported")
            job.duplicates = report.count("duplicate")
            job.failed = report.count("failed")
            job.skipped = report.count("skipped")

    def _receive(
        self, athlete_id: int, job_id: int, path: str, data: bytes, seen: set[str]
    ) -> tuple[FileOutcome | None, _Pending | None]:
        """Store the bytes and a ``pending`` row; or recognise the file as already known."""
        digest = sha256_hex(data)
        if digest in seen:
            return FileOutcome(path, "duplicate"), None
        seen.add(digest)
        self._blobs.put(data)
        with self._sessions.begin() as session:
            raw = session.scalar(
                select(RawFile).where(RawFile.athlete_id == athlete_id, RawFile.sha256 == digest)
            )
            if raw is not None and raw.status in (RawFileStatus.IMPORTED, RawFileStatus.DUPLICATE):
                ids = list(
                    session.scalars(
                        select(Activity.id)
                        .where(Activity.raw_file_id == raw.id)
                        .order_by(Activity.id)
                    )
                )
                return FileOutcome(path, "duplicate", ids, partial=raw.partial), None
            if raw is None:
                raw = RawFile(
                    athlete_id=athlete_id,
                    sha256=digest,
                    original_name=path,
                    size_bytes=len(data),
                    status=RawFileStatus.PENDING,
                )
                session.add(raw)
            # pending (an earlier import crashed) or failed (a newer decoder may do better):
            # decode again.
            raw.status = RawFileStatus.PENDING
            raw.error = None
            raw.ingest_job_id = job_id
            session.flush()
            return None, _Pending(path, raw.id, digest)

    def _finish(
        self, athlete_id: int, pending: _Pending, result: DecodedResult | str
    ) -> FileOutcome:
        with self._sessions.begin() as session:
            raw = session.get_one(RawFile, pending.raw_file_id)
            if isinstance(result, str):
                raw.status = RawFileStatus.FAILED
                raw.error = result
                return FileOutcome(pending.path, "failed", error=result)
            for warning in result.file.warnings:
                log.warning("%s: %s", pending.path, warning)
            ids, new = _store_activities(session, athlete_id, raw, result)
            raw.status = RawFileStatus.IMPORTED if new else RawFileStatus.DUPLICATE
            raw.partial = result.file.partial
            return FileOutcome(
                pending.path,
                "imported" if new else "duplicate",
                ids,
                partial=result.file.partial,
            )


def _store_activities(
    session: Session, athlete_id: int, raw: RawFile, decoded: DecodedResult
) -> tuple[list[int], int]:
    """Insert the file's activities that are not already stored; return (all ids, new count)."""
    ids: list[int] = []
    new = 0
    for decoded_activity, derived in zip(decoded.file.activities, decoded.derived, strict=True):
        source_id = f"{raw.sha256}:{decoded_activity.session_index}"
        existing = session.scalar(
            select(Activity.id).where(
                Activity.athlete_id == athlete_id,
                Activity.source == ActivitySource.FIT,
                Activity.source_id == source_id,
            )
        )
        if existing is not None:
            ids.append(existing)
            continue
        twin = _find_twin(session, athlete_id, decoded_activity)
        if twin is not None and twin.source is not ActivitySource.STRAVA:
            ids.append(twin.id)
            continue
        if twin is not None:
            # The athlete's own file is the system of record: its numbers replace the copy
            # that came from Strava (the Strava sync links the two again on its next pass).
            session.delete(twin)
            session.flush()
        activity = _insert_activity(session, athlete_id, raw, source_id, decoded_activity, derived)
        ids.append(activity.id)
        new += 1
    return ids, new


def _find_twin(session: Session, athlete_id: int, candidate: DecodedActivity) -> Activity | None:
    """The stored activity this one duplicates (same sport, start +-60 s, duration +-5 %)."""
    rows = session.scalars(
        select(Activity).where(
            Activity.athlete_id == athlete_id,
            Activity.sport == candidate.sport,
            Activity.start_utc >= candidate.start - TWIN_START_WINDOW,
            Activity.start_utc <= candidate.start + TWIN_START_WINDOW,
        )
    )
    for row in rows:
        longest = max(row.elapsed_s, candidate.elapsed_s)
        if (
            longest == 0
            or abs(row.elapsed_s - candidate.elapsed_s) <= TWIN_DURATION_TOLERANCE * longest
        ):
            return row
    return None


def _insert_activity(
    session: Session,
    athlete_id: int,
    raw: RawFile,
    source_id: str,
    decoded: DecodedActivity,
    derived: ActivityDerived,
) -> Activity:
    activity = Activity(
        athlete_id=athlete_id,
        source=ActivitySource.FIT,
        source_id=source_id,
        raw_file_id=raw.id,
        sport=decoded.sport,
        sub_sport=decoded.sub_sport,
        start_utc=decoded.start,
        local_offset_s=decoded.local_offset_s,
        local_date=decoded.local_date,
        elapsed_s=decoded.elapsed_s,
        moving_s=decoded.moving_s,
        distance_m=decoded.distance_m,
        ascent_m=decoded.ascent_m,
        avg_hr=decoded.avg_hr,
        max_hr=decoded.max_hr,
        has_gps=decoded.has_gps,
        device=decoded.device,
        partial=decoded.partial,
        derived=derived_to_json(derived),
    )
    session.add(activity)
    session.flush()
    return activity
