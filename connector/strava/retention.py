"""Raw Strava payloads are kept only for the retention window (Strava's terms; default 7 days).

The mapped activity rows stay (they are the athlete's training record, deleted on revoke);
the raw JSON is only there so a rule change can be recomputed soon after a fetch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from store.strava import StravaRaw

DEFAULT_RETENTION = timedelta(days=7)


def purge_raw(
    sessions: sessionmaker[Session],
    *,
    retention: timedelta = DEFAULT_RETENTION,
    now: datetime | None = None,
) -> int:
    """Delete raw payloads fetched before ``now - retention``; returns how many."""
    cutoff = (now or datetime.now(UTC)) - retention
    with sessions.begin() as session:
        result = session.execute(delete(StravaRaw).where(StravaRaw.fetched_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
