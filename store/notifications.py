"""Tables of the alerts: notification settings, the delivery ledger and the scheduler lock.

The ledger decides what is owed: (athlete, kind, period) is unique, so a double tick, a restart
or two schedulers can only ever plan a delivery once; (athlete, push_day) is unique too, so an
athlete gets at most one push per local day (NULL for e-mail, and NULLs never collide).
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, utcnow
from store.types import UTCDateTime


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Owed; due at `next_attempt_at`."""
    CLAIMED = "claimed"
    """A dispatcher holds it until `lease_until`; after that it is up for grabs again."""
    SENT = "sent"
    FAILED = "failed"
    """Gave up: attempts exhausted, expired past its grace period, or outcome unknown."""


class DeliveryKind(enum.StrEnum):
    DIGEST = "digest"
    SPIKE_NUDGE = "spike_nudge"
    STRENGTH_NUDGE = "strength_nudge"


class Channel(enum.StrEnum):
    EMAIL = "email"
    PUSH = "push"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Plain strings, as in store.models: adding a value needs no type migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class NotificationSettings(Base):
    """How and when one athlete wants to hear from Strideguard (one row per athlete)."""

    __tablename__ = "notification_settings"

    athlete_id: Mapped[int] = mapped_column(
        ForeignKey("athletes.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    push_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Apprise URLs (ntfy://, tgram://, slack://, discord://, json://...)."""
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[time] = mapped_column(Time, default=time(21, 0))
    quiet_end: Mapped[time] = mapped_column(Time, default=time(7, 0))
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0)
    """0 = Monday ... 6 = Sunday, in the athlete's time zone."""
    digest_time: Mapped[time] = mapped_column(Time, default=time(7, 0))
    spike_nudge_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    strength_nudge_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    strength_nudge_weekday: Mapped[int] = mapped_column(Integer, default=3)
    strength_nudge_time: Mapped[time] = mapped_column(Time, default=time(18, 0))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set by the one-click unsubscribe link: no more e-mail until the athlete opts back in."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One owed message: planned once, claimed with a lease, sent or failed with its reason."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("athlete_id", "kind", "period"),
        UniqueConstraint("athlete_id", "push_day"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"))
    kind: Mapped[DeliveryKind] = mapped_column(_enum(DeliveryKind, "delivery_kind"))
    period: Mapped[str] = mapped_column(String(64))
    """What it is for: an ISO week ("2026-W47") or a finding ("activity:42")."""
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "delivery_channel"))
    push_day: Mapped[date | None] = mapped_column(Date)
    """The athlete's local day of a push (None for e-mail): one push per athlete per day."""
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """Not sent by then (e.g. everything was down longer than the grace period): failed."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchedulerLock(Base):
    """A named lease so that of several processes only one runs the scheduler's ticks."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
