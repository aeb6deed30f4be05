"""Tables of the web app: user accounts, browser sessions, API tokens, login throttling, uploads.

Every row hangs off an athlete (directly or through its user) with ``ON DELETE CASCADE``, so
deleting an athlete removes its account, sessions, tokens and upload jobs too. Secrets are never
stored in clear: passwords as argon2 hashes, session ids and API tokens as sha256 digests (both
are 256-bit random values, so a fast hash is enough: there is nothing to brute-force).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enum, utcnow
from store.types import UTCDateTime


class User(Base):
    """A person who signs in; exactly one athlete per user."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-cased, so uniqueness is case-insensitive on every backend."""
    password_hash: Mapped[str] = mapped_column(Text)
    athlete_id: Mapped[int] = mapped_column(
        ForeignKey("athletes.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries the signed id; the row makes logout real."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A personal token for scripts and the CLI (``Authorization: Bearer sg_...``)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters, shown in the list so the owner can tell tokens apart."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed sign-ins per key (an e-mail or a client address), shared by every web worker."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """sha256 of ``email:<address>`` or ``ip:<address>`` (no personal data in clear)."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UploadStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    """Imported and analysed: the findings are ready."""
    FAILED = "failed"


class UploadJob(Base):
    """A web upload: received files, then import and analysis in the background."""

    __tablename__ = "upload_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Random hex, so job ids cannot be enumerated."""
    athlete_id: Mapped[int] = mapped_column(
        ForeignKey("athletes.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[UploadStatus] = mapped_column(_enum(UploadStatus, "upload_status"))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """One entry per received file (and per archive member): name, status, ids, error."""
    ingest_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("ingest_jobs.id", ondelete="SET NULL")
    )
    findings: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
