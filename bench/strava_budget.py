"""Strava requests per athlete: 90-day list-only backfill and steady state (webhook, no streams).

Drives the real connector (client, budget, sync, webhook processing) against the in-memory
Strava (`connector.strava.testing.FakeStrava`) with generous limits, counts the API requests
Strava would bill, and derives how many athletes the default limits (100 reads / 15 min,
1,000 / day) support. Targets: <= 2 requests per athlete for the backfill, <= 1.1 per new
activity. Run: ``uv run python -m bench.strava_budget``.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from connector.strava.budget import RateBudget
from connector.strava.client import StravaClient, StravaCredentials
from connector.strava.crypto import TokenCipher
from connector.strava.oauth import StravaOAuth
from connector.strava.sync import sync_athlete
from connector.strava.testing import FakeStrava, swagger_example
from connector.strava.webhook import WebhookEvent, enqueue_event, process_events
from store.db import make_engine, migrate, session_factory
from store.models import Athlete

NOW = datetime(2026, 11, 25, 9, 1, tzinfo=UTC)
#: Activities per week of simulated athletes: casual to high-volume (two-a-days).
WEEKLY = (3, 5, 7, 10, 14, 18)
#: Share of new activities later edited in a way that needs a re-fetch (sport type changed);
#: title/privacy edits cost nothing. An assumption, stated in the output.
REFETCH_UPDATE_SHARE = 0.05
READS_15M, READS_DAY = 100, 1000


def _activity(aid: int, start: datetime, sport: str) -> dict[str, object]:
    raw: dict[str, object] = swagger_example("/activities/{id}")
    raw.update(
        id=aid,
        sport_type=sport,
        start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        start_date_local=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return raw


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        sessions = session_factory(engine)
        fake = FakeStrava(
            clock=lambda: NOW, read_limit=(10**6, 10**7), overall_limit=(10**6, 10**7)
        )
        http = httpx.Client(transport=fake.transport)
        budget = RateBudget(sessions, clock=lambda: NOW)
        cipher = TokenCipher([TokenCipher.generate_key()])
        client = StravaClient(
            sessions, StravaCredentials(1, "s"), cipher, budget, http=http, clock=lambda: NOW
        )
        oauth = StravaOAuth(sessions, client, cipher, redirect_uri="https://x/cb")
        budget.set_subscription_id(fake.subscription_id)

        backfill: list[tuple[int, int, int]] = []  # (per week, activities, requests)
        next_id = 1
        for n, weekly in enumerate(WEEKLY * 5):
            strava_id = 1000 + n
            with sessions.begin() as s:
                athlete = Athlete(handle=f"a{n}", display_name=f"a{n}")
                s.add(athlete)
                s.flush()
                athlete_id = athlete.id
            code = fake.add_athlete(strava_id)
            state = httpx.URL(oauth.start(athlete_id, binding="b", now=NOW)).params["state"]
            oauth.complete(
                athlete_id,
                binding="b",
                state=state,
                code=code,
                scope="read,activity:read_all",
                now=NOW,
            )
            count = int(weekly * 90 / 7 * rng.uniform(0.8, 1.2))
            for _ in range(count):
                start = NOW - timedelta(seconds=rng.randint(3600, 90 * 86400 - 3600))
                fake.add_activity(
                    strava_id,
                    _activity(
                        next_id, start, rng.choice(["Run", "Ride", "WeightTraining", "TrailRun"])
                    ),
                )
                next_id += 1
            before = fake.api_calls()
            report = sync_athlete(sessions, client, athlete_id, now=NOW)
            assert report.complete, report
            backfill.append((weekly, count, fake.api_calls() - before))

        # Steady state: each new activity arrives as a webhook create; some get a re-fetching
        # update, most a free title edit.
        new = 600
        before = fake.api_calls()
        event_time = int(NOW.timestamp())
        for i in range(new):
            strava_id = 1000 + i % len(backfill)
            aid = next_id
            next_id += 1
            fake.add_activity(strava_id, _activity(aid, NOW - timedelta(minutes=i), "Run"))
            event_time += 1
            enqueue_event(
                sessions,
                WebhookEvent(
                    aspect_type="create",
                    event_time=event_time,
                    object_id=aid,
                    object_type="activity",
                    owner_id=strava_id,
                    subscription_id=fake.subscription_id,
                ),
                subscription_id=fake.subscription_id,
            )
            event_time += 1
            updates = (
                {"type": "TrailRun"}
                if rng.random() < REFETCH_UPDATE_SHARE
                else {"title": "Lunch run"}
            )
            enqueue_event(
                sessions,
                WebhookEvent(
                    aspect_type="update",
                    event_time=event_time,
                    object_id=aid,
                    object_type="activity",
                    owner_id=strava_id,
                    subscription_id=fake.subscription_id,
                    updates=updates,
                ),
                subscription_id=fake.subscription_id,
            )
            if i % 50 == 49:
                process_events(sessions, client, limit=1000)
        process_events(sessions, client, limit=1000)
        steady = (fake.api_calls() - before) / new
        http.close()
        engine.dispose()

    per_athlete = [r for _, _, r in backfill]
    worst = max(per_athlete)
    mean = sum(per_athlete) / len(per_athlete)
    print("90-day list-only backfill (200 per page), requests per athlete:")
    for weekly in WEEKLY:
        rows = [(c, r) for w, c, r in backfill if w == weekly]
        print(
            f"  {weekly:>2} activities/week: {sum(c for c, _ in rows) / len(rows):6.0f} activities"
            f" -> {max(r for _, r in rows)} request(s)"
        )
    print(f"  mean {mean:.2f}, worst {worst} (target <= 2): {'OK' if worst <= 2 else 'MISSED'}")
    print(
        f"Steady state, webhook-driven, streams off ({REFETCH_UPDATE_SHARE:.0%} of activities get"
        f" a re-fetching edit): {steady:.3f} requests per new activity"
        f" (target <= 1.1): {'OK' if steady <= 1.1 else 'MISSED'}"
    )
    # Capacity: backfills are spread by the budget; steady state at ~1 activity/athlete/day.
    per_day_steady = steady * 1.0
    print("Capacity at the default limits (100 reads/15 min, 1,000/day):")
    print(
        f"  steady state at 1 new activity/athlete/day: {int(READS_DAY / per_day_steady)} athletes"
        f" (peak: {int(READS_15M / steady)} new activities per 15 min)"
    )
    print(
        f"  onboarding: {int(READS_DAY * 0.8 / mean)} athlete backfills/day with bulk work held"
        " to 80 % of the budget (20 % kept for live events)"
    )
    print(
        "  (Strava's 2026 policy reportedly caps self-serve apps at 10 athletes: the API"
        " budget is not the binding limit.)"
    )


if __name__ == "__main__":
    main()
