"""Strava's webhook: the subscription challenge, a durable event queue, and its processing.

``POST /strava/webhook`` only validates the event, checks its ``subscription_id`` and owner, and
stores it (the unique key (object_type, object_id, aspect_type, event_time) makes Strava's
retries no-ops) before answering 200: well inside Strava's 2 s. `process_events` does the work
later (scheduler tick or ``strideguard strava sync``), and can run in several processes: each
event is claimed with a compare-and-set and a lease.

Events are unsigned, so nothing in them is trusted beyond "look at this object": activities are
re-fetched before anything is stored.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from connector.strava.client import StravaClient
from connector.strava.errors import (
    AppInactiveError,
    LinkBrokenError,
    LinkMissingError,
    NotFoundError,
    RateLimitedError,
    StravaError,
)
from connector.strava.streams import NoStreams, StreamPolicy, fetch_streams
from connector.strava.sync import AnalyseCallback, delete_strava_activity, delete_strava_data
from connector.strava.sync import store_activity as _store
from store.models import Athlete
from store.strava import EventStatus, LinkStatus, StravaEvent, StravaLink

__all__ = [
    "ProcessReport",
    "WebhookEvent",
    "enqueue_event",
    "make_webhook_router",
    "process_events",
]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/strava/webhook"
#: Update keys that change nothing Strideguard stores: no re-fetch (saves the budget).
HARMLESS_UPDATES = frozenset({"title", "private"})
READ_ALL = "activity:read_all"

StrictId = Annotated[int, Field(strict=True, ge=0)]


class WebhookEvent(BaseModel):
    """Strava's documented event shape; unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    aspect_type: Literal["create", "update", "delete"]
    event_time: Annotated[int, Field(strict=True, gt=0)]
    object_id: StrictId
    object_type: Literal["activity", "athlete"]
    owner_id: StrictId
    subscription_id: StrictId
    updates: dict[str, Any] = Field(default_factory=dict)


EnqueueOutcome = Literal["queued", "duplicate", "dropped"]


def enqueue_event(
    sessions: sessionmaker[Session], event: WebhookEvent, *, subscription_id: int | None
) -> EnqueueOutcome:
    """Store a valid event for processing; drop (and log) a foreign subscription or athlete."""
    if subscription_id is None or event.subscription_id != subscription_id:
        log.warning(
            "Strava event for subscription %s dropped (ours: %s; run `strideguard strava "
            "subscribe` if none)",
            event.subscription_id,
            subscription_id,
        )
        return "dropped"
    with sessions() as session:
        linked = session.scalar(
            select(StravaLink.id).where(StravaLink.strava_athlete_id == event.owner_id)
        )
        if linked is None:
            log.info("Strava event for unknown athlete %s dropped", event.owner_id)
            return "dropped"
        session.add(
            StravaEvent(
                object_type=event.object_type,
                object_id=event.object_id,
                aspect_type=event.aspect_type,
                event_time=event.event_time,
                owner_id=event.owner_id,
                subscription_id=event.subscription_id,
                updates=dict(event.updates),
                status=EventStatus.PENDING,
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return "duplicate"
    return "queued"


def make_webhook_router(
    sessions: sessionmaker[Session],
    *,
    verify_token: str | None,
    subscription_id: Callable[[], int | None],
    on_enqueued: Callable[[], None] | None = None,
) -> APIRouter:
    """The ``/strava/webhook`` routes; mount with ``app.include_router(router)``.

    ``subscription_id`` returns the app's subscription (`RateBudget.subscription_id` reads the
    one stored by ``strideguard strava subscribe``); ``on_enqueued`` may wake a worker.
    """
    router = APIRouter(tags=["strava"])

    @router.get(WEBHOOK_PATH)
    def challenge(request: Request) -> JSONResponse:
        """Strava's subscription check: echo the challenge if the verify token matches."""
        params = request.query_params
        given = params.get("hub.verify_token", "")
        challenge_value = params.get("hub.challenge")
        expected = verify_token or ""
        ok = (
            bool(expected)
            and params.get("hub.mode") == "subscribe"
            and challenge_value is not None
            and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
        )
        if not ok:
            return JSONResponse({"detail": "verification failed"}, status_code=403)
        return JSONResponse({"hub.challenge": challenge_value})

    @router.post(WEBHOOK_PATH)
    async def receive(request: Request) -> JSONResponse:
        """Validate, store, answer 200; the work happens in `process_events`."""
        try:
            event = WebhookEvent.model_validate_json(await request.body())
        except ValidationError as exc:
            log.warning("malformed Strava event rejected: %s", exc.errors(include_url=False))
            return JSONResponse({"detail": "malformed event"}, status_code=400)
        outcome = await run_in_threadpool(
            enqueue_event, sessions, event, subscription_id=subscription_id()
        )
        if outcome == "queued" and on_enqueued is not None:
            on_enqueued()
        return JSONResponse({"status": outcome})

    return router


# -- processing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ProcessReport:
    done: int = 0
    dropped: int = 0
    failed: int = 0
    deferred: int = 0
    fetched: int = 0
    streams_fetched: int = 0
    """Activities whose streams were fetched after the events (bulk budget only)."""
    retry_at: datetime | None = None
    athletes_changed: set[int] = field(default_factory=set)


Outcome = Literal["done", "dropped", "deleted"]


def process_events(
    sessions: sessionmaker[Session],
    client: StravaClient,
    *,
    on_changed: AnalyseCallback | None = None,
    limit: int = 100,
    max_attempts: int = 5,
    lease: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
    streams: StreamPolicy | None = None,
) -> ProcessReport:
    """Process due events in arrival order; safe to run in several processes at once.

    create/update -> re-fetch and store (an update of only the title or privacy is not
    re-fetched); delete -> remove; athlete ``authorized == "false"`` -> delete all the
    athlete's Strava data. 429 / budget spent: the event waits for the window, no attempt
    counted; transient failures back off and fail after ``max_attempts``. With a ``streams``
    policy, the changed athletes' wanted streams follow, from the bulk budget only (the live
    reserve stays for events), unless Strava work is already paused.
    """
    report = ProcessReport()
    now = now or datetime.now(UTC)
    with sessions() as session:
        due = list(
            session.scalars(
                select(StravaEvent.id)
                .where(
                    or_(
                        (StravaEvent.status == EventStatus.PENDING)
                        & (StravaEvent.next_attempt_at <= now),
                        (StravaEvent.status == EventStatus.PROCESSING)
                        & (StravaEvent.lease_until < now),
                    )
                )
                .order_by(StravaEvent.id)
                .limit(limit)
            )
        )
    for event_id in due:
        if not _claim(sessions, event_id, now, lease):
            continue
        try:
            outcome = _process_one(sessions, client, event_id, report)
        except RateLimitedError as exc:
            _defer(sessions, event_id, exc.retry_at, str(exc))
            report.deferred += 1
            report.retry_at = exc.retry_at
            break
        except AppInactiveError as exc:
            retry_at = now + timedelta(minutes=15)
            _defer(sessions, event_id, retry_at, str(exc))
            report.deferred += 1
            report.retry_at = retry_at
            break
        except (LinkBrokenError, LinkMissingError) as exc:
            _finish(sessions, event_id, EventStatus.FAILED, str(exc))
            report.failed += 1
        except StravaError as exc:
            if _retry_later(sessions, event_id, now, max_attempts, f"{type(exc).__name__}: {exc}"):
                report.deferred += 1
            else:
                report.failed += 1
        else:
            if outcome == "dropped":
                _finish(sessions, event_id, EventStatus.DROPPED, None)
                report.dropped += 1
            elif outcome == "done":
                _finish(sessions, event_id, EventStatus.DONE, None)
                report.done += 1
            else:
                report.done += 1  # the athlete's events were deleted with their data
    if streams is not None and not isinstance(streams, NoStreams):
        for athlete_id in sorted(report.athletes_changed):
            if report.retry_at is not None:
                break
            fetched = fetch_streams(sessions, client, athlete_id, policy=streams, now=now)
            report.streams_fetched += fetched.fetched
            report.retry_at = fetched.retry_at
    if on_changed is not None:
        for athlete_id in sorted(report.athletes_changed):
            try:
                with sessions.begin() as session:
                    if session.get(Athlete, athlete_id) is not None:
                        on_changed(session, athlete_id)
            except Exception:
                log.exception("analysis after Strava events failed for athlete %s", athlete_id)
    return report


def _claim(sessions: sessionmaker[Session], event_id: int, now: datetime, lease: timedelta) -> bool:
    with sessions.begin() as session:
        result = session.execute(
            update(StravaEvent)
            .where(
                StravaEvent.id == event_id,
                or_(
                    StravaEvent.status == EventStatus.PENDING,
                    (StravaEvent.status == EventStatus.PROCESSING)
                    & (StravaEvent.lease_until < now),
                ),
            )
            .values(status=EventStatus.PROCESSING, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _finish(
    sessions: sessionmaker[Session], event_id: int, status: EventStatus, error: str | None
) -> None:
    with sessions.begin() as session:
        event = session.get(StravaEvent, event_id)
        if event is not None:
            event.status = status
            event.error = error
            event.lease_until = None
            event.processed_at = datetime.now(UTC)


def _defer(sessions: sessionmaker[Session], event_id: int, retry_at: datetime, error: str) -> None:
    with sessions.begin() as session:
        event = session.get(StravaEvent, event_id)
        if event is not None:
            event.status = EventStatus.PENDING
            event.next_attempt_at = retry_at
            event.lease_until = None
            event.error = error


def _retry_later(
    sessions: sessionmaker[Session], event_id: int, now: datetime, max_attempts: int, error: str
) -> bool:
    with sessions.begin() as session:
        event = session.get(StravaEvent, event_id)
        if event is None:
            return False
        event.attempts += 1
        event.error = error
        event.lease_until = None
        if event.attempts >= max_attempts:
            event.status = EventStatus.FAILED
            return False
        event.status = EventStatus.PENDING
        event.next_attempt_at = now + timedelta(minutes=2**event.attempts)
        return True


def _process_one(
    sessions: sessionmaker[Session], client: StravaClient, event_id: int, report: ProcessReport
) -> Outcome:
    with sessions() as session:
        event = session.get_one(StravaEvent, event_id)
        link = session.scalar(
            select(StravaLink).where(StravaLink.strava_athlete_id == event.owner_id)
        )
        if link is None or link.status == LinkStatus.REVOKED:
            log.info("Strava event %s: athlete %s not linked, dropped", event_id, event.owner_id)
            return "dropped"
        athlete = session.get(Athlete, link.athlete_id)
        if athlete is None:
            return "dropped"
        athlete_id, time_zone, scopes = athlete.id, athlete.time_zone, list(link.scopes or [])
        object_type, aspect, object_id = event.object_type, event.aspect_type, event.object_id
        updates = dict(event.updates or {})

    if object_type == "athlete":
        if str(updates.get("authorized", "")).lower() == "false":
            with sessions.begin() as session:
                delete_strava_data(session, athlete_id)
            report.athletes_changed.add(athlete_id)
            log.info("athlete %s revoked Strava access: Strava data deleted", athlete_id)
            return "deleted"
        return "done"

    if aspect == "delete":
        with sessions.begin() as session:
            if delete_strava_activity(session, athlete_id, object_id):
                report.athletes_changed.add(athlete_id)
        return "done"

    hidden_now = str(updates.get("private", "")).lower() == "true" and READ_ALL not in scopes
    if aspect == "update" and hidden_now:
        # Made private and we may not read private activities: it must not stay here.
        with sessions.begin() as session:
            if delete_strava_activity(session, athlete_id, object_id):
                report.athletes_changed.add(athlete_id)
        return "done"
    if aspect == "update" and set(updates) <= HARMLESS_UPDATES:
        return "done"

    try:
        raw = client.get_activity(athlete_id, object_id, priority="live")
    except NotFoundError:
        with sessions.begin() as session:
            if delete_strava_activity(session, athlete_id, object_id):
                report.athletes_changed.add(athlete_id)
        return "done"
    report.fetched += 1
    with sessions.begin() as session:
        outcome = _store(session, athlete_id, raw, time_zone=time_zone, kind="detail")
    if outcome != "skipped":
        report.athletes_changed.add(athlete_id)
    return "done"
