"""The scheduler: APScheduler 3.11 ticks that only decide *when to look*; the ledger decides
what is owed.

An hourly planning tick (digests, strength nudges, and a catch-up of anything missed) and a
frequent dispatch tick (spike nudges planned within minutes, then every due delivery sent).
Jobs use coalesce=True (a backlog of missed runs runs once), max_instances=1 and a real
misfire_grace_time (APScheduler's default is 1 s). Each tick first takes a lease in the
database (`alerts.lock`), so several processes started with a scheduler tick as one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import BaseScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from alerts import lock
from alerts.dispatch import DispatchConfig, DispatchReport, dispatch_due, worker_id
from alerts.planning import DEFAULT_PLAN, PlanConfig, PlanReport, plan_all, plan_nudges

log = logging.getLogger(__name__)

LOCK_NAME = "alerts-scheduler"
DISPATCH_EVERY = timedelta(seconds=60)
MISFIRE_GRACE = timedelta(minutes=10)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ticks:
    """The work of each tick, with `now` injectable so tests never sleep."""

    sessions: sessionmaker[Session]
    dispatch: DispatchConfig
    plan: PlanConfig = DEFAULT_PLAN
    holder: str = field(default_factory=worker_id)
    lock_ttl: timedelta = DISPATCH_EVERY * 3
    clock: Callable[[], datetime] = _utcnow

    def leading(self, now: datetime) -> bool:
        """Take or renew the scheduler lease; only the holder does the work."""
        with self.sessions.begin() as session:
            return lock.acquire(session, LOCK_NAME, holder=self.holder, now=now, ttl=self.lock_ttl)

    def plan_tick(self, now: datetime | None = None) -> PlanReport | None:
        now = now or self.clock()
        if not self.leading(now):
            return None
        with self.sessions.begin() as session:
            report = plan_all(session, now=now, config=self.plan)
        log.info("planned %s", report.planned)
        return report

    def dispatch_tick(self, now: datetime | None = None) -> DispatchReport | None:
        now = now or self.clock()
        if not self.leading(now):
            return None
        with self.sessions.begin() as session:
            plan_nudges(session, now=now, config=self.plan)
        report = dispatch_due(self.sessions, now=now, config=self.dispatch, worker=self.holder)
        if report.sent or report.failed or report.retrying:
            log.info(
                "sent %d, retrying %d, failed %d",
                len(report.sent),
                len(report.retrying),
                len(report.failed),
            )
        return report

    def release(self) -> None:
        with self.sessions.begin() as session:
            lock.release(session, LOCK_NAME, holder=self.holder, now=self.clock())


ExtraJob = tuple[str, Callable[[], object], timedelta]
"""(id, function, interval): other periodic work of the app (ingest drain, retention purge)."""


def build_scheduler(
    ticks: Ticks,
    *,
    blocking: bool,
    dispatch_every: timedelta = DISPATCH_EVERY,
    extra: Sequence[ExtraJob] = (),
) -> BaseScheduler:
    """A configured scheduler (not started); the first plan and dispatch run at start."""
    defaults = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()),
    }
    scheduler: BaseScheduler
    if blocking:
        scheduler = BlockingScheduler(timezone=UTC, job_defaults=defaults)
    else:
        scheduler = BackgroundScheduler(timezone=UTC, job_defaults=defaults)
    now = datetime.now(UTC)
    scheduler.add_job(
        ticks.plan_tick,
        CronTrigger(minute=0, timezone=UTC),
        id="alerts-plan",
        next_run_time=now,
        replace_existing=True,
    )
    scheduler.add_job(
        ticks.dispatch_tick,
        IntervalTrigger(seconds=int(dispatch_every.total_seconds()), timezone=UTC),
        id="alerts-dispatch",
        next_run_time=now + timedelta(seconds=5),
        replace_existing=True,
    )
    for job_id, func, every in extra:
        scheduler.add_job(
            func,
            IntervalTrigger(seconds=int(every.total_seconds()), timezone=UTC),
            id=job_id,
            replace_existing=True,
        )
    return scheduler
