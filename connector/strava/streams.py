"""Per-sample streams of Strava activities: which to fetch, when, and what is kept of them.

The activity list carries average and max HR but no samples, so a Strava activity's load is
TRIMP from the average HR. Its HR stream lets the load be TRIMP over the samples (and gives zone
minutes), at one extra read per activity (``GET /activities/{id}/streams``, all keys at once).

When: only after a sync has finished listing (never between list pages) or after webhook events
were processed, and only with Strava's *bulk* share of the app-wide budget (`RateBudget` keeps
``live_reserve`` of each window for webhook work). A refused budget or a 429 stops the round; the
next round resumes with what is still missing. Most valuable first (`HeartRateStreams`): runs
before other sports, the most recent first within each.

What is kept: only what `analysis.derive.derive_activity` computes from the samples (the HR
histogram, running dynamics when the channels exist), merged into the activity's ``derived``
JSON beside the Strava-only keys (gear, surface prior, ...). The streams themselves are not
stored. ``derived["streams_fetched"]`` marks the activity so it is never fetched again (kept
across re-listings unless the activity's duration changed, e.g. it was cropped).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis.activity import DecodedActivity
from analysis.codec import derived_to_json
from analysis.derive import derive_activity
from connector.strava.client import StravaClient
from connector.strava.errors import NotFoundError, RateLimitedError, StravaError
from store.models import Activity, ActivitySource

__all__ = [
    "STREAM_KEYS",
    "HeartRateStreams",
    "NoStreams",
    "StreamCandidate",
    "StreamPolicy",
    "StreamsReport",
    "decode_streams",
    "fetch_streams",
    "keep_stream_metrics",
]

log = logging.getLogger(__name__)

#: Requested in one call (the cost is per request, not per key).
STREAM_KEYS = ("time", "heartrate", "latlng", "distance", "altitude")
#: The `derived` keys that come from streams (carried over when the summary is re-stored).
STREAM_DERIVED_KEYS = ("hr_seconds_by_bpm", "dynamics", "streams_fetched", "streams")
FETCHED = "streams_fetched"

StreamStatus = Literal["ok", "no_heartrate", "missing"]


@dataclass(frozen=True, slots=True)
class StreamCandidate:
    """A stored Strava activity, as a stream policy sees it."""

    activity_id: int
    strava_id: int
    sport: str
    start: datetime
    elapsed_s: float
    avg_hr: float | None
    derived: Mapping[str, Any] | None

    @property
    def fetched(self) -> bool:
        return bool(self.derived and self.derived.get(FETCHED))

    @property
    def has_hr_samples(self) -> bool:
        return bool(self.derived and self.derived.get("hr_seconds_by_bpm"))


class StreamPolicy(Protocol):
    """Decides which activities' streams are worth a request, and in which order."""

    def wants_streams(self, candidate: StreamCandidate) -> bool: ...

    def rank(self, candidate: StreamCandidate) -> tuple[float, ...]:
        """Sort key: lower goes first."""
        ...


class NoStreams:
    """Never fetch streams (the list-only mode: ~1 request per athlete for a backfill)."""

    def wants_streams(self, candidate: StreamCandidate) -> bool:
        return False

    def rank(self, candidate: StreamCandidate) -> tuple[float, ...]:
        return (0.0,)


class HeartRateStreams:
    """HR samples for activities that recorded HR (average HR present) but have none stored.

    Runs first (their load and the run rules matter most), then every other sport with HR
    (strength, rides...); within each, the most recent first (the acute load window).
    """

    def wants_streams(self, candidate: StreamCandidate) -> bool:
        return (
            candidate.avg_hr is not None and not candidate.fetched and not candidate.has_hr_samples
        )

    def rank(self, candidate: StreamCandidate) -> tuple[float, ...]:
        return (0.0 if candidate.sport == "running" else 1.0, -candidate.start.timestamp())


@dataclass(slots=True)
class StreamsReport:
    """What one round of stream fetching did."""

    requests: int = 0
    fetched: int = 0
    """Activities whose streams were fetched and stored (``ok`` or ``no_heartrate``)."""
    missing: int = 0
    """Activities gone at Strava (404): marked, not retried."""
    remaining: int = 0
    """Wanted but not fetched this round (budget, 429, error or ``limit``)."""
    retry_at: datetime | None = None
    error: str | None = None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def candidates(session: Session, athlete_id: int, policy: StreamPolicy) -> list[StreamCandidate]:
    """The athlete's stored Strava activities the policy wants streams for, best first."""
    rows = session.execute(
        select(
            Activity.id,
            Activity.source_id,
            Activity.sport,
            Activity.start_utc,
            Activity.elapsed_s,
            Activity.avg_hr,
            Activity.derived,
        ).where(Activity.athlete_id == athlete_id, Activity.source == ActivitySource.STRAVA)
    )
    found = []
    for activity_id, source_id, sport, start, elapsed_s, avg_hr, derived in rows:
        if not str(source_id).isdigit():
            continue
        candidate = StreamCandidate(
            activity_id=int(activity_id),
            strava_id=int(source_id),
            sport=str(sport),
            start=_aware(start),
            elapsed_s=float(elapsed_s),
            avg_hr=avg_hr,
            derived=derived,
        )
        if policy.wants_streams(candidate):
            found.append(candidate)
    found.sort(key=lambda c: (*policy.rank(c), c.activity_id))
    return found


def _series(streams: Mapping[str, Mapping[str, Any]], key: str, n: int) -> list[Any] | None:
    stream = streams.get(key)
    data = stream.get("data") if stream is not None else None
    return data if isinstance(data, list) and len(data) == n else None


def decode_streams(row: Activity, streams: Mapping[str, Mapping[str, Any]]) -> DecodedActivity:
    """The stored activity with its samples from Strava streams (the FIT model's columns).

    ``time`` is seconds since the start; a stream whose length differs from it is ignored.
    """
    start = _aware(row.start_utc)
    time_stream = streams.get("time")
    time = time_stream.get("data") if time_stream is not None else None
    samples = pd.DataFrame()
    if isinstance(time, list) and time:
        offsets = pd.to_timedelta(np.asarray(time, dtype=np.float64), unit="s")
        index = pd.DatetimeIndex(pd.Timestamp(start) + offsets, name="timestamp")
        columns: dict[str, Any] = {}
        n = len(time)
        for key, column in (
            ("heartrate", "hr_bpm"),
            ("distance", "distance_m"),
            ("altitude", "altitude_m"),
        ):
            data = _series(streams, key, n)
            if data is not None:
                columns[column] = pd.to_numeric(pd.Series(data, dtype=object), errors="coerce")
        latlng = _series(streams, "latlng", n)
        if latlng is not None:
            pairs = [p if isinstance(p, list) and len(p) == 2 else [None, None] for p in latlng]
            columns["lat_deg"] = pd.to_numeric(
                pd.Series([p[0] for p in pairs], dtype=object), errors="coerce"
            )
            columns["lon_deg"] = pd.to_numeric(
                pd.Series([p[1] for p in pairs], dtype=object), errors="coerce"
            )
        samples = pd.DataFrame({k: v.to_numpy(dtype=np.float64) for k, v in columns.items()})
        samples.index = index
    return DecodedActivity(
        sport=row.sport,
        sub_sport=row.sub_sport,
        start=start,
        local_offset_s=row.local_offset_s,
        elapsed_s=row.elapsed_s,
        moving_s=row.moving_s,
        distance_m=row.distance_m,
        ascent_m=row.ascent_m,
        avg_hr=row.avg_hr,
        max_hr=row.max_hr,
        has_gps=row.has_gps,
        device=row.device,
        partial=False,
        samples=samples,
    )


def _store(
    session: Session,
    activity_id: int,
    status: StreamStatus,
    streams: Mapping[str, Mapping[str, Any]] | None,
    now: datetime,
) -> None:
    row = session.get(Activity, activity_id)
    if row is None:  # deleted meanwhile (webhook delete, disconnect)
        return
    derived = dict(row.derived or {})
    samples = 0
    if streams is not None:
        decoded = decode_streams(row, streams)
        samples = len(decoded.samples)
        metrics = derived_to_json(derive_activity(decoded))
        derived["hr_seconds_by_bpm"] = metrics["hr_seconds_by_bpm"]
        if metrics.get("dynamics"):
            derived["dynamics"] = metrics["dynamics"]
        if not metrics["hr_seconds_by_bpm"]:
            status = "no_heartrate"
    derived[FETCHED] = True
    derived["streams"] = {
        "status": status,
        "samples": samples,
        "fetched_at": now.isoformat(),
        "elapsed_s": row.elapsed_s,
    }
    row.derived = derived  # a new dict: the JSON column sees the change


def keep_stream_metrics(
    old: Mapping[str, Any] | None, new: dict[str, Any], elapsed_s: float
) -> None:
    """Carry stream-derived keys from ``old`` into a re-stored summary's ``new`` derived JSON.

    Not when the activity's duration changed (cropped at Strava): then the streams changed too
    and the activity becomes a candidate again.
    """
    if not old or not old.get(FETCHED):
        return
    meta = old.get("streams")
    if isinstance(meta, Mapping) and meta.get("elapsed_s") not in (None, elapsed_s):
        return
    for key in STREAM_DERIVED_KEYS:
        if key in old and old[key] is not None:
            new[key] = old[key]


def fetch_streams(
    sessions: sessionmaker[Session],
    client: StravaClient,
    athlete_id: int,
    *,
    policy: StreamPolicy,
    limit: int | None = None,
    keys: Sequence[str] = STREAM_KEYS,
    now: datetime | None = None,
) -> StreamsReport:
    """Fetch and store streams for the athlete's wanted activities, best first, while allowed.

    Uses the bulk budget only. Never raises for Strava trouble: budget spent or 429 ->
    ``retry_at``; another failure -> ``error``; either way the round stops and what is left
    stays wanted for the next one.
    """
    report = StreamsReport()
    with sessions() as session:
        wanted = candidates(session, athlete_id, policy)
    for i, candidate in enumerate(wanted):
        if limit is not None and i >= limit:
            report.remaining = len(wanted) - i
            break
        status: StreamStatus = "ok"
        streams: dict[str, dict[str, Any]] | None = None
        try:
            streams = client.get_streams(athlete_id, candidate.strava_id, keys, priority="bulk")
        except NotFoundError:
            status = "missing"
        except RateLimitedError as exc:
            report.retry_at = exc.retry_at
            report.error = str(exc)
            report.remaining = len(wanted) - i
            break
        except StravaError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            report.remaining = len(wanted) - i
            log.warning("Strava streams of athlete %s stopped: %s", athlete_id, exc)
            break
        report.requests += 1
        with sessions.begin() as session:
            _store(session, candidate.activity_id, status, streams, now or datetime.now(UTC))
        if status == "missing":
            report.missing += 1
        else:
            report.fetched += 1
    return report
