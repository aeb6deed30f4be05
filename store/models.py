"""The database tables, as typed SQLAlchemy 2 models.

Per-second samples are deliberately not rows: the raw FIT bytes are kept (see `store.blobs`) so
anything derived from samples can be recomputed when a rule changes.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ActivitySource(enum.StrEnum):
    FIT = "fit"
    STRAVA = "strava"
    MANUAL = "manual"


class RawFileStatus(enum.StrEnum):
    PENDING = "pending"
    """Stored on disk, not decoded yet (or the import crashed): a re-import retries it."""
    IMPORTED = "imported"
    DUPLICATE = "duplicate"
    """Every activity in it was already stored from another file."""
    FAILED = "failed"


class JobStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value needs no type migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Athlete(Base):
    __tablename__ = "athletes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The athlete profile (None = not given: the analysis estimates and says so).
    sex: Mapped[str] = mapped_column(String(16), default="unspecified")
    hr_max: Mapped[float | None] = mapped_column(Float)
    hr_rest: Mapped[float | None] = mapped_column(Float)
    zone_floors_pct: Mapped[list[float] | None] = mapped_column(JSON)
    strength_goal_per_week: Mapped[int] = mapped_column(Integer, default=2)
    units: Mapped[str] = mapped_column(String(2), default="km")
    muted_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    threshold_speed_mps: Mapped[float | None] = mapped_column(Float)

    activities: Mapped[list[Activity]] = relationship(
        back_populates="athlete", cascade="all, delete-orphan", passive_deletes=True
    )


class RawFile(Base):
    """A file as received, content-addressed by sha256 (bytes live in the blob store)."""

    __tablename__ = "raw_files"
    __table_args__ = (UniqueConstraint("athlete_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RawFileStatus] = mapped_column(_enum(RawFileStatus, "raw_file_status"))
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ingest_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("ingest_jobs.id", ondelete="SET NULL")
    )


class Activity(Base):
    """One session: a run, a ride, a strength workout... with its summary numbers."""

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("athlete_id", "source", "source_id"),
        Index("ix_activities_athlete_start", "athlete_id", "start_utc"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    source: Mapped[ActivitySource] = mapped_column(_enum(ActivitySource, "activity_source"))
    source_id: Mapped[str] = mapped_column(String(128))
    """For FIT: ``<sha256>:<session index>``; for Strava: the activity id."""
    raw_file_id: Mapped[int | None] = mapped_column(ForeignKey("raw_files.id", ondelete="SET NULL"))
    sport: Mapped[str] = mapped_column(String(48))
    sub_sport: Mapped[str | None] = mapped_column(String(48))
    start_utc: Mapped[datetime] = mapped_column(UTCDateTime)
    local_offset_s: Mapped[int] = mapped_column(Integer)
    local_date: Mapped[date] = mapped_column(Date)
    elapsed_s: Mapped[float] = mapped_column(Float)
    moving_s: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    ascent_m: Mapped[float | None] = mapped_column(Float)
    avg_hr: Mapped[float | None] = mapped_column(Float)
    max_hr: Mapped[float | None] = mapped_column(Float)
    has_gps: Mapped[bool] = mapped_column(Boolean)
    device: Mapped[str | None] = mapped_column(String(128))
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rpe: Mapped[float | None] = mapped_column(Float)
    """Session RPE (1-10) the athlete logged."""
    derived: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Profile-independent metrics from the samples (`analysis.model.ActivityDerived`)."""
    load: Mapped[float | None] = mapped_column(Float)
    load_method: Mapped[str | None] = mapped_column(String(16))
    zone_minutes: Mapped[list[float] | None] = mapped_column(JSON)

    athlete: Mapped[Athlete] = relationship(back_populates="activities")


class IngestJob(Base):
    """One import run (CLI, upload, later a Strava sync): what came in and how it ended."""

    __tablename__ = "ingest_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Finding(Base):
    """An explained observation; (athlete, rule, subject) is unique so re-runs update in place."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("athlete_id", "rule_id", "subject"),
        Index("ix_findings_athlete_date", "athlete_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(16))
    evidence_grade: Mapped[str] = mapped_column(String(1))
    citation: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    exercises: Mapped[list[str]] = mapped_column(JSON)
    push: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StrengthLog(Base):
    """A strength or mobility session the athlete logged by hand."""

    __tablename__ = "strength_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PainLog(Base):
    """A pain check-in: where, how much (0-10), which day."""

    __tablename__ = "pain_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    area: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
