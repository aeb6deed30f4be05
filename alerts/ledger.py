"""The delivery ledger: plan (insert or ignore) -> claim (compare-and-set + lease) -> mark.

Exactly one row can exist per (athlete, kind, period), so planning twice is harmless; a row is
sent only by the dispatcher whose compare-and-set claim succeeded, so two dispatchers never
send it at once. Functions here run inside the caller's transaction; commit the claim before
sending, so other dispatchers see it.

Semantics: digests are at-least-once (a claim whose lease ran out is taken over and re-sent;
the deterministic Message-ID lets mail software fold the rare duplicate), nudges at-most-once
(a claim whose lease ran out is given up as "outcome unknown": a late or doubled push is worse
than a missing one). A send that failed for certain is retried with backoff for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from store.notifications import Channel, Delivery, DeliveryKind, DeliveryStatus

AT_LEAST_ONCE = frozenset({DeliveryKind.DIGEST})
"""Kinds re-sent after a dispatcher died mid-send; the others are given up (at-most-once)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerPolicy:
    """Lease length, retry backoff and attempts cap."""

    lease: timedelta = timedelta(minutes=5)
    """Longer than any send can take (SMTP timeout 30 s), so a live claim never expires."""
    max_attempts: int = 6
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=1)

    def backoff(self, attempts: int) -> timedelta:
        """1, 2, 4, ... minutes after the n-th failed attempt, capped."""
        delay: timedelta = self.backoff_base * (2 ** max(attempts - 1, 0))
        return min(delay, self.backoff_max)


DEFAULT_POLICY = LedgerPolicy()


@cache
def _plan_statement(dialect: str) -> Executable:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once (it is run per athlete)."""
    table = cast("Table", Delivery.__table__)
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)  # type: ignore[assignment]
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(dialect)
    # No conflict target: any unique key (athlete, kind, period) or (athlete, push_day) wins.
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    return insert.on_conflict_do_nothing().returning(table.c.id)


def plan(
    session: Session,
    *,
    athlete_id: int,
    kind: DeliveryKind,
    period: str,
    channel: Channel,
    due_at: datetime,
    expires_at: datetime,
    push_day: date | None,
    now: datetime,
) -> bool:
    """Record a delivery as owed; False when it (or that day's push) already exists."""
    values = {
        "athlete_id": athlete_id,
        "kind": kind,
        "period": period,
        "channel": channel,
        "push_day": push_day,
        "status": DeliveryStatus.PENDING,
        "due_at": due_at,
        "expires_at": expires_at,
        "attempts": 0,
        "next_attempt_at": due_at,
        "created_at": now,
        "updated_at": now,
    }
    stmt = _plan_statement(session.get_bind().dialect.name)
    return session.execute(stmt, values).scalar_one_or_none() is not None


def _claimable(now: datetime) -> object:
    return and_(
        Delivery.expires_at > now,
        or_(
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
            and_(
                Delivery.status == DeliveryStatus.CLAIMED,
                Delivery.lease_until < now,
                Delivery.kind.in_(AT_LEAST_ONCE),
            ),
        ),
    )


def due_ids(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Ids a dispatcher may try to claim now, oldest first."""
    rows = session.scalars(
        select(Delivery.id)
        .where(_claimable(now))  # type: ignore[arg-type]
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(rows)


def claim(
    session: Session,
    delivery_id: int,
    *,
    worker: str,
    now: datetime,
    policy: LedgerPolicy = DEFAULT_POLICY,
) -> bool:
    """Compare-and-set: take the row for `policy.lease` if it is still claimable."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, _claimable(now))  # type: ignore[arg-type]
        .values(
            status=DeliveryStatus.CLAIMED,
            claimed_by=worker,
            lease_until=now + policy.lease,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _ours(delivery_id: int, worker: str) -> object:
    return and_(
        Delivery.id == delivery_id,
        Delivery.status == DeliveryStatus.CLAIMED,
        Delivery.claimed_by == worker,
    )


def mark_sent(
    session: Session, delivery_id: int, *, worker: str, now: datetime, message_id: str | None
) -> bool:
    """Sent; False if the claim was no longer ours (a lease ran out: should never happen)."""
    result = session.execute(
        update(Delivery)
        .where(_ours(delivery_id, worker))  # type: ignore[arg-type]
        .values(
            status=DeliveryStatus.SENT,
            sent_at=now,
            message_id=message_id,
            lease_until=None,
            last_error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def mark_failed(
    session: Session,
    delivery_id: int,
    *,
    worker: str,
    now: datetime,
    error: str,
    retry: bool = True,
    policy: LedgerPolicy = DEFAULT_POLICY,
) -> DeliveryStatus | None:
    """Back to pending after a backoff, or failed for good (no retry, or attempts used up)."""
    row = session.execute(
        select(Delivery.attempts, Delivery.expires_at).where(_ours(delivery_id, worker))  # type: ignore[arg-type]
    ).first()
    if row is None:
        return None
    attempts, expires_at = row
    next_at = now + policy.backoff(attempts)
    final = not retry or attempts >= policy.max_attempts or next_at >= expires_at
    status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
    session.execute(
        update(Delivery)
        .where(_ours(delivery_id, worker))  # type: ignore[arg-type]
        .values(
            status=status,
            next_attempt_at=next_at,
            lease_until=None,
            last_error=error[:2000],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return status


def give_up_stale(session: Session, *, now: datetime) -> int:
    """Fail what can no longer be sent: past its grace period, or an abandoned nudge claim."""
    expired = session.execute(
        update(Delivery)
        .where(
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.CLAIMED]),
            Delivery.expires_at <= now,
            or_(Delivery.status == DeliveryStatus.PENDING, Delivery.lease_until < now),
        )
        .values(
            status=DeliveryStatus.FAILED,
            last_error=func.coalesce(Delivery.last_error + " / ", "") + "expired: not sent in time",
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    abandoned = session.execute(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.lease_until < now,
            Delivery.kind.not_in(AT_LEAST_ONCE),
        )
        .values(
            status=DeliveryStatus.FAILED,
            last_error="outcome unknown: the dispatcher stopped mid-send (nudges: at most once)",
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(expired, "rowcount", 0)) + int(getattr(abandoned, "rowcount", 0))
