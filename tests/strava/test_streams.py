"""Streams: fetched after the listing, within the bulk budget, best first, never twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.strava.streams import STREAM_KEYS, HeartRateStreams, fetch_streams
from connector.strava.sync import sync_athlete
from connector.strava.webhook import WebhookEvent, enqueue_event, process_events
from store.models import Activity, Athlete
from strideguard.analysis_service import analyse_athlete
from tests.strava.conftest import STRAVA_ATHLETE, Strava, run_activity


def analyse(session: Session, athlete_id: int) -> None:
    analyse_athlete(session, session.get_one(Athlete, athlete_id), as_of=date(2026, 11, 25))


def stream_ids(strava: Strava) -> list[int]:
    """Activity ids of the stream requests, in the order they reached Strava."""
    paths = [r.url.path for r in strava.fake.requests]
    return [int(p.split("/")[-2]) for p in paths if p.endswith("/streams")]


def runs(strava: Strava, n: int, *, first_id: int = 100) -> dict[int, dict[str, Any]]:
    """``n`` runs with HR, one every other day back from yesterday; the newest has the lowest id."""
    made = {}
    for i in range(n):
        activity = run_activity(first_id + i, strava.clock() - timedelta(days=1 + 2 * i, hours=2))
        strava.fake.add_activity(STRAVA_ATHLETE, activity)
        made[first_id + i] = activity
    return made


def expected_histogram(streams: dict[str, dict[str, Any]]) -> dict[int, float]:
    """Seconds at each bpm, straight from the streams: each reading holds until the next."""
    t, hr = streams["time"]["data"], streams["heartrate"]["data"]
    hist: dict[int, float] = defaultdict(float)
    for i in range(len(t) - 1):
        if t[i + 1] - t[i] <= 10 and 30 <= hr[i] <= 240:
            hist[round(hr[i])] += t[i + 1] - t[i]
    return dict(hist)


def stored(strava: Strava, strava_id: int) -> Activity:
    with strava.sessions() as s:
        return s.scalars(select(Activity).where(Activity.source_id == str(strava_id))).one()


def test_streams_after_the_list_best_first_and_the_load_uses_the_samples(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    made = runs(strava, 3)
    # The most recent activity is a strength session with HR: it still waits for the runs.
    strength = run_activity(
        200, strava.clock() - timedelta(hours=5), sport_type="WeightTraining", distance_m=0.0
    )
    no_hr = run_activity(300, strava.clock() - timedelta(days=2), has_heartrate=False)
    del no_hr["average_heartrate"], no_hr["max_heartrate"]
    for activity in (strength, no_hr):
        strava.fake.add_activity(STRAVA_ATHLETE, activity)

    report = sync_athlete(
        strava.sessions,
        strava.client,
        athlete,
        now=strava.clock(),
        streams=HeartRateStreams(),
        on_changed=analyse,
    )
    assert report.complete
    assert report.streams is not None
    assert (report.streams.fetched, report.streams.remaining) == (4, 0)
    assert report.requests == 1 + 4  # the list page, then one request per activity with HR
    assert stream_ids(strava) == [100, 101, 102, 200]  # runs newest first, then the rest
    paths = [r.url.path for r in strava.fake.requests if "/api/v3/" in r.url.path]
    assert paths[0] == "/api/v3/athlete/activities"  # streams never before the listing is done
    request = next(r for r in strava.fake.requests if r.url.path.endswith("/100/streams"))
    assert request.url.params["keys"] == ",".join(STREAM_KEYS)
    assert request.url.params["key_by_type"] == "true"

    row = stored(strava, 100)
    assert row.derived is not None
    hist = {int(k): v for k, v in row.derived["hr_seconds_by_bpm"].items()}
    streams = strava.fake.make_streams(made[100])
    t = streams["time"]["data"]
    assert sum(hist.values()) == t[-1] - t[0]  # the whole covered duration, nothing more
    assert hist == expected_histogram(streams)
    assert row.derived["streams_fetched"] is True
    assert row.derived["gear"] == {"id": made[100]["gear_id"]}  # Strava-only keys stay
    assert row.derived["strava"]["sport_type"] == "Run"
    assert row.derived["surface"]["method"] == "prior"
    assert row.load_method == "trimp_samples"
    assert stored(strava, 200).load_method == "trimp_samples"
    assert stored(strava, 300).derived.get("streams_fetched") is None  # type: ignore[union-attr]
    assert stored(strava, 300).load_method != "trimp_samples"

    # A catch-up re-lists (and re-stores) the same activities: no stream is fetched again and
    # the samples' histogram survives the re-store.
    strava.clock.advance(timedelta(hours=1))
    again = sync_athlete(
        strava.sessions, strava.client, athlete, now=strava.clock(), streams=HeartRateStreams()
    )
    assert again.complete
    assert again.requests == 1
    assert stream_ids(strava) == [100, 101, 102, 200]
    assert stored(strava, 100).derived == row.derived


def test_429_stops_streams_and_they_resume_after_the_window(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    runs(strava, 6)
    strava.fake.fail_next("/activities/101/streams", 429)

    report = sync_athlete(
        strava.sessions, strava.client, athlete, now=strava.clock(), streams=HeartRateStreams()
    )
    assert report.complete  # the listing finished; only streams wait
    assert report.streams is not None
    assert report.streams.fetched == 1
    assert report.streams.remaining == 5
    assert report.retry_at is not None
    # Still blocked: nothing is sent at all.
    sent = len(strava.fake.requests)
    blocked = fetch_streams(strava.sessions, strava.client, athlete, policy=HeartRateStreams())
    assert blocked.retry_at is not None
    assert blocked.fetched == 0
    assert len(strava.fake.requests) == sent

    strava.clock.advance(timedelta(minutes=15))
    resumed = fetch_streams(strava.sessions, strava.client, athlete, policy=HeartRateStreams())
    assert (resumed.fetched, resumed.remaining, resumed.retry_at) == (5, 0, None)
    # 101 was asked twice (the 429, then the answer); every other activity exactly once.
    assert stream_ids(strava) == [100, 101, 101, 102, 103, 104, 105]
    with strava.sessions() as s:
        rows = s.scalars(select(Activity).where(Activity.athlete_id == athlete)).all()
        assert len(rows) == 6
        assert all(r.derived and r.derived["streams_fetched"] for r in rows)
    nothing = fetch_streams(strava.sessions, strava.client, athlete, policy=HeartRateStreams())
    assert (nothing.requests, nothing.fetched) == (0, 0)


def test_streams_only_use_the_spare_budget_and_leave_room_for_webhooks(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    runs(strava, 12)
    strava.budget.set_subscription_id(120475)
    strava.fake.read_limit = (10, 1000)  # the bulk share is 8 reads per 15 minutes

    report = sync_athlete(
        strava.sessions, strava.client, athlete, now=strava.clock(), streams=HeartRateStreams()
    )
    assert report.complete
    assert report.streams is not None
    assert (report.streams.fetched, report.streams.remaining) == (7, 5)  # 1 list + 7 streams
    assert report.retry_at is not None
    assert stream_ids(strava) == list(range(100, 107))  # the most recent first
    assert strava.fake.api_calls() == 8  # refused by the budget, not by a 429

    # A new run arrives: the webhook's live reserve still fetches it in this window, and its
    # streams wait (no spare bulk room) instead of eating that reserve.
    strava.fake.add_activity(
        STRAVA_ATHLETE, run_activity(9001, strava.clock() - timedelta(minutes=30))
    )
    enqueue_event(
        strava.sessions,
        WebhookEvent(
            aspect_type="create",
            event_time=1764061200,
            object_id=9001,
            object_type="activity",
            owner_id=STRAVA_ATHLETE,
            subscription_id=120475,
        ),
        subscription_id=120475,
    )
    live = process_events(strava.sessions, strava.client, streams=HeartRateStreams())
    assert (live.done, live.fetched, live.streams_fetched) == (1, 1, 0)
    assert live.retry_at is not None

    strava.clock.advance(timedelta(minutes=15))
    resumed = fetch_streams(strava.sessions, strava.client, athlete, policy=HeartRateStreams())
    assert (resumed.fetched, resumed.remaining) == (6, 0)
    ids = stream_ids(strava)
    assert ids[7] == 9001  # the newest run of those left goes first
    assert sorted(ids) == sorted([*range(100, 112), 9001])  # each exactly once


def test_webhook_create_fetches_streams_with_spare_budget(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    strava.fake.add_activity(
        STRAVA_ATHLETE, run_activity(9001, strava.clock() - timedelta(hours=1))
    )
    enqueue_event(
        strava.sessions,
        WebhookEvent(
            aspect_type="create",
            event_time=1764061200,
            object_id=9001,
            object_type="activity",
            owner_id=STRAVA_ATHLETE,
            subscription_id=120475,
        ),
        subscription_id=120475,
    )
    before = strava.fake.api_calls()
    report = process_events(
        strava.sessions,
        strava.client,
        streams=HeartRateStreams(),
        on_changed=analyse,
    )
    assert (report.done, report.fetched, report.streams_fetched) == (1, 1, 1)
    assert strava.fake.api_calls() - before == 2  # the activity, then its streams
    row = stored(strava, 9001)
    assert row.derived is not None
    assert row.derived["streams_fetched"] is True
    assert row.derived["gear"]["distance_m"] > 0  # the detail's gear total stays
    assert row.load_method == "trimp_samples"
