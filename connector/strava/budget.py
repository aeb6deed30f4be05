"""The app-wide Strava request budget, shared by every process through the database.

Strava limits requests per application (default 100 reads / 15 min and 1,000 / day; 200 / 2,000
overall), and 429 answers still count. So before each request a process asks `acquire`, which
counts the request in the one budget row under a row lock; each response's
``X-ReadRateLimit-*`` / ``X-RateLimit-*`` headers then correct the counts (`record`). Nothing
sleeps: when no request may go, `RateLimitedError` says when one may, and the caller stores its
work for later. Bulk work (backfills) leaves `live_reserve` of each window to live work (webhook
events), so a new run is fetched promptly even while a large backfill is going on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connector.strava.errors import RateLimitedError
from store.strava import APP_ROW_ID, StravaRateBudget

Priority = Literal["live", "bulk"]
Clock = Callable[[], datetime]

WINDOW = timedelta(minutes=15)
#: How long after a 403 "Application Inactive" the next request may probe again.
INACTIVE_PROBE_AFTER = timedelta(minutes=15)


def utc_now() -> datetime:
    return datetime.now(UTC)


def window_start(now: datetime) -> datetime:
    """Start of the 15-minute window (Strava's reset at :00, :15, :30, :45 UTC)."""
    now = now.astimezone(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def next_window(now: datetime) -> datetime:
    return window_start(now) + WINDOW


def next_day(now: datetime) -> datetime:
    """Next midnight UTC (Strava's daily reset)."""
    now = now.astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def _pair(value: str | None) -> tuple[int, int] | None:
    """``"100,1000"`` -> (100, 1000); anything else -> None."""
    if not value:
        return None
    parts = value.split(",")
    if len(parts) != 2:
        return None
    try:
        return int(parts[0].strip()), int(parts[1].strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A snapshot for `strideguard strava status` and the web status page."""

    read_usage_15m: int
    read_limit_15m: int
    read_usage_day: int
    read_limit_day: int
    overall_usage_15m: int
    overall_limit_15m: int
    overall_usage_day: int
    overall_limit_day: int
    blocked_until: datetime | None
    block_reason: str | None
    app_status: str
    app_error: str | None
    subscription_id: int | None


class RateBudget:
    """Decides whether a Strava request may go now; updated from every response."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock = utc_now,
        live_reserve: float = 0.2,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._live_reserve = live_reserve
        self._row_exists = False

    # -- the row ----------------------------------------------------------------------------

    def _ensure_row(self) -> None:
        """Create the budget row on first use (another process may win the race: fine)."""
        if self._row_exists:
            return
        with self._sessions() as session:
            if session.get(StravaRateBudget, APP_ROW_ID) is None:
                session.add(StravaRateBudget(id=APP_ROW_ID))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
        self._row_exists = True

    def _row(self, session: Session) -> StravaRateBudget:
        """The budget row, locked for this transaction, with its windows rolled to now."""
        self._ensure_row()
        # The no-op UPDATE takes SQLite's write lock (and PostgreSQL's row lock) before the read,
        # so two processes can never both count from the same old value.
        session.execute(
            update(StravaRateBudget)
            .where(StravaRateBudget.id == APP_ROW_ID)
            .values(id=APP_ROW_ID)
            .execution_options(synchronize_session=False)
        )
        row = session.scalars(
            select(StravaRateBudget)
            .where(StravaRateBudget.id == APP_ROW_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        self._roll(row, self._clock())
        return row

    @staticmethod
    def _roll(row: StravaRateBudget, now: datetime) -> None:
        """Start new windows: usage counted in an earlier window no longer applies."""
        start = window_start(now)
        if row.window_15m_start != start:
            row.window_15m_start = start
            row.read_usage_15m = 0
            row.overall_usage_15m = 0
        day = now.astimezone(UTC).date().isoformat()
        if row.window_day != day:
            row.window_day = day
            row.read_usage_day = 0
            row.overall_usage_day = 0

    # -- before a request -------------------------------------------------------------------

    def acquire(self, *, priority: Priority = "bulk", read: bool = True) -> None:
        """Count one request now, or raise `RateLimitedError` saying when one may go."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._row(session)
            if row.blocked_until is not None and row.blocked_until > now:
                raise RateLimitedError(
                    f"Strava requests paused until {row.blocked_until:%H:%M} UTC"
                    f" ({row.block_reason or 'rate limit'})",
                    row.blocked_until,
                )
            share = 1.0 if priority == "live" else 1.0 - self._live_reserve
            checks = [
                (row.overall_usage_15m, row.overall_limit_15m, next_window(now)),
                (row.overall_usage_day, row.overall_limit_day, next_day(now)),
            ]
            if read:
                checks[:0] = [
                    (row.read_usage_15m, row.read_limit_15m, next_window(now)),
                    (row.read_usage_day, row.read_limit_day, next_day(now)),
                ]
            # The latest reset among the exhausted windows is when a request may go again.
            retry_at = max(
                (reset for usage, limit, reset in checks if usage >= int(limit * share)),
                default=None,
            )
            if retry_at is not None:
                raise RateLimitedError(
                    f"Strava {priority} budget spent until {retry_at:%Y-%m-%d %H:%M} UTC",
                    retry_at,
                )
            if read:
                row.read_usage_15m += 1
                row.read_usage_day += 1
            row.overall_usage_15m += 1
            row.overall_usage_day += 1
            row.updated_at = now

    # -- after a response -------------------------------------------------------------------

    def record(self, headers: Mapping[str, str], *, status: int) -> datetime | None:
        """Take usage and limits from the headers; on 429 block until the window resets.

        Returns the time requests are blocked until, when this response blocked them.
        """
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._row(session)
            for prefix, attrs in (
                ("X-ReadRateLimit", ("read_limit", "read_usage")),
                ("X-RateLimit", ("overall_limit", "overall_usage")),
            ):
                limit = _pair(headers.get(f"{prefix}-Limit"))
                usage = _pair(headers.get(f"{prefix}-Usage"))
                if limit is not None:
                    setattr(row, f"{attrs[0]}_15m", limit[0])
                    setattr(row, f"{attrs[0]}_day", limit[1])
                if usage is not None:
                    # Other processes may have requests in flight that the header does not
                    # count yet: never lower the local count within a window.
                    for i, suffix in enumerate(("_15m", "_day")):
                        name = f"{attrs[1]}{suffix}"
                        setattr(row, name, max(getattr(row, name), usage[i]))
            row.updated_at = now
            if status == 429:
                day_spent = (
                    row.read_usage_day >= row.read_limit_day
                    or row.overall_usage_day >= row.overall_limit_day
                )
                until = next_day(now) if day_spent else next_window(now)
                row.blocked_until = until
                row.block_reason = "Strava answered 429 Too Many Requests"
                return until
            if 200 <= status < 300 and row.app_status != "ok":
                row.app_status = "ok"
                row.app_error = None
            return None

    def mark_app_inactive(self, message: str) -> datetime:
        """Strava refuses the application: visible in the status; probe again later."""
        now = self._clock()
        until = now + INACTIVE_PROBE_AFTER
        with self._sessions.begin() as session:
            row = self._row(session)
            row.app_status = "inactive"
            row.app_error = message
            row.blocked_until = until
            row.block_reason = "Strava application inactive"
            row.updated_at = now
        return until

    # -- reading ----------------------------------------------------------------------------

    def state(self) -> BudgetState:
        with self._sessions.begin() as session:
            row = self._row(session)
            return BudgetState(
                read_usage_15m=row.read_usage_15m,
                read_limit_15m=row.read_limit_15m,
                read_usage_day=row.read_usage_day,
                read_limit_day=row.read_limit_day,
                overall_usage_15m=row.overall_usage_15m,
                overall_limit_15m=row.overall_limit_15m,
                overall_usage_day=row.overall_usage_day,
                overall_limit_day=row.overall_limit_day,
                blocked_until=row.blocked_until,
                block_reason=row.block_reason,
                app_status=row.app_status,
                app_error=row.app_error,
                subscription_id=row.subscription_id,
            )

    def subscription_id(self) -> int | None:
        with self._sessions() as session:
            return session.scalar(
                select(StravaRateBudget.subscription_id).where(StravaRateBudget.id == APP_ROW_ID)
            )

    def set_subscription_id(self, subscription_id: int | None) -> None:
        with self._sessions.begin() as session:
            self._row(session).subscription_id = subscription_id
