"""Tables of the Strava connector: links (encrypted tokens), rate budget, event queue, raw JSON.

Everything here is Strava-derived and is deleted when the athlete disconnects or revokes access
(`connector.strava.sync.delete_strava_data`), except the app-wide budget row, which holds no
athlete data. Tokens are stored encrypted (`connector.strava.crypto`), never in clear.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enum, utcnow
from store.types import UTCDateTime

__all__ = [
    "APP_ROW_ID",
    "EventStatus",
    "LinkStatus",
    "StravaActivityLink",
    "StravaEvent",
    "StravaLink",
    "StravaOAuthState",
    "StravaRateBudget",
    "StravaRaw",
]

#: The one row of `strava_rate_budget`.
APP_ROW_ID = 1


class LinkStatus(enum.StrEnum):
    OK = "ok"
    BROKEN = "broken"
    """Strava refused the tokens (401 after a refresh): the athlete must connect again."""
    REVOKED = "revoked"
    """The athlete disconnected; local data is gone, the deauthorize call at Strava is pending."""


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    """Claimed by a worker until `lease_until`; an expired lease is claimable again."""
    DONE = "done"
    FAILED = "failed"
    DROPPED = "dropped"
    """Unknown athlete or nothing to do: logged, kept only for idempotency."""


class StravaLink(Base):
    """One athlete's Strava connection: encrypted tokens, granted scopes, sync cursor."""

    __tablename__ = "strava_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(
        ForeignKey("athletes.id", ondelete="CASCADE"), unique=True
    )
    strava_athlete_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[LinkStatus] = mapped_column(
        _enum(LinkStatus, "strava_link_status"), default=LinkStatus.OK
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Start of the last sync that completed: the next one lists activities after it."""
    # A running sync, resumable after a 429 or a crash: activities started in
    # (sync_after, sync_before) are still to be listed; sync_before moves down page by page.
    sync_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_before: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StravaActivityLink(Base):
    """A Strava activity recognised as an activity already stored from a FIT file.

    The FIT row stays the record (its numbers win); this row only says "Strava id X is that
    activity", so updates and deletes of X never touch the FIT data.
    """

    __tablename__ = "strava_activity_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    strava_activity_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StravaRateBudget(Base):
    """The app-wide state every process shares: read budget, block, app status, subscription.

    Strava limits requests per application, not per athlete, so one row (id 1) is the truth;
    usage comes from the response headers and is counted up locally between responses.
    """

    __tablename__ = "strava_rate_budget"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_limit_15m: Mapped[int] = mapped_column(Integer, default=100)
    read_limit_day: Mapped[int] = mapped_column(Integer, default=1000)
    read_usage_15m: Mapped[int] = mapped_column(Integer, default=0)
    read_usage_day: Mapped[int] = mapped_column(Integer, default=0)
    overall_limit_15m: Mapped[int] = mapped_column(Integer, default=200)
    overall_limit_day: Mapped[int] = mapped_column(Integer, default=2000)
    overall_usage_15m: Mapped[int] = mapped_column(Integer, default=0)
    overall_usage_day: Mapped[int] = mapped_column(Integer, default=0)
    window_15m_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The 15-minute window the 15-minute usage belongs to (usage resets at :00/:15/:30/:45)."""
    window_day: Mapped[str | None] = mapped_column(String(10))
    """The UTC day (ISO date) the daily usage belongs to."""
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    block_reason: Mapped[str | None] = mapped_column(Text)
    app_status: Mapped[str] = mapped_column(String(16), default="ok")
    """``ok`` or ``inactive`` (Strava answered 403 "Application Inactive")."""
    app_error: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[int | None] = mapped_column(BigInteger)
    """The webhook subscription (one per app) that events must carry."""
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StravaEvent(Base):
    """A webhook event, stored before it is acknowledged: the durable queue.

    Strava retries events it thinks were not delivered; the unique key makes a replay a no-op.
    """

    __tablename__ = "strava_events"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "aspect_type", "event_time"),
        Index("ix_strava_events_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(BigInteger)
    aspect_type: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger)
    updates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[EventStatus] = mapped_column(
        _enum(EventStatus, "strava_event_status"), default=EventStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StravaRaw(Base):
    """An activity's JSON as Strava sent it, kept for the retention window only (terms)."""

    __tablename__ = "strava_raw"
    __table_args__ = (Index("ix_strava_raw_fetched_at", "fetched_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    strava_activity_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``summary`` (from the activity list) or ``detail`` (from GET /activities/{id})."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StravaOAuthState(Base):
    """A single-use OAuth ``state``, bound to the athlete and the signed-in web session."""

    __tablename__ = "strava_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    binding_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
