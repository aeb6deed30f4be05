"""``POST /api/uploads``: many FIT/.fit.gz/zip files streamed to disk, imported in the background.

The body is never held in memory: a Content-Length over the limit is refused with 413 before a
byte is read, and without one (chunked) the bytes are counted while each part is streamed to a
temporary file, stopping at the limit. The files are then handed to the same `Importer` the CLI
uses (content hash, raw store, decoding in worker processes) on a background thread, followed by
the analysis; ``GET /api/uploads/{job_id}`` says when the findings are ready.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import select
from starlette.requests import ClientDisconnect

from connector.ingest import FileOutcome
from store import models
from store.accounts import UploadJob, UploadStatus
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.web.auth import AthleteDep, core_app
from strideguard.web.common import DB, clean_filename, not_found, responses

log = logging.getLogger(__name__)
router = APIRouter(tags=["uploads"])

MAX_PARTS = 2000
_FIELD_LIMIT = 64 * 1024
_UNSUPPORTED = "not a .fit, .fit.gz or .zip file"

FileStatus = Literal["received", "imported", "duplicate", "partial", "failed", "skipped"]


class FileResult(BaseModel):
    name: str
    status: FileStatus
    activity_ids: list[int] = []
    error: str | None = None


class UploadJobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    findings_ready: bool
    findings: int | None
    files: list[FileResult]
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def job_out(job: UploadJob) -> UploadJobOut:
    return UploadJobOut(
        id=job.id,
        status=job.status.value,
        findings_ready=job.status == UploadStatus.DONE,
        findings=job.findings,
        files=[FileResult.model_validate(f) for f in job.files],
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


# -- receiving -----------------------------------------------------------------------------------


@dataclass
class _Part:
    name: str
    path: Path | None
    """Where the bytes are on disk (None: refused without storing)."""
    error: str | None = None
    status: FileStatus = "received"
    head: bytes = b""


@dataclass
class _Receiver:
    """python-multipart callbacks: headers parsed per part, file bodies written to disk."""

    folder: Path
    parts: list[_Part] = field(default_factory=list)
    ended: bool = False
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _field: bytes = b""
    _value: bytes = b""
    _current: _Part | None = None
    _out: IO[bytes] | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end_part,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""
        self._current, self._out = None, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data":
            raise HTTPException(400, "Each part of the upload needs a form-data disposition.")
        raw_name = options.get(b"filename")
        if raw_name is None:
            return  # a plain field: ignored (its bytes still count towards the limit)
        if len(self.parts) >= MAX_PARTS:
            raise HTTPException(400, f"Send at most {MAX_PARTS} files per upload.")
        name = clean_filename(raw_name.decode("utf-8", "replace"))
        lower = name.lower()
        suffix = next((s for s in (".fit.gz", ".fit", ".zip") if lower.endswith(s)), None)
        if suffix is None:
            part = _Part(name, None, _UNSUPPORTED, "skipped")
        else:
            path = self.folder / f"{len(self.parts):05d}{suffix}"
            part = _Part(name, path)
            self._out = path.open("wb")
        self.parts.append(part)
        self._current = part

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None and self._current is not None:
            chunk = data[start:end]
            if len(self._current.head) < 12:
                self._current.head += chunk[: 12 - len(self._current.head)]
            self._out.write(chunk)

    def _end_part(self) -> None:
        self.close()
        self._current = None

    def _end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def _check_signature(part: _Part) -> None:
    """A .fit must start with a FIT header (size 12 or 14, '.FIT' at byte 8)."""
    if part.path is None or not part.name.lower().endswith(".fit"):
        return
    head = part.head
    if len(head) < 12 or head[0] not in (12, 14) or head[8:12] != b".FIT":
        part.status, part.error = "failed", "not a FIT file (no FIT header)"
        part.path.unlink(missing_ok=True)
        part.path = None


async def _receive(request: Request, folder: Path, limit: int) -> list[_Part]:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(400, "Send the files as multipart/form-data.")
    receiver = _Receiver(folder)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, _too_large(limit))
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise HTTPException(400, "The multipart body is malformed.") from exc
    finally:
        receiver.close()
    if not receiver.ended:
        raise HTTPException(400, "The multipart body is incomplete.")
    if not receiver.parts:
        raise HTTPException(422, "Add at least one file to the upload.")
    for part in receiver.parts:
        _check_signature(part)
    return receiver.parts


def _too_large(limit: int) -> str:
    return f"The upload is over the {limit / 1024 / 1024:.0f} MB limit: send fewer files at once."


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        }
                    },
                    "required": ["files"],
                }
            }
        },
    }
}


@router.post(
    "/api/uploads",
    status_code=202,
    response_model=UploadJobOut,
    responses=responses(400, 401, 403, 413, 422),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload FIT, .fit.gz or zip files (multipart, field 'files', many at once)",
)
async def upload(request: Request, account: AthleteDep) -> UploadJobOut:
    """Stream the files to disk, answer at once, import and analyse in the background."""
    app = core_app(request)
    limit = app.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "The Content-Length header is not a number.")
        if int(declared) > limit:
            raise HTTPException(413, _too_large(limit))
    job_id = uuid.uuid4().hex
    folder = app.settings.data_dir / "uploads" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    try:
        parts = await _receive(request, folder, limit)
    except ClientDisconnect:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(400, "The upload was interrupted.") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with app.sessions.begin() as session:
        job = UploadJob(
            id=job_id,
            athlete_id=account.athlete_id,
            status=UploadStatus.QUEUED,
            files=[_result(p) for p in parts],
        )
        session.add(job)
        session.flush()
        out = job_out(job)
    runner: UploadRunner = request.app.state.uploads
    runner.submit(job_id, account.athlete_id, parts, folder)
    return out


def _result(
    part: _Part, outcome: FileOutcome | None = None, name: str | None = None
) -> dict[str, Any]:
    if outcome is None:
        return {"name": part.name, "status": part.status, "activity_ids": [], "error": part.error}
    status: FileStatus = outcome.status
    if outcome.status == "imported" and outcome.partial:
        status = "partial"
    return {
        "name": name or part.name,
        "status": status,
        "activity_ids": list(outcome.activity_ids),
        "error": outcome.error,
    }


@router.get(
    "/api/uploads",
    response_model=list[UploadJobOut],
    responses=responses(401),
    summary="Recent uploads, newest first",
)
def list_uploads(account: AthleteDep, session: DB) -> list[UploadJobOut]:
    rows = session.scalars(
        select(UploadJob)
        .where(UploadJob.athlete_id == account.athlete_id)
        .order_by(UploadJob.created_at.desc())
        .limit(50)
    )
    return [job_out(row) for row in rows]


@router.get(
    "/api/uploads/{job_id}",
    response_model=UploadJobOut,
    responses=responses(401, 404),
    summary="An upload's progress; findings_ready once imported and analysed",
)
def upload_status(
    job_id: Annotated[str, PathParam(max_length=64)], account: AthleteDep, session: DB
) -> UploadJobOut:
    job = session.get(UploadJob, job_id)
    if job is None or job.athlete_id != account.athlete_id:
        raise not_found("This upload")
    return job_out(job)


# -- the background part -------------------------------------------------------------------------


class UploadRunner:
    """Imports received uploads one job at a time, off the request path."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strideguard-upload")

    def submit(self, job_id: str, athlete_id: int, parts: list[_Part], folder: Path) -> None:
        self._pool.submit(self._run, job_id, athlete_id, parts, folder)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, job_id: str, athlete_id: int, parts: list[_Part], folder: Path) -> None:
        sessions = self._app.sessions
        try:
            with sessions.begin() as session:
                job = session.get(UploadJob, job_id)
                if job is None:
                    return  # the account was deleted meanwhile
                job.status = UploadStatus.RUNNING
            files, ingest_job_id = self._import(athlete_id, parts)
            with sessions.begin() as session:
                athlete = session.get(models.Athlete, athlete_id)
                job = session.get(UploadJob, job_id)
                if athlete is None or job is None:
                    return
                result = analyse_athlete(session, athlete, as_of=local_today(athlete))
                job.files = files
                job.ingest_job_id = ingest_job_id
                job.findings = len(result.analysis.findings)
                job.status = UploadStatus.DONE
                job.finished_at = datetime.now(UTC)
        except Exception:
            log.exception("upload %s failed", job_id)
            with sessions.begin() as session:
                job = session.get(UploadJob, job_id)
                if job is not None:
                    job.status = UploadStatus.FAILED
                    job.error = "The import failed unexpectedly; please try again."
                    job.finished_at = datetime.now(UTC)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _import(
        self, athlete_id: int, parts: list[_Part]
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Run the importer over the stored parts; per-file results under the users' names."""
        stored = [p for p in parts if p.path is not None]
        by_path = {str(p.path): p for p in stored}
        outcomes: dict[str, list[tuple[FileOutcome, str]]] = {}
        ingest_job_id: int | None = None
        if stored:
            many = len(stored) > 2 or any(p.name.lower().endswith(".zip") for p in stored)
            importer = self._app.importer(workers=None if many else 1)
            report = importer.import_paths(
                athlete_id, [p.path for p in stored if p.path is not None], kind="upload"
            )
            ingest_job_id = report.job_id
            for outcome in report.files:
                key, _, member = outcome.path.partition("!")
                part = by_path.get(key)
                if part is None:
                    continue
                shown = part.name + (f"!{member}" if member else "")
                outcomes.setdefault(key, []).append((outcome, shown))
            self._rename_raw_files(report.job_id, by_path)
        files: list[dict[str, Any]] = []
        for part in parts:
            found = outcomes.get(str(part.path)) if part.path is not None else None
            if not found:
                if part.path is not None and part.status == "received":
                    part.status, part.error = "skipped", "no FIT files in it"
                files.append(_result(part))
                continue
            files.extend(_result(part, outcome, shown) for outcome, shown in found)
        return files, ingest_job_id

    def _rename_raw_files(self, ingest_job_id: int | None, by_path: dict[str, _Part]) -> None:
        """Raw files remember the name the athlete uploaded, not our temporary one."""
        if ingest_job_id is None:
            return
        with self._app.sessions.begin() as session:
            for raw in session.scalars(
                select(models.RawFile).where(models.RawFile.ingest_job_id == ingest_job_id)
            ):
                key, sep, member = raw.original_name.partition("!")
                part = by_path.get(key)
                if part is not None:
                    raw.original_name = part.name + sep + member
