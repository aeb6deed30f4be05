"""Backfill and catch-up from the activity list; storing, linking and deleting Strava activities.

A sync lists the athlete's activities started after a lower bound (90 days back on the first
sync, the last completed sync minus `OVERLAP` afterwards), 200 per page, newest first. The
cursor (``sync_after``, ``sync_before``) is committed with each page's activities, so a 429,
a crash or an exhausted budget loses nothing: the next run resumes below the last stored page,
and activities seen twice are upserted on (athlete, source, source_id), never duplicated.

Streams (per-second HR, distance, altitude, latlng) are not part of the listing: the list
already carries distance, times, sport type, average/max HR, trainer, gear and the route. A
`StreamPolicy` (`connector.strava.streams`) decides which stored activities' streams are worth a
request; they are fetched only once the listing is complete, with the bulk budget, best first.
The default `NoStreams` never fetches, so a list-only backfill costs ~1 request per athlete;
`HeartRateStreams` costs one more request per activity with HR.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from connector.ingest import TWIN_DURATION_TOLERANCE, TWIN_START_WINDOW
from connector.strava.client import StravaClient
from connector.strava.errors import RateLimitedError, StravaError
from connector.strava.mapping import MappedActivity, MappingError, map_activity
from connector.strava.streams import (
    NoStreams,
    StreamPolicy,
    StreamsReport,
    fetch_streams,
    keep_stream_metrics,
)
from store.models import Activity, ActivitySource, Athlete
from store.strava import (
    LinkStatus,
    StravaActivityLink,
    StravaEvent,
    StravaLink,
    StravaOAuthState,
    StravaRaw,
)

__all__ = [
    "OVERLAP",
    "AnalyseCallback",
    "NoStreams",
    "StoreOutcome",
    "StreamPolicy",
    "SyncReport",
    "delete_strava_activity",
    "delete_strava_data",
    "store_activity",
    "sync_all",
    "sync_athlete",
]

log = logging.getLogger(__name__)

#: A catch-up re-lists this much before the last sync, to see late uploads and edits.
OVERLAP = timedelta(days=2)
PER_PAGE = 200

AnalyseCallback = Callable[[Session, int], None]
"""Called as ``(session, athlete_id)`` inside a transaction after an athlete's activities changed
(the app passes `strideguard.analysis_service.analyse_athlete`; connector never imports it)."""

StoreOutcome = Literal["created", "updated", "linked", "skipped"]


@dataclass(slots=True)
class SyncReport:
    """What one sync of one athlete did, and whether it still has pages to go."""

    athlete_id: int
    requests: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    retry_at: datetime | None = None
    error: str | None = None
    streams: StreamsReport | None = None
    """The streams round that followed a complete listing (None: no round ran)."""

    def count(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)


# -- storing one activity -----------------------------------------------------------------------


def find_fit_twin(session: Session, athlete_id: int, mapped: MappedActivity) -> int | None:
    """The FIT activity this Strava activity duplicates (same rule as `connector.ingest`).

    Same sport, start within 60 s, duration within 5 %; with a hidden start time the start is
    meaningless, so the local day stands in for it.
    """
    candidate = mapped.decoded
    query = select(Activity.id, Activity.elapsed_s).where(
        Activity.athlete_id == athlete_id,
        Activity.source == ActivitySource.FIT,
        Activity.sport == candidate.sport,
    )
    if mapped.start_time_hidden:
        query = query.where(Activity.local_date == mapped.local_date)
    else:
        query = query.where(
            Activity.start_utc >= candidate.start - TWIN_START_WINDOW,
            Activity.start_utc <= candidate.start + TWIN_START_WINDOW,
        )
    for activity_id, elapsed_s in session.execute(query.order_by(Activity.id)):
        longest = max(elapsed_s, candidate.elapsed_s)
        if (
            longest == 0
            or abs(elapsed_s - candidate.elapsed_s) <= TWIN_DURATION_TOLERANCE * longest
        ):
            return int(activity_id)
    return None


def _apply(row: Activity, mapped: MappedActivity) -> None:
    d = mapped.decoded
    row.sport = d.sport
    row.sub_sport = d.sub_sport
    row.start_utc = d.start
    row.local_offset_s = d.local_offset_s
    row.local_date = mapped.local_date
    row.elapsed_s = d.elapsed_s
    row.moving_s = d.moving_s
    row.distance_m = d.distance_m
    row.ascent_m = d.ascent_m
    row.avg_hr = d.avg_hr
    row.max_hr = d.max_hr
    row.has_gps = d.has_gps
    row.device = d.device
    row.partial = False
    derived = mapped.derived_json()
    keep_stream_metrics(row.derived, derived, d.elapsed_s)
    row.derived = derived


def _keep_raw(
    session: Session, athlete_id: int, strava_id: int, raw: Mapping[str, Any], kind: str
) -> None:
    row = session.scalar(select(StravaRaw).where(StravaRaw.strava_activity_id == strava_id))
    if row is None:
        row = StravaRaw(athlete_id=athlete_id, strava_activity_id=strava_id)
        session.add(row)
    row.kind = kind
    row.payload = dict(raw)
    row.fetched_at = datetime.now(UTC)


def store_activity(
    session: Session,
    athlete_id: int,
    raw: Mapping[str, Any],
    *,
    time_zone: str,
    kind: Literal["summary", "detail"] = "summary",
) -> StoreOutcome:
    """Upsert one Strava activity, or link it to its FIT twin (whose numbers win)."""
    try:
        mapped = map_activity(raw, time_zone=time_zone)
    except MappingError as exc:
        log.warning("skipping a Strava activity of athlete %s: %s", athlete_id, exc)
        return "skipped"
    source_id = str(mapped.strava_id)
    _keep_raw(session, athlete_id, mapped.strava_id, raw, kind)
    own = session.scalar(
        select(Activity).where(
            Activity.athlete_id == athlete_id,
            Activity.source == ActivitySource.STRAVA,
            Activity.source_id == source_id,
        )
    )
    link = session.scalar(
        select(StravaActivityLink).where(StravaActivityLink.strava_activity_id == mapped.strava_id)
    )
    if link is not None:
        return "linked"
    twin = find_fit_twin(session, athlete_id, mapped)
    if twin is not None:
        if own is not None:  # the FIT file arrived after the Strava copy: FIT wins
            session.delete(own)
        session.add(
            StravaActivityLink(
                athlete_id=athlete_id, strava_activity_id=mapped.strava_id, activity_id=twin
            )
        )
        session.flush()
        return "linked"
    if own is not None:
        _apply(own, mapped)
        session.flush()
        return "updated"
    row = Activity(athlete_id=athlete_id, source=ActivitySource.STRAVA, source_id=source_id)
    _apply(row, mapped)
    session.add(row)
    session.flush()
    return "created"


def delete_strava_activity(session: Session, athlete_id: int, strava_id: int) -> bool:
    """Remove one Strava activity (a FIT twin stays: only the link goes). True if it existed."""
    removed = session.execute(
        delete(Activity).where(
            Activity.athlete_id == athlete_id,
            Activity.source == ActivitySource.STRAVA,
            Activity.source_id == str(strava_id),
        )
    )
    unlinked = session.execute(
        delete(StravaActivityLink).where(
            StravaActivityLink.athlete_id == athlete_id,
            StravaActivityLink.strava_activity_id == strava_id,
        )
    )
    session.execute(
        delete(StravaRaw).where(
            StravaRaw.athlete_id == athlete_id, StravaRaw.strava_activity_id == strava_id
        )
    )
    return bool(getattr(removed, "rowcount", 0) or getattr(unlinked, "rowcount", 0))


def delete_strava_data(session: Session, athlete_id: int, *, keep_link: bool = False) -> None:
    """Delete everything Strava-derived of one athlete (terms: on revoke or disconnect).

    Activities from Strava, links to FIT twins, raw payloads, queued events, OAuth states and,
    unless ``keep_link`` (deauthorize at Strava still pending), the link with its tokens.
    FIT activities are the athlete's own data and stay.
    """
    link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == athlete_id))
    session.execute(
        delete(Activity).where(
            Activity.athlete_id == athlete_id, Activity.source == ActivitySource.STRAVA
        )
    )
    session.execute(delete(StravaActivityLink).where(StravaActivityLink.athlete_id == athlete_id))
    session.execute(delete(StravaRaw).where(StravaRaw.athlete_id == athlete_id))
    session.execute(delete(StravaOAuthState).where(StravaOAuthState.athlete_id == athlete_id))
    if link is not None:
        session.execute(delete(StravaEvent).where(StravaEvent.owner_id == link.strava_athlete_id))
        if keep_link:
            link.status = LinkStatus.REVOKED
            link.error = "disconnected; revoking access at Strava is pending"
            link.scopes = []
            link.last_sync_at = link.sync_started_at = link.sync_after = link.sync_before = None
        else:
            session.delete(link)
    session.flush()


# -- listing ------------------------------------------------------------------------------------


def _oldest_start(items: Iterable[Mapping[str, Any]]) -> datetime | None:
    starts: list[datetime] = []
    for item in items:
        value = item.get("start_date")
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            starts.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return min(starts, default=None)


def sync_athlete(
    sessions: sessionmaker[Session],
    client: StravaClient,
    athlete_id: int,
    *,
    backfill_days: int = 90,
    now: datetime | None = None,
    per_page: int = PER_PAGE,
    on_changed: AnalyseCallback | None = None,
    streams: StreamPolicy | None = None,
    max_pages: int | None = None,
) -> SyncReport:
    """List and store the athlete's activities since the last sync (or ``backfill_days``).

    Never raises for Strava trouble: the report says whether the sync completed, when to retry
    (429 / budget) or what failed; the cursor is kept for the next run.
    """
    report = SyncReport(athlete_id)
    now = now or datetime.now(UTC)
    policy = streams or NoStreams()
    with sessions.begin() as session:
        link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == athlete_id))
        athlete = session.get(Athlete, athlete_id)
        if link is None or athlete is None or link.status != LinkStatus.OK:
            report.error = "Strava is not connected" if link is None else f"link {link.status}"
            return report
        if link.sync_started_at is None:
            link.sync_started_at = now
            link.sync_after = (
                link.last_sync_at - OVERLAP
                if link.last_sync_at is not None
                else now - timedelta(days=backfill_days)
            )
            link.sync_before = None
        after, before, time_zone = link.sync_after, link.sync_before, athlete.time_zone
    changed = False
    pages = 0
    try:
        while max_pages is None or pages < max_pages:
            page = client.list_activities(
                athlete_id, after=after, before=before, per_page=per_page, priority="bulk"
            )
            pages += 1
            report.requests += 1
            with sessions.begin() as session:
                for item in page.items:
                    outcome = store_activity(session, athlete_id, item, time_zone=time_zone)
                    report.counts[outcome] = report.counts.get(outcome, 0) + 1
                    changed = changed or outcome != "skipped"
                link = session.scalars(
                    select(StravaLink).where(StravaLink.athlete_id == athlete_id)
                ).one()
                oldest = _oldest_start(page.items)
                if len(page.items) < per_page or oldest is None:
                    link.last_sync_at = link.sync_started_at
                    link.sync_started_at = link.sync_after = link.sync_before = None
                    link.error = None
                    report.complete = True
                else:
                    # Inclusive of the oldest second (`before` is exclusive): an activity sharing
                    # that second with the page's last one is not skipped; the repeat is upserted.
                    cursor = oldest + timedelta(seconds=1)
                    before = cursor if before is None or cursor < before else oldest
                    link.sync_before = before
            if report.complete:
                break
    except RateLimitedError as exc:
        report.retry_at = exc.retry_at
        report.error = str(exc)
    except StravaError as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        log.warning("Strava sync of athlete %s stopped: %s", athlete_id, exc)
    if report.complete and not isinstance(policy, NoStreams):
        # Streams come after the list, never between its pages, and only with spare budget.
        report.streams = fetch_streams(sessions, client, athlete_id, policy=policy, now=now)
        report.requests += report.streams.requests
        changed = changed or report.streams.fetched > 0
        if report.streams.retry_at is not None:
            report.retry_at = report.streams.retry_at
    if changed and on_changed is not None:
        with sessions.begin() as session:
            on_changed(session, athlete_id)
    return report


def sync_all(
    sessions: sessionmaker[Session],
    client: StravaClient,
    *,
    athlete_ids: Iterable[int] | None = None,
    backfill_days: int = 90,
    on_changed: AnalyseCallback | None = None,
    streams: StreamPolicy | None = None,
) -> list[SyncReport]:
    """Sync every linked athlete (or the given ones); stops when Strava's budget is spent."""
    with sessions() as session:
        query = select(StravaLink.athlete_id).where(StravaLink.status == LinkStatus.OK)
        if athlete_ids is not None:
            query = query.where(StravaLink.athlete_id.in_(list(athlete_ids)))
        ids = list(session.scalars(query.order_by(StravaLink.athlete_id)))
    reports: list[SyncReport] = []
    for athlete_id in ids:
        report = sync_athlete(
            sessions,
            client,
            athlete_id,
            backfill_days=backfill_days,
            on_changed=on_changed,
            streams=streams,
        )
        reports.append(report)
        if report.retry_at is not None:
            break
    return reports
