"""A lease in the database so that of several processes only one runs the scheduler's ticks.

APScheduler 3.x has no inter-process locking: several web workers started with
`--with-scheduler` would each tick. Each tick first takes or renews this lease; the ledger still
guarantees one delivery per key if two ever overlap (e.g. a lease outlived by a stalled tick).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.notifications import SchedulerLock


def acquire(session: Session, name: str, *, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the named lease; True when `holder` holds it until `now + ttl`."""
    values = {"name": name, "holder": holder, "lease_until": now + ttl}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert(SchedulerLock).values(values).on_conflict_do_nothing()
    else:
        insert = sqlite.insert(SchedulerLock).values(values).on_conflict_do_nothing()  # type: ignore[assignment]
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    if session.execute(insert.returning(SchedulerLock.name)).scalar_one_or_none() is not None:
        return True
    result = session.execute(
        update(SchedulerLock)
        .where(
            SchedulerLock.name == name,
            or_(SchedulerLock.holder == holder, SchedulerLock.lease_until < now),
        )
        .values(holder=holder, lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release(session: Session, name: str, *, holder: str, now: datetime) -> None:
    """Let another process take over at once (on a clean shutdown)."""
    session.execute(
        update(SchedulerLock)
        .where(SchedulerLock.name == name, SchedulerLock.holder == holder)
        .values(lease_until=now)
        .execution_options(synchronize_session=False)
    )
