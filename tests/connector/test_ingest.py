"""The import pipeline against real device files and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import connector.ingest
from connector.fit import decode_fit
from connector.ingest import Importer
from connector.sources import Limits
from store.blobs import BlobStore
from store.models import (
    Activity,
    ActivitySource,
    Athlete,
    IngestJob,
    JobStatus,
    RawFile,
    RawFileStatus,
)

RUN = "thomaschampagne__elevate__kaiteriteri.fit"  # Garmin FR945 run, 1 session
TREADMILL = "thomaschampagne__elevate__treadmill.fit"
MULTISPORT = "jarkko__fit-analyzer__20555050352_ACTIVITY.fit"  # strength, run, strength
TRUNCATED = "dtcooper__python-fitparse__activity-unexpected-eof.fit"
EMPTY = "thomaschampagne__elevate__empty.fit"


@pytest.fixture
def athlete_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        athlete = Athlete(handle="runner", display_name="Runner", time_zone="Europe/Oslo")
        session.add(athlete)
        session.flush()
        return athlete.id


@pytest.fixture
def importer(sessions: sessionmaker[Session], tmp_path: Path) -> Importer:
    return Importer(sessions, BlobStore(tmp_path / "raw"), workers=1)


def _copy(samples_dir: Path, dest: Path, *names: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(samples_dir / name, dest / name)
    return dest


def _activity_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Activity)) or 0


def test_imports_each_session_as_an_activity(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
) -> None:
    report = importer.import_paths(athlete_id, [samples_dir / RUN, samples_dir / MULTISPORT])
    assert [f.status for f in report.files] == ["imported", "imported"]
    assert [len(f.activity_ids) for f in report.files] == [1, 3]
    with sessions() as session:
        sports = session.scalars(
            select(Activity.sport).where(Activity.id.in_(report.files[1].activity_ids))
        ).all()
        assert sorted(sports) == ["running", "training", "training"]
        job = session.get_one(IngestJob, report.job_id)
        assert (job.status, job.imported, job.failed) == (JobStatus.DONE, 2, 0)


def test_the_same_import_twice_changes_nothing(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
    tmp_path: Path,
) -> None:
    folder = _copy(samples_dir, tmp_path / "in", RUN, TREADMILL, MULTISPORT, EMPTY)
    first = importer.import_paths(athlete_id, [folder])
    assert first.to_json()["imported"] == 3
    assert first.to_json()["failed"] == 1
    count = _activity_count(sessions)
    second = importer.import_paths(athlete_id, [folder])
    assert second.to_json()["imported"] == 0
    assert second.to_json()["duplicates"] == 3
    assert _activity_count(sessions) == count == 5
    by_path = {Path(f.path).name: f for f in second.files}
    assert sorted(by_path[MULTISPORT].activity_ids) == sorted(
        next(f for f in first.files if f.path.endswith(MULTISPORT)).activity_ids
    )


def test_the_same_activity_in_a_different_file_is_not_counted_twice(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
    tmp_path: Path,
) -> None:
    original = (samples_dir / RUN).read_bytes()
    # Same records, different bytes (as when a watch and a sync app each hand over a copy):
    # a changed file CRC, which the lenient decoder only warns about.
    copy = original[:-2] + bytes([original[-2] ^ 0xFF, original[-1]])
    (tmp_path / "copy.fit").write_bytes(copy)
    first = importer.import_paths(athlete_id, [samples_dir / RUN])
    second = importer.import_paths(athlete_id, [tmp_path / "copy.fit"])
    assert second.files[0].status == "duplicate"
    assert second.files[0].activity_ids == first.files[0].activity_ids
    assert _activity_count(sessions) == 1
    with sessions() as session:
        statuses = session.scalars(select(RawFile.status).order_by(RawFile.id)).all()
    assert statuses == [RawFileStatus.IMPORTED, RawFileStatus.DUPLICATE]


def test_failed_and_partial_files_are_reported_and_kept(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.fit").write_bytes(b"this is a shopping list, not a FIT file\n" * 20)
    report = importer.import_paths(
        athlete_id, [samples_dir / TRUNCATED, samples_dir / EMPTY, tmp_path / "notes.fit"]
    )
    truncated, empty, notes = report.files
    assert truncated.status == "imported"
    assert truncated.partial
    assert empty.status == "failed"
    assert empty.error is not None
    assert "empty" in empty.error
    assert notes.status == "failed"
    assert notes.error is not None
    assert "not a FIT file" in notes.error
    with sessions() as session:
        failed = session.scalars(
            select(RawFile).where(RawFile.status == RawFileStatus.FAILED)
        ).all()
        # The empty file has no bytes worth keeping; the non-FIT one is kept for a retry.
        assert [raw.original_name for raw in failed] == [notes.path]
        assert all(raw.error for raw in failed)
        partial = session.scalars(select(Activity).where(Activity.partial)).all()
        assert len(partial) == 1
    blobs = BlobStore(tmp_path / "raw")
    assert all(raw.sha256 in blobs for raw in failed)


def test_a_crash_mid_file_leaves_no_half_written_activity(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_insert = connector.ingest._insert_activity
    calls = 0

    def crash_on_second(*args: object, **kwargs: object) -> Activity:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt("power cut")
        return real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(connector.ingest, "_insert_activity", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        importer.import_paths(athlete_id, [samples_dir / MULTISPORT])
    assert _activity_count(sessions) == 0
    with sessions() as session:
        raw = session.scalars(select(RawFile)).one()
        assert raw.status == RawFileStatus.PENDING
        job = session.scalars(select(IngestJob)).one()
        assert job.status == JobStatus.FAILED
        assert job.error is not None
        assert "power cut" in job.error

    monkeypatch.setattr(connector.ingest, "_insert_activity", real_insert)
    retry = importer.import_paths(athlete_id, [samples_dir / MULTISPORT])
    assert retry.files[0].status == "imported"
    assert _activity_count(sessions) == 3


def test_strava_and_garmin_exports(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
    tmp_path: Path,
) -> None:
    strava = tmp_path / "export_12345.zip"
    with zipfile.ZipFile(strava, "w") as zf:
        zf.writestr("activities.csv", "Activity ID,Activity Name\n1,Morning Run\n")
        zf.writestr("activities/1.fit.gz", gzip.compress((samples_dir / RUN).read_bytes()))
        zf.writestr("activities/2.gpx", "<gpx/>")
        zf.writestr("media/photo.jpg", b"\xff\xd8\xff")
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.write(samples_dir / TREADMILL, "1001_ACTIVITY.fit")
    garmin = tmp_path / "garmin.zip"
    with zipfile.ZipFile(garmin, "w") as zf:
        zf.write(inner, "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip")
        zf.writestr("DI_CONNECT/DI-Connect-User/user_profile.json", "{}")
    report = importer.import_paths(athlete_id, [strava, garmin]).to_json()
    assert (report["imported"], report["failed"], report["skipped"]) == (2, 0, 4)
    assert _activity_count(sessions) == 2


def test_files_over_the_size_limit_fail_clearly(
    sessions: sessionmaker[Session], athlete_id: int, samples_dir: Path, tmp_path: Path
) -> None:
    small = Importer(
        sessions, BlobStore(tmp_path / "raw"), limits=Limits(max_file_bytes=100 * 1024)
    )
    report = small.import_paths(athlete_id, [samples_dir / RUN])
    assert report.files[0].status == "failed"
    assert report.files[0].error is not None
    assert "limit" in report.files[0].error
    assert _activity_count(sessions) == 0


def test_parallel_import_matches_serial(
    sessions: sessionmaker[Session], athlete_id: int, samples_dir: Path, tmp_path: Path
) -> None:
    names = [RUN, TREADMILL, MULTISPORT, TRUNCATED, EMPTY]
    folder = _copy(samples_dir, tmp_path / "in", *names)
    parallel = Importer(sessions, BlobStore(tmp_path / "raw"), workers=2)
    report = parallel.import_paths(athlete_id, [folder])
    statuses = {Path(f.path).name: f.status for f in report.files}
    assert statuses == {
        RUN: "imported",
        TREADMILL: "imported",
        MULTISPORT: "imported",
        TRUNCATED: "imported",
        EMPTY: "failed",
    }
    assert _activity_count(sessions) == 6


def test_a_fit_file_replaces_the_same_activity_from_strava(
    importer: Importer,
    sessions: sessionmaker[Session],
    athlete_id: int,
    samples_dir: Path,
) -> None:
    (run,) = decode_fit((samples_dir / RUN).read_bytes()).activities
    with sessions.begin() as session:
        session.add(
            Activity(
                athlete_id=athlete_id,
                source=ActivitySource.STRAVA,
                source_id="1234567890",
                sport="running",
                sub_sport=None,
                start_utc=run.start + timedelta(seconds=20),
                local_offset_s=run.local_offset_s,
                local_date=run.local_date,
                elapsed_s=run.elapsed_s * 1.02,
                distance_m=(run.distance_m or 0) * 0.97,
                has_gps=True,
            )
        )
    report = importer.import_paths(athlete_id, [samples_dir / RUN])
    assert report.files[0].status == "imported"
    with sessions() as session:
        (only,) = session.scalars(select(Activity)).all()
    assert only.source == ActivitySource.FIT
    assert only.distance_m == run.distance_m  # the file's own numbers win
