"""``digest``, ``deliveries``, ``notify`` and ``scheduler``: alerts from the command line.

Also the wiring of `alerts` to the app (SMTP settings, link signer, analysis refresh), used by
the CLI and by ``serve --with-scheduler``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from apscheduler.schedulers.base import BaseScheduler  # type: ignore[import-untyped]
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import dispatch, email, push, timing
from alerts.digest import build_digest, load_digest_inputs
from alerts.dispatch import DispatchConfig, DispatchReport
from alerts.email import SendError, SmtpConfig
from alerts.ledger import plan
from alerts.links import LinkAction, LinkSigner
from alerts.planning import DEFAULT_PLAN, digest_channel
from alerts.render import digest_links, render_html, render_json, render_text, subject
from alerts.scheduler import ExtraJob, Ticks, build_scheduler
from store.athletes import resolve_athlete
from store.models import Athlete
from store.notifications import Delivery, DeliveryKind, DeliveryStatus, NotificationSettings
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.cli_common import (
    AthleteOption,
    JsonOption,
    UserError,
    console,
    err_console,
    open_app,
    print_json,
)
from strideguard.instance_secret import secret_key

log = logging.getLogger(__name__)

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


# -- wiring -------------------------------------------------------------------------------------


def link_signer(app: App) -> LinkSigner:
    return LinkSigner(secret_key(app.settings), app.settings.base_url)


def smtp_config(app: App) -> SmtpConfig | None:
    s = app.settings
    if not s.smtp_host:
        return None
    return SmtpConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        user=s.smtp_user,
        password=s.smtp_password,
        starttls=s.smtp_starttls,
        tls=s.smtp_tls,
        mail_from=s.mail_from,
    )


def _refresh(session: Session, athlete: Athlete, today: Any) -> object:
    return analyse_athlete(session, athlete, as_of=today)


def dispatch_config(app: App) -> DispatchConfig:
    return DispatchConfig(signer=link_signer(app), smtp=smtp_config(app), refresh_analysis=_refresh)


def make_ticks(app: App) -> Ticks:
    """The scheduler's ticks for this app (also for ``serve --with-scheduler``)."""
    return Ticks(sessions=app.sessions, dispatch=dispatch_config(app))


# -- helpers ------------------------------------------------------------------------------------


def _hhmm(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise UserError(f"not a time like 07:00: {text!r}")
    return time(int(match[1]), int(match[2]))


def _weekday(text: str) -> int:
    key = text.strip().lower()[:3]
    if key not in DAYS:
        raise UserError(f"not a weekday (mon..sun): {text!r}")
    return DAYS.index(key)


def settings_for(session: Session, athlete: Athlete) -> NotificationSettings:
    row = session.get(NotificationSettings, athlete.id)
    if row is None:
        row = NotificationSettings(athlete_id=athlete.id, push_urls=[])
        session.add(row)
        session.flush()
    return row


def settings_json(row: NotificationSettings) -> dict[str, Any]:
    return {
        "email": row.email,
        "email_enabled": row.email_enabled,
        "unsubscribed": row.unsubscribed_at is not None,
        "push_urls": [u.split("://", 1)[0] + "://..." for u in row.push_urls],
        "push_enabled": row.push_enabled,
        "quiet_hours": f"{row.quiet_start:%H:%M}-{row.quiet_end:%H:%M}",
        "digest": (
            f"{DAYS[row.digest_weekday]} {row.digest_time:%H:%M}" if row.digest_enabled else "off"
        ),
        "strength_nudge": (
            f"{DAYS[row.strength_nudge_weekday]} {row.strength_nudge_time:%H:%M}"
            if row.strength_nudge_enabled
            else "off"
        ),
        "spike_nudge": "on" if row.spike_nudge_enabled else "off",
    }


# -- digest -------------------------------------------------------------------------------------


def digest(
    athlete: AthleteOption = None,
    week: Annotated[
        str | None,
        typer.Option(help="ISO week like 2026-W47; default: the local week just ended."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="text, html or json.", case_sensitive=False)
    ] = "text",
    send: Annotated[
        bool, typer.Option("--send", help="Send it through the ledger (at most once a week).")
    ] = False,
) -> None:
    """The weekly prevention digest: show it, or send it on the athlete's channel."""
    fmt = fmt.lower()
    if fmt not in ("text", "html", "json"):
        raise typer.BadParameter("--format must be text, html or json")
    now = datetime.now(UTC)
    with open_app() as app:
        signer = link_signer(app)
        with app.sessions.begin() as session:
            row = resolve_athlete(session, athlete, create=False)
            tz = ZoneInfo(row.time_zone)
            try:
                monday = (
                    timing.parse_iso_week(week)
                    if week
                    else timing.week_monday(timing.local_day(now, tz)) - timedelta(days=7)
                )
            except ValueError as exc:
                raise UserError(str(exc)) from exc
            analyse_athlete(session, row, as_of=local_today(row, now))
            data = build_digest(load_digest_inputs(session, row, monday))
            athlete_id = row.id
        links = digest_links(signer, data, now=now)
        if send:
            _send_digest(app, athlete_id, timing.iso_week_label(monday), now)
            return
    if fmt == "json":
        print(render_json(data, links))
    elif fmt == "html":
        print(render_html(data, links), end="")
    else:
        print(f"Subject: {subject(data)}\n")
        print(render_text(data, links), end="")


def _send_digest(app: App, athlete_id: int, period: str, now: datetime) -> None:
    with app.sessions.begin() as session:
        settings = session.get(NotificationSettings, athlete_id)
        channel = digest_channel(settings) if settings is not None else None
        if channel is None:
            raise UserError("no channel: set one with `strideguard notify set --email ...`")
        plan(
            session,
            athlete_id=athlete_id,
            kind=DeliveryKind.DIGEST,
            period=period,
            channel=channel,
            due_at=now,
            expires_at=now + DEFAULT_PLAN.digest_grace,
            push_day=None,
            now=now,
        )
        delivery = session.scalars(
            select(Delivery).where(
                Delivery.athlete_id == athlete_id,
                Delivery.kind == DeliveryKind.DIGEST,
                Delivery.period == period,
            )
        ).one()
        delivery_id, status = delivery.id, delivery.status
    if status is DeliveryStatus.SENT:
        console.print(f"The digest of {period} was already sent (delivery {delivery_id}).")
        return
    report = DispatchReport()
    dispatch.dispatch_one(
        app.sessions,
        delivery_id,
        now=now,
        worker=dispatch.worker_id(),
        config=dispatch_config(app),
        report=report,
    )
    with app.sessions() as session:
        row = session.get_one(Delivery, delivery_id)
        console.print(f"Digest {period}: {row.status.value} on {row.channel.value}")
        if row.last_error:
            err_console.print(f"[red]{row.last_error}[/]")
    if not report.sent:
        raise typer.Exit(1)


# -- deliveries ---------------------------------------------------------------------------------


def deliveries(
    status: Annotated[
        str | None, typer.Option(help="Only this status: pending, claimed, sent or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest first, at most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The delivery ledger: what was owed, sent, retried or given up, and why."""
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise typer.BadParameter("--status must be pending, claimed, sent or failed")
    with open_app() as app, app.sessions() as session:
        query = select(Delivery, Athlete.handle).join(Athlete, Athlete.id == Delivery.athlete_id)
        if status is not None:
            query = query.where(Delivery.status == DeliveryStatus(status))
        rows = session.execute(
            query.order_by(Delivery.due_at.desc(), Delivery.id.desc()).limit(limit)
        ).all()
        items: list[dict[str, Any]] = [
            {
                "id": d.id,
                "athlete": handle,
                "kind": d.kind.value,
                "period": d.period,
                "channel": d.channel.value,
                "status": d.status.value,
                "due_at": d.due_at,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "sent_at": d.sent_at,
                "last_error": d.last_error,
            }
            for d, handle in rows
        ]
    if as_json:
        print_json(items)
        return
    table = Table(title="Deliveries")
    for column in ("id", "athlete", "kind", "period", "channel", "status", "due (UTC)", "tries"):
        table.add_column(column)
    table.add_column("error", overflow="fold")
    for item in items:
        table.add_row(
            str(item["id"]),
            item["athlete"],
            item["kind"],
            item["period"],
            item["channel"],
            item["status"],
            item["due_at"].strftime("%Y-%m-%d %H:%M"),
            str(item["attempts"]),
            item["last_error"] or "",
        )
    console.print(table)


# -- notify -------------------------------------------------------------------------------------

notify_cli = typer.Typer(help="Notification channels and times: set them, send a test.")


@notify_cli.command("set")
def notify_set(
    athlete: AthleteOption = None,
    email_address: Annotated[
        str | None, typer.Option("--email", help="E-mail address for digests ('' to remove).")
    ] = None,
    push_urls: Annotated[
        list[str] | None,
        typer.Option("--push", help="Apprise URL (repeat for several; replaces the list)."),
    ] = None,
    clear_push: Annotated[bool, typer.Option("--clear-push", help="Remove all push URLs.")] = False,
    digest_day: Annotated[str | None, typer.Option(help="Digest weekday (mon..sun).")] = None,
    digest_time: Annotated[str | None, typer.Option(help="Digest local time (HH:MM).")] = None,
    digest_on: Annotated[
        bool | None, typer.Option("--digest/--no-digest", help="Weekly digest on or off.")
    ] = None,
    strength_day: Annotated[
        str | None, typer.Option(help="Strength-nudge weekday (mon..sun).")
    ] = None,
    strength_time: Annotated[
        str | None, typer.Option(help="Strength-nudge local time (HH:MM).")
    ] = None,
    quiet: Annotated[
        str | None, typer.Option(help="Quiet hours for pushes, local, e.g. 21:00-07:00.")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option("--time-zone", help="IANA time zone, e.g. Europe/Berlin.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change how and when the athlete hears from Strideguard; prints the result."""
    bad = push.validate_urls(push_urls or [])
    if bad:
        raise typer.BadParameter(f"apprise does not understand: {', '.join(bad)}")
    with open_app() as app, app.sessions.begin() as session:
        row = resolve_athlete(session, athlete, create=False)
        settings = settings_for(session, row)
        if email_address is not None:
            settings.email = email_address.strip() or None
            settings.unsubscribed_at = None  # setting an address again opts back in
        if clear_push:
            settings.push_urls = []
        if push_urls:
            settings.push_urls = list(push_urls)
        if digest_day is not None:
            settings.digest_weekday = _weekday(digest_day)
        if digest_time is not None:
            settings.digest_time = _hhmm(digest_time)
        if digest_on is not None:
            settings.digest_enabled = digest_on
        if strength_day is not None:
            settings.strength_nudge_weekday = _weekday(strength_day)
        if strength_time is not None:
            settings.strength_nudge_time = _hhmm(strength_time)
        if quiet is not None:
            start, sep, end = quiet.partition("-")
            if not sep:
                raise UserError(f"quiet hours look like 21:00-07:00, not {quiet!r}")
            settings.quiet_start, settings.quiet_end = _hhmm(start), _hhmm(end)
        if time_zone is not None:
            try:
                ZoneInfo(time_zone)
            except (KeyError, ValueError) as exc:
                raise UserError(f"unknown time zone {time_zone!r}") from exc
            row.time_zone = time_zone
        settings.updated_at = datetime.now(UTC)
        result = settings_json(settings) | {"time_zone": row.time_zone}
    if as_json:
        print_json(result)
    else:
        for key, value in result.items():
            console.print(f"[bold]{key}[/]: {value}")


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """How a test message fared on one channel."""

    channel: str
    ok: bool
    detail: str


class NoChannelError(UserError):
    """The athlete has neither an e-mail address nor a push URL."""


def send_test_message(app: App, athlete_id: int, *, now: datetime) -> list[ChannelResult]:
    """Send a test on every channel of the athlete, now (not through the ledger).

    Shared by ``strideguard notify test`` and the web settings' "send a test" button.
    Raises `NoChannelError` when there is nothing to send to.
    """
    with app.sessions() as session:
        settings = session.get(NotificationSettings, athlete_id)
        if settings is None or not (settings.email or settings.push_urls):
            raise NoChannelError("no channel: set an e-mail address or a push URL first")
        address, urls = settings.email, list(settings.push_urls)
    signer = link_signer(app)
    unsubscribe = signer.url(LinkAction.UNSUBSCRIBE, athlete_id, now=now)
    text = f"This is a test from Strideguard: this channel works.\nUnsubscribe: {unsubscribe}\n"
    results: list[ChannelResult] = []
    if address:
        smtp = smtp_config(app)
        try:
            if smtp is None:
                raise SendError("SMTP is not configured (STRIDEGUARD_SMTP_HOST)")
            msg = email.build_message(
                config=smtp,
                to=address,
                subject="Strideguard test message",
                text=text,
                html=None,
                delivery_key=f"{athlete_id}/test/{now.isoformat()}",
                unsubscribe_url=unsubscribe,
                date=now,
            )
            email.send(smtp, msg)
            results.append(ChannelResult("e-mail", True, f"sent to {address}"))
        except SendError as exc:
            results.append(ChannelResult("e-mail", False, str(exc)))
    if urls:
        try:
            push.send_push(urls, title="Strideguard test", body=text)
            results.append(ChannelResult("push", True, f"sent to {len(urls)} URL(s)"))
        except SendError as exc:
            results.append(ChannelResult("push", False, str(exc)))
    return results


@notify_cli.command("test")
def notify_test(athlete: AthleteOption = None) -> None:
    """Send a test message on every channel of the athlete, now (not through the ledger)."""
    now = datetime.now(UTC)
    with open_app() as app:
        with app.sessions() as session:
            athlete_id = resolve_athlete(session, athlete, create=False).id
        try:
            results = send_test_message(app, athlete_id, now=now)
        except NoChannelError as exc:
            hint = "no channel: set one with `strideguard notify set --email ...`"
            raise UserError(hint) from exc
    for result in results:
        if result.ok:
            console.print(f"[green]{result.channel} sent[/] {result.detail.removeprefix('sent ')}")
        else:
            err_console.print(f"[red]{result.channel} failed:[/] {result.detail}")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


# -- scheduler ----------------------------------------------------------------------------------


STRAVA_EVENTS_EVERY = timedelta(minutes=1)
RAW_PURGE_EVERY = timedelta(days=1)
CATCH_UP_EVERY = timedelta(hours=1)


def leader_only(ticks: Ticks, name: str, work: Callable[[], object]) -> Callable[[], object]:
    """Run ``work`` only in the process holding the scheduler lease; log, never raise."""

    def job() -> object:
        if not ticks.leading(ticks.clock()):
            return None
        try:
            return work()
        except Exception:
            log.exception("scheduler job %s failed", name)
            return None

    return job


def strava_jobs(app: App, ticks: Ticks) -> list[ExtraJob]:
    """The Strava work of the scheduler: webhook events (every minute) and the hourly catch-up
    sync when Strava is configured, and the daily purge of raw payloads (always: payloads stored
    before Strava was unconfigured must still go)."""
    from connector.strava import StravaServices
    from connector.strava.errors import StravaNotConfiguredError
    from connector.strava.retention import purge_raw
    from connector.strava.sync import sync_all
    from connector.strava.webhook import process_events
    from strideguard.cli_strava import analyse_callback, strava_config, stream_policy

    settings = app.settings
    retention = timedelta(days=settings.strava_retention_days)
    jobs: list[ExtraJob] = [
        (
            "strava-purge-raw",
            leader_only(
                ticks, "strava-purge-raw", lambda: purge_raw(app.sessions, retention=retention)
            ),
            RAW_PURGE_EVERY,
        )
    ]
    try:
        services = StravaServices.create(app.sessions, strava_config(settings))
    except StravaNotConfiguredError:
        return jobs
    client = services.client
    jobs.append(
        (
            "strava-events",
            leader_only(
                ticks,
                "strava-events",
                lambda: process_events(
                    app.sessions,
                    client,
                    on_changed=analyse_callback,
                    streams=stream_policy(settings),
                ),
            ),
            STRAVA_EVENTS_EVERY,
        )
    )
    jobs.append(
        (
            "strava-catch-up",
            leader_only(
                ticks,
                "strava-catch-up",
                lambda: sync_all(
                    app.sessions,
                    client,
                    backfill_days=settings.strava_backfill_days,
                    on_changed=analyse_callback,
                    streams=stream_policy(settings),
                ),
            ),
            CATCH_UP_EVERY,
        )
    )
    return jobs


def app_scheduler(app: App, *, blocking: bool) -> tuple[Ticks, BaseScheduler]:
    """The alerts scheduler with the Strava jobs (for ``scheduler`` and ``serve``)."""
    ticks = make_ticks(app)
    return ticks, build_scheduler(ticks, blocking=blocking, extra=strava_jobs(app, ticks))


def scheduler() -> None:
    """Run the scheduler in the foreground: alerts (hourly planning, dispatch every minute) and
    Strava (webhook events every minute, catch-up sync hourly, raw payload purge daily)."""
    with open_app() as app:
        ticks, sched = app_scheduler(app, blocking=True)
        console.print("Scheduler running (Ctrl-C to stop).")
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            ticks.release()
