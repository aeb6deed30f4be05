"""Claim -> render -> send -> mark, for every delivery that is due.

Each step is its own short transaction: the claim is committed before anything is sent, so a
second dispatcher sees it and moves on, and a crash leaves a claim whose lease runs out (then
taken over for digests, given up for nudges: see `alerts.ledger`).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts import email, ledger, push
from alerts.digest import build_digest, load_digest_inputs
from alerts.email import SendError, SmtpConfig
from alerts.links import LinkAction, LinkSigner
from alerts.render import digest_links, digest_push_text, render_digest
from alerts.timing import local_day, parse_iso_week
from store.models import Athlete, Finding
from store.notifications import Channel, Delivery, DeliveryKind, NotificationSettings

log = logging.getLogger(__name__)

RefreshAnalysis = Callable[[Session, Athlete, date], object]
"""Re-runs the analysis of an athlete up to their local today (wired by the app shell)."""
EmailSender = Callable[[SmtpConfig, EmailMessage], None]
PushSender = Callable[..., None]


def worker_id() -> str:
    """Unique per process and call: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    """What the dispatcher needs from the outside world."""

    signer: LinkSigner
    smtp: SmtpConfig | None = None
    policy: ledger.LedgerPolicy = ledger.DEFAULT_POLICY
    refresh_analysis: RefreshAnalysis | None = None
    """Called before a digest is rendered so its findings are current; None: use stored ones."""
    send_email: EmailSender = email.send
    send_push: PushSender = push.send_push
    batch: int = 200


@dataclass(slots=True)
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost_claims: int = 0
    """Rows another dispatcher claimed first."""
    given_up: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """A rendered message, ready to hand to its channel."""

    channel: Channel
    key: str
    email: EmailMessage | None = None
    push_urls: Sequence[str] = ()
    title: str = ""
    body: str = ""

    @property
    def message_id(self) -> str:
        if self.email is not None:
            return str(self.email["Message-ID"])
        return self.key


def delivery_key(delivery: Delivery) -> str:
    return f"{delivery.athlete_id}/{delivery.kind.value}/{delivery.period}"


def compose(
    session: Session, delivery: Delivery, *, now: datetime, config: DispatchConfig
) -> Outgoing:
    """Render one delivery for its channel; SendError(permanent) when it cannot be sent."""
    athlete = session.get_one(Athlete, delivery.athlete_id)
    settings = session.get(NotificationSettings, delivery.athlete_id)
    if settings is None:
        raise SendError("the athlete has no notification settings any more", permanent=True)
    key = delivery_key(delivery)
    if delivery.kind is DeliveryKind.DIGEST:
        monday = parse_iso_week(delivery.period)
        if config.refresh_analysis is not None:
            config.refresh_analysis(session, athlete, local_day(now, ZoneInfo(athlete.time_zone)))
        digest = build_digest(load_digest_inputs(session, athlete, monday))
        links = digest_links(config.signer, digest, now=now)
        if delivery.channel is Channel.EMAIL:
            if not settings.email or settings.unsubscribed_at is not None:
                raise SendError("unsubscribed or no e-mail address", permanent=True)
            if config.smtp is None:
                raise SendError("SMTP is not configured (STRIDEGUARD_SMTP_HOST)")
            rendered = render_digest(digest, links)
            msg = email.build_message(
                config=config.smtp,
                to=settings.email,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                delivery_key=key,
                unsubscribe_url=links.unsubscribe,
                date=now,
            )
            return Outgoing(channel=Channel.EMAIL, key=key, email=msg)
        return Outgoing(
            channel=Channel.PUSH,
            key=key,
            push_urls=list(settings.push_urls),
            title=f"Strideguard: your week {delivery.period}",
            body=digest_push_text(digest, links),
        )
    if delivery.kind is DeliveryKind.SPIKE_NUDGE:
        finding = session.scalar(
            select(Finding).where(
                Finding.athlete_id == athlete.id,
                Finding.rule_id == "single_run_spike",
                Finding.subject == delivery.period,
            )
        )
        if finding is None or "single_run_spike" in (athlete.muted_rules or ()):
            raise SendError("the finding no longer holds or was muted", permanent=True)
        mute = config.signer.url(
            LinkAction.MUTE_RULE, athlete.id, now=now, rule_id="single_run_spike"
        )
        return Outgoing(
            channel=Channel.PUSH,
            key=key,
            push_urls=list(settings.push_urls),
            title="Strideguard: that run was a jump",
            body=f"{finding.message} {finding.action} Mute these alerts: {mute}",
        )
    log_url = config.signer.url(LinkAction.LOG_STRENGTH, athlete.id, now=now)
    return Outgoing(
        channel=Channel.PUSH,
        key=key,
        push_urls=list(settings.push_urls),
        title="Strideguard: strength check",
        body=(
            "No strength or mobility session logged yet this week (goal: "
            f"{athlete.strength_goal_per_week} a week). The 10-minute upper-back routine "
            f"counts. Done one? Log it: {log_url}"
        ),
    )


def deliver(outgoing: Outgoing, config: DispatchConfig) -> None:
    if outgoing.channel is Channel.EMAIL:
        assert outgoing.email is not None
        assert config.smtp is not None
        config.send_email(config.smtp, outgoing.email)
    else:
        config.send_push(outgoing.push_urls, title=outgoing.title, body=outgoing.body)


def dispatch_one(
    sessions: sessionmaker[Session],
    delivery_id: int,
    *,
    now: datetime,
    worker: str,
    config: DispatchConfig,
    report: DispatchReport,
) -> None:
    with sessions.begin() as session:
        if not ledger.claim(session, delivery_id, worker=worker, now=now, policy=config.policy):
            report.lost_claims += 1
            return
    error: SendError | None = None
    try:
        with sessions.begin() as session:
            delivery = session.get_one(Delivery, delivery_id)
            outgoing = compose(session, delivery, now=now, config=config)
        deliver(outgoing, config)
    except SendError as exc:
        error = exc
    except Exception as exc:  # a rendering bug must not wedge the claim: retry, then fail
        log.exception("delivery %s failed", delivery_id)
        error = SendError(f"{type(exc).__name__}: {exc}")
    with sessions.begin() as session:
        if error is None:
            ledger.mark_sent(
                session, delivery_id, worker=worker, now=now, message_id=outgoing.message_id
            )
            report.sent.append(delivery_id)
            return
        status = ledger.mark_failed(
            session,
            delivery_id,
            worker=worker,
            now=now,
            error=str(error),
            retry=not error.permanent,
            policy=config.policy,
        )
        (report.failed if status == "failed" else report.retrying).append(delivery_id)


def dispatch_due(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    config: DispatchConfig,
    worker: str | None = None,
) -> DispatchReport:
    """Send everything due at `now` that this dispatcher manages to claim."""
    worker = worker or worker_id()
    report = DispatchReport()
    with sessions.begin() as session:
        report.given_up = ledger.give_up_stale(session, now=now)
        ids = ledger.due_ids(session, now=now, limit=config.batch)
    for delivery_id in ids:
        dispatch_one(sessions, delivery_id, now=now, worker=worker, config=config, report=report)
    return report
