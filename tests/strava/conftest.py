"""A Strava stand-in, a controllable clock and a linked athlete, for the connector tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from connector.strava.budget import RateBudget
from connector.strava.client import StravaClient, StravaCredentials
from connector.strava.crypto import TokenCipher
from connector.strava.oauth import StravaOAuth
from connector.strava.testing import FakeStrava, swagger_example
from store.models import Athlete

STRAVA_ATHLETE = 134815
VERIFY_TOKEN = "s3cret-verify"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Strava:
    sessions: sessionmaker[Session]
    fake: FakeStrava
    clock: Clock
    budget: RateBudget
    cipher: TokenCipher
    client: StravaClient
    oauth: StravaOAuth
    key: str

    def athlete(self, handle: str = "runner", time_zone: str = "Europe/Copenhagen") -> int:
        with self.sessions.begin() as session:
            row = Athlete(handle=handle, display_name=handle, time_zone=time_zone)
            session.add(row)
            session.flush()
            return row.id

    def link(self, athlete_id: int, strava_id: int = STRAVA_ATHLETE, scope: str = "") -> None:
        code = self.fake.add_athlete(strava_id)
        url = self.oauth.start(athlete_id, binding="web-session-1", now=self.clock())
        state = httpx.URL(url).params["state"]
        self.oauth.complete(
            athlete_id,
            binding="web-session-1",
            state=state,
            code=code,
            scope=scope or "read,activity:read_all",
            now=self.clock(),
        )


@pytest.fixture
def clock() -> Clock:
    # A Wednesday morning, inside a 15-minute window with room before its end.
    return Clock(datetime(2026, 11, 25, 9, 1, tzinfo=UTC))


@pytest.fixture
def strava(sessions: sessionmaker[Session], clock: Clock) -> Iterator[Strava]:
    fake = FakeStrava(clock=clock)
    http = httpx.Client(transport=fake.transport)
    budget = RateBudget(sessions, clock=clock)
    key = TokenCipher.generate_key()
    cipher = TokenCipher([key])
    client = StravaClient(
        sessions,
        StravaCredentials(client_id=1234, client_secret="app-secret"),
        cipher,
        budget,
        http=http,
        clock=clock,
        retry_wait=0.0,
    )
    oauth = StravaOAuth(sessions, client, cipher, redirect_uri="https://sg.example/strava/callback")
    yield Strava(sessions, fake, clock, budget, cipher, client, oauth, key)
    http.close()


def run_activity(
    activity_id: int,
    start: datetime,
    *,
    distance_m: float = 8000.0,
    moving_s: int = 2700,
    sport_type: str = "Run",
    utc_offset_s: int = 3600,
    **changes: Any,
) -> dict[str, Any]:
    """Strava's own detailed-activity example, turned into a run at ``start``."""
    activity: dict[str, Any] = copy.deepcopy(swagger_example("/activities/{id}"))
    local = start + timedelta(seconds=utc_offset_s)
    activity.update(
        id=activity_id,
        sport_type=sport_type,
        type="Run",
        trainer=False,
        start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        start_date_local=local.strftime("%Y-%m-%dT%H:%M:%SZ"),
        timezone="(GMT+01:00) Europe/Copenhagen",
        utc_offset=utc_offset_s,
        distance=distance_m,
        moving_time=moving_s,
        elapsed_time=moving_s + 60,
        has_heartrate=True,
        average_heartrate=148.0,
        max_heartrate=171,
    )
    activity["athlete"] = {"id": STRAVA_ATHLETE, "resource_state": 1}
    activity.update(changes)
    return activity
