"""Which digests and nudges are owed at `now`, in each athlete's own time zone and week.

Planning only inserts ledger rows (insert or ignore), so it can run any number of times, from
any number of processes: a missed tick is caught up by the next one, within the grace period.
The planner looks at the most recent slot only; a slot older than its grace is let go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import ledger, timing
from analysis.history import is_strength
from store.models import Activity, Athlete, Finding, StrengthLog
from store.notifications import Channel, DeliveryKind, NotificationSettings
from store.summaries import activity_summary

SPIKE_RULE = "single_run_spike"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanConfig:
    """How late a slot may still be honoured."""

    digest_grace: timedelta = timedelta(days=3)
    """A digest missed while everything was down is still sent this long after its slot."""
    nudge_grace: timedelta = timedelta(hours=12)
    """A nudge later than this after its due time is stale and dropped."""
    spike_recent_days: int = 1
    """Only runs from the athlete's local today or yesterday get a nudge (not a whole import)."""


DEFAULT_PLAN = PlanConfig()


@dataclass(slots=True)
class PlanReport:
    """What one planning pass inserted (already-planned rows are not counted)."""

    planned: dict[str, int] = field(default_factory=dict)

    def add(self, kind: DeliveryKind, inserted: bool) -> None:
        if inserted:
            self.planned[kind.value] = self.planned.get(kind.value, 0) + 1


def digest_channel(settings: NotificationSettings) -> Channel | None:
    """E-mail when the athlete has a subscribed address, else push, else nothing."""
    if settings.email and settings.email_enabled and settings.unsubscribed_at is None:
        return Channel.EMAIL
    return push_channel(settings)


def push_channel(settings: NotificationSettings) -> Channel | None:
    return Channel.PUSH if settings.push_urls and settings.push_enabled else None


def _subscribers(session: Session) -> Iterable[tuple[Athlete, NotificationSettings]]:
    rows = session.execute(
        select(Athlete, NotificationSettings)
        .join(NotificationSettings, NotificationSettings.athlete_id == Athlete.id)
        .order_by(Athlete.id)
    )
    for row in rows:
        yield row[0], row[1]


def plan_all(session: Session, *, now: datetime, config: PlanConfig = DEFAULT_PLAN) -> PlanReport:
    """One planning pass over every athlete with notification settings."""
    report = PlanReport()
    # Everything is read up front: a long-lived result cursor interleaved with inserts, plus
    # autoflush over thousands of loaded rows, made a pass over 10,000 athletes quadratic.
    for athlete, settings in list(_subscribers(session)):
        tz = ZoneInfo(athlete.time_zone)
        # Spike nudges first: with one push a day, the most urgent one takes the day.
        plan_spike_nudges(session, athlete, settings, tz, now=now, config=config, report=report)
        plan_digest(session, athlete, settings, tz, now=now, config=config, report=report)
        plan_strength_nudge(session, athlete, settings, tz, now=now, config=config, report=report)
    return report


def plan_nudges(
    session: Session, *, now: datetime, config: PlanConfig = DEFAULT_PLAN
) -> PlanReport:
    """Spike nudges only: cheap enough for the frequent tick, so they go out within minutes."""
    report = PlanReport()
    for athlete, settings in list(_subscribers(session)):
        tz = ZoneInfo(athlete.time_zone)
        plan_spike_nudges(session, athlete, settings, tz, now=now, config=config, report=report)
    return report


def _push_timing(
    settings: NotificationSettings, tz: ZoneInfo, due: datetime
) -> tuple[datetime, date]:
    due = timing.after_quiet_hours(due, tz, settings.quiet_start, settings.quiet_end)
    return due, timing.local_day(due, tz)


def plan_digest(
    session: Session,
    athlete: Athlete,
    settings: NotificationSettings,
    tz: ZoneInfo,
    *,
    now: datetime,
    config: PlanConfig,
    report: PlanReport,
) -> None:
    """The digest of the local week just ended, from its slot until the grace runs out."""
    channel = digest_channel(settings)
    if not settings.digest_enabled or channel is None:
        return
    slot = timing.latest_weekly_slot(now, tz, settings.digest_weekday, settings.digest_time)
    if now - slot > config.digest_grace:
        return
    due, push_day = slot, None
    if channel is Channel.PUSH:
        due, push_day = _push_timing(settings, tz, slot)
    monday = timing.digest_week(slot, tz)
    inserted = ledger.plan(
        session,
        athlete_id=athlete.id,
        kind=DeliveryKind.DIGEST,
        period=timing.iso_week_label(monday),
        channel=channel,
        due_at=due,
        expires_at=slot + config.digest_grace,
        push_day=push_day,
        now=now,
    )
    report.add(DeliveryKind.DIGEST, inserted)


def strength_sessions(session: Session, athlete_id: int, first: date, last: date) -> int:
    """Strength/mobility sessions (logged by hand or recorded) with local date in [first, last]."""
    logged = session.scalar(
        select(func.count())
        .select_from(StrengthLog)
        .where(
            StrengthLog.athlete_id == athlete_id,
            StrengthLog.local_date >= first,
            StrengthLog.local_date <= last,
        )
    )
    recorded = 0
    for row in session.scalars(
        select(Activity).where(
            Activity.athlete_id == athlete_id,
            Activity.local_date >= first,
            Activity.local_date <= last,
        )
    ):
        recorded += is_strength(activity_summary(row))
    return int(logged or 0) + recorded


def plan_strength_nudge(
    session: Session,
    athlete: Athlete,
    settings: NotificationSettings,
    tz: ZoneInfo,
    *,
    now: datetime,
    config: PlanConfig,
    report: PlanReport,
) -> None:
    """Mid-week (default Thursday 18:00 local): a push when no strength session yet this week."""
    channel = push_channel(settings)
    if not settings.strength_nudge_enabled or channel is None:
        return
    if "missing_strength" in (athlete.muted_rules or ()):
        return
    slot = timing.latest_weekly_slot(
        now, tz, settings.strength_nudge_weekday, settings.strength_nudge_time
    )
    if now - slot > config.nudge_grace:
        return
    monday = timing.week_monday(timing.local_day(slot, tz))
    if strength_sessions(session, athlete.id, monday, timing.local_day(now, tz)) > 0:
        return
    due, push_day = _push_timing(settings, tz, slot)
    inserted = ledger.plan(
        session,
        athlete_id=athlete.id,
        kind=DeliveryKind.STRENGTH_NUDGE,
        period=timing.iso_week_label(monday),
        channel=channel,
        due_at=due,
        expires_at=due + config.nudge_grace,
        push_day=push_day,
        now=now,
    )
    report.add(DeliveryKind.STRENGTH_NUDGE, inserted)


def plan_spike_nudges(
    session: Session,
    athlete: Athlete,
    settings: NotificationSettings,
    tz: ZoneInfo,
    *,
    now: datetime,
    config: PlanConfig,
    report: PlanReport,
) -> None:
    """A push soon after a run with a `single_run_spike` finding (quiet hours respected)."""
    channel = push_channel(settings)
    if not settings.spike_nudge_enabled or channel is None:
        return
    if SPIKE_RULE in (athlete.muted_rules or ()):
        return
    since = timing.local_day(now, tz) - timedelta(days=config.spike_recent_days)
    findings = session.scalars(
        select(Finding)
        .where(
            Finding.athlete_id == athlete.id,
            Finding.rule_id == SPIKE_RULE,
            Finding.push.is_(True),
            Finding.local_date >= since,
        )
        .order_by(Finding.first_seen_at, Finding.id)
    )
    for finding in findings:
        due, push_day = _push_timing(settings, tz, finding.first_seen_at)
        if now - due > config.nudge_grace:
            continue
        inserted = ledger.plan(
            session,
            athlete_id=athlete.id,
            kind=DeliveryKind.SPIKE_NUDGE,
            period=finding.subject,
            channel=channel,
            due_at=due,
            expires_at=due + config.nudge_grace,
            push_day=push_day,
            now=now,
        )
        report.add(DeliveryKind.SPIKE_NUDGE, inserted)
