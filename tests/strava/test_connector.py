"""The connector end to end against the in-memory Strava: link, backfill, webhook, failures."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.planning import plan_nudges
from connector.strava.crypto import TokenCipher, rotate_tokens
from connector.strava.errors import AppInactiveError, LinkBrokenError, OAuthError
from connector.strava.retention import purge_raw
from connector.strava.sync import sync_athlete
from connector.strava.webhook import make_webhook_router, process_events
from store.models import Activity, ActivitySource, Athlete, Finding
from store.notifications import Delivery, DeliveryKind, NotificationSettings
from store.strava import (
    EventStatus,
    LinkStatus,
    StravaActivityLink,
    StravaEvent,
    StravaLink,
    StravaOAuthState,
    StravaRaw,
)
from strideguard.analysis_service import analyse_athlete
from tests.strava.conftest import STRAVA_ATHLETE, VERIFY_TOKEN, Strava, run_activity

with warnings.catch_warnings():
    # starlette asks for its `httpx2` fork at import; the plain httpx client works the same here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def analyse(session: Session, athlete_id: int) -> None:
    athlete = session.get_one(Athlete, athlete_id)
    analyse_athlete(session, athlete, as_of=date(2026, 11, 25))


def webhook_client(strava: Strava) -> TestClient:
    app = FastAPI()
    app.include_router(
        make_webhook_router(
            strava.sessions,
            verify_token=VERIFY_TOKEN,
            subscription_id=strava.budget.subscription_id,
        )
    )
    return TestClient(app)


def event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "aspect_type": "create",
        "event_time": 1764061200,
        "object_id": 9001,
        "object_type": "activity",
        "owner_id": STRAVA_ATHLETE,
        "subscription_id": 120475,
        "updates": {},
    }
    body.update(changes)
    return body


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def strava_rows(strava: Strava, athlete_id: int) -> dict[str, int]:
    with strava.sessions() as s:
        return {
            "activities": count(
                s,
                Activity,
                Activity.athlete_id == athlete_id,
                Activity.source == ActivitySource.STRAVA,
            ),
            "links": count(s, StravaLink, StravaLink.athlete_id == athlete_id),
            "twins": count(s, StravaActivityLink, StravaActivityLink.athlete_id == athlete_id),
            "raw": count(s, StravaRaw, StravaRaw.athlete_id == athlete_id),
            "events": count(s, StravaEvent, StravaEvent.owner_id == STRAVA_ATHLETE),
            "states": count(s, StravaOAuthState, StravaOAuthState.athlete_id == athlete_id),
        }


def easy_runs(strava: Strava, n: int, *, first_id: int = 100) -> None:
    """``n`` 8 km runs, one every other day back from yesterday morning."""
    for i in range(n):
        start = strava.clock() - timedelta(days=1 + 2 * i, hours=2)
        strava.fake.add_activity(STRAVA_ATHLETE, run_activity(first_id + i, start))


def test_link_backfill_webhook_finding_then_deauthorize(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    easy_runs(strava, 12)
    old = run_activity(99, strava.clock() - timedelta(days=120))  # outside the 90 days
    strava.fake.add_activity(STRAVA_ATHLETE, old)

    report = sync_athlete(strava.sessions, strava.client, athlete, now=strava.clock())
    assert report.complete
    assert report.requests == 1  # one page of 200 holds 90 days of running
    assert report.count("created") == 12
    with strava.sessions() as s:
        rows = s.scalars(select(Activity).where(Activity.athlete_id == athlete)).all()
        assert {r.source_id for r in rows} == {str(100 + i) for i in range(12)}
        assert all(r.sport == "running" and r.distance_m == 8000.0 for r in rows)
        link = s.scalars(select(StravaLink)).one()
        assert link.last_sync_at == strava.clock()
        assert link.scopes == ["activity:read_all", "read"]

    # A long run arrives through the webhook: fetched, stored, analysed -> a finding.
    strava.budget.set_subscription_id(120475)
    long_run = run_activity(
        9001, strava.clock() - timedelta(hours=1), distance_m=21000.0, moving_s=7200
    )
    strava.fake.add_activity(STRAVA_ATHLETE, long_run)
    api = webhook_client(strava)
    assert api.post("/strava/webhook", json=event()).json() == {"status": "queued"}
    processed = process_events(strava.sessions, strava.client, on_changed=analyse)
    assert (processed.done, processed.fetched) == (1, 1)
    with strava.sessions() as s:
        stored = s.scalars(select(Activity).where(Activity.source_id == "9001")).one()
        assert stored.distance_m == 21000.0
        assert stored.derived is not None
        assert stored.derived["gear"]["distance_m"] == long_run["gear"]["distance"]
        findings = s.scalars(select(Finding).where(Finding.athlete_id == athlete)).all()
        assert any(f.subject == f"activity:{stored.id}" for f in findings), [
            (f.rule_id, f.subject) for f in findings
        ]

    # ... and the spike is owed to the athlete as a push nudge (the alerts' planning tick).
    with strava.sessions.begin() as s:
        s.add(NotificationSettings(athlete_id=athlete, push_urls=["json://127.0.0.1:9/hook"]))
    with strava.sessions.begin() as s:
        plan_nudges(s, now=strava.clock())
    with strava.sessions() as s:
        nudges = s.scalars(
            select(Delivery).where(
                Delivery.athlete_id == athlete, Delivery.kind == DeliveryKind.SPIKE_NUDGE
            )
        ).all()
        assert [n.period for n in nudges] == [f"activity:{stored.id}"]

    # The athlete revokes access on strava.com: nothing Strava-derived stays.
    deauth = event(
        object_type="athlete",
        object_id=STRAVA_ATHLETE,
        aspect_type="update",
        updates={"authorized": "false"},
        event_time=1764064800,
    )
    assert api.post("/strava/webhook", json=deauth).json() == {"status": "queued"}
    process_events(strava.sessions, strava.client, on_changed=analyse)
    assert strava_rows(strava, athlete) == dict.fromkeys(
        ("activities", "links", "twins", "raw", "events", "states"), 0
    )
    with strava.sessions() as s:
        assert count(s, Finding, Finding.subject == f"activity:{stored.id}") == 0
        assert s.get(Athlete, athlete) is not None
    # Strava retries the deauthorization: the athlete is unknown now, so it is dropped.
    assert api.post("/strava/webhook", json=deauth).json() == {"status": "dropped"}


def test_fit_twin_is_linked_not_double_counted(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    start = strava.clock() - timedelta(days=3)
    with strava.sessions.begin() as s:
        fit = Activity(
            athlete_id=athlete,
            source=ActivitySource.FIT,
            source_id="abc:0",
            sport="running",
            sub_sport="generic",
            start_utc=start + timedelta(seconds=20),
            local_offset_s=3600,
            local_date=start.date(),
            elapsed_s=2790.0,
            moving_s=2700.0,
            distance_m=8042.0,
            avg_hr=151.0,
            has_gps=True,
        )
        s.add(fit)
        s.flush()
        fit_id = fit.id
    strava.fake.add_activity(STRAVA_ATHLETE, run_activity(555, start, distance_m=8000.0))
    report = sync_athlete(strava.sessions, strava.client, athlete, now=strava.clock())
    assert report.count("linked") == 1
    with strava.sessions() as s:
        assert count(s, Activity, Activity.athlete_id == athlete) == 1
        row = s.get_one(Activity, fit_id)
        assert (row.distance_m, row.avg_hr) == (8042.0, 151.0)  # the FIT numbers win
        assert s.scalars(select(StravaActivityLink)).one().activity_id == fit_id
    # Disconnecting removes the link, never the athlete's own FIT activity.
    assert strava.oauth.disconnect(athlete)
    assert strava_rows(strava, athlete)["twins"] == 0
    with strava.sessions() as s:
        assert s.get(Activity, fit_id) is not None
    assert not strava.fake.accounts[STRAVA_ATHLETE].authorized  # revoked at Strava too


def test_401_refreshes_once_and_saves_the_rotated_token(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.fake.expire_access_tokens()
    page = strava.client.list_activities(athlete)
    assert page.items == []
    account = strava.fake.accounts[STRAVA_ATHLETE]
    with strava.sessions() as s:
        link = s.scalars(select(StravaLink)).one()
        assert strava.cipher.decrypt(link.refresh_token_enc) == account.refresh_token
        assert strava.cipher.decrypt(link.access_token_enc) == account.access_token
        assert link.status == LinkStatus.OK
    assert strava.fake.api_calls("/oauth/token") == 2  # the link's exchange + one refresh

    # Strava keeps refusing after the refresh: the link is broken, the athlete is told.
    strava.fake.fail_next("/athlete/activities", 401, times=2)
    with pytest.raises(LinkBrokenError):
        strava.client.list_activities(athlete)
    with strava.sessions() as s:
        link = s.scalars(select(StravaLink)).one()
        assert link.status == LinkStatus.BROKEN
        assert link.error
        assert "Connect Strava again" in link.error


def test_token_refreshed_before_expiry_with_a_margin(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.clock.advance(timedelta(hours=5, minutes=55))  # 5 min before the 6 h expiry
    strava.client.list_activities(athlete)
    assert strava.fake.api_calls("/oauth/token") == 2
    assert strava.fake.api_calls("/athlete/activities") == 1  # no 401 round trip needed


def test_429_mid_backfill_resumes_without_loss_or_duplicates(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    easy_runs(strava, 7)
    strava.fake.fail_next("/athlete/activities", 429)  # after page 1, see below
    first = sync_athlete(strava.sessions, strava.client, athlete, per_page=3, now=strava.clock())
    # The scripted 429 hit the first page: nothing stored, cursor kept, requests blocked.
    assert not first.complete
    assert first.retry_at == datetime(2026, 11, 25, 9, 15, tzinfo=UTC)
    assert strava.budget.state().blocked_until == first.retry_at

    # Resume once, get one page, then Strava's 429 again mid-way.
    strava.clock.advance(timedelta(minutes=15))
    strava.fake.failures.clear()
    partial = sync_athlete(strava.sessions, strava.client, athlete, per_page=3, max_pages=1)
    assert partial.count("created") == 3
    assert not partial.complete
    strava.fake.fail_next("/athlete/activities", 429)
    blocked = sync_athlete(strava.sessions, strava.client, athlete, per_page=3)
    assert blocked.retry_at is not None
    # Before the window resets nothing is sent at all.
    sent = strava.fake.api_calls("/athlete/activities")
    assert sync_athlete(strava.sessions, strava.client, athlete, per_page=3).retry_at
    assert strava.fake.api_calls("/athlete/activities") == sent

    strava.clock.advance(timedelta(minutes=15))
    done = sync_athlete(strava.sessions, strava.client, athlete, per_page=3)
    assert done.complete
    with strava.sessions() as s:
        ids = sorted(s.scalars(select(Activity.source_id).where(Activity.athlete_id == athlete)))
    assert ids == sorted(str(100 + i) for i in range(7))  # every run once


def test_5xx_and_timeouts_are_retried(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    easy_runs(strava, 2)
    strava.fake.fail_next("/athlete/activities", 503)
    strava.fake.fail_next("/athlete/activities", httpx.ReadTimeout)
    report = sync_athlete(strava.sessions, strava.client, athlete, now=strava.clock())
    assert report.complete
    assert report.count("created") == 2
    assert strava.fake.api_calls("/athlete/activities") == 3

    strava.fake.fail_next("/athlete/activities", 502, times=3)
    failed = sync_athlete(strava.sessions, strava.client, athlete, now=strava.clock())
    assert not failed.complete
    assert failed.error
    assert "UnavailableError" in failed.error


def test_application_inactive_is_operator_visible(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.fake.fail_next("/athlete/activities", 403)
    with pytest.raises(AppInactiveError):
        strava.client.list_activities(athlete)
    state = strava.budget.state()
    assert state.app_status == "inactive"
    assert state.app_error
    assert "inactive" in state.app_error


def test_budget_follows_headers_and_keeps_room_for_live_work(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.fake.read_limit = (5, 1000)
    strava.client.list_activities(athlete)
    state = strava.budget.state()
    assert (state.read_usage_15m, state.read_limit_15m, state.read_limit_day) == (1, 5, 1000)
    for _ in range(3):
        strava.client.list_activities(athlete)  # bulk may use 80 %: 4 of 5
    with pytest.raises(Exception, match="bulk budget spent"):
        strava.client.list_activities(athlete)
    strava.fake.add_activity(STRAVA_ATHLETE, run_activity(7, strava.clock()))
    assert strava.client.get_activity(athlete, 7)["id"] == 7  # live work still goes


def test_webhook_challenge(strava: Strava) -> None:
    api = webhook_client(strava)
    good = {
        "hub.mode": "subscribe",
        "hub.challenge": "15f7d1a91c1f40f8",
        "hub.verify_token": VERIFY_TOKEN,
    }
    assert api.get("/strava/webhook", params=good).json() == {"hub.challenge": "15f7d1a91c1f40f8"}
    bad = {**good, "hub.verify_token": "guess"}
    assert api.get("/strava/webhook", params=bad).status_code == 403
    assert api.get("/strava/webhook", params={"hub.challenge": "x"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"aspect_type": "create"}',
        None,
    ],
)
def test_malformed_events_are_rejected(strava: Strava, body: bytes | None) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    api = webhook_client(strava)
    if body is None:
        response = api.post("/strava/webhook", json=event(object_id="9001x", aspect_type="bump"))
    else:
        response = api.post("/strava/webhook", content=body)
    assert response.status_code == 400
    assert strava_rows(strava, athlete)["events"] == 0


def test_foreign_subscription_and_unknown_athlete_are_dropped(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    api = webhook_client(strava)
    assert api.post("/strava/webhook", json=event(subscription_id=1)).json()["status"] == "dropped"
    assert api.post("/strava/webhook", json=event(owner_id=42)).json()["status"] == "dropped"
    assert strava_rows(strava, athlete)["events"] == 0


def test_replayed_event_is_processed_once(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    strava.fake.add_activity(STRAVA_ATHLETE, run_activity(9001, strava.clock()))
    api = webhook_client(strava)
    assert api.post("/strava/webhook", json=event()).json()["status"] == "queued"
    assert api.post("/strava/webhook", json=event()).json()["status"] == "duplicate"
    process_events(strava.sessions, strava.client)
    assert api.post("/strava/webhook", json=event()).json()["status"] == "duplicate"
    process_events(strava.sessions, strava.client)
    assert strava.fake.api_calls("/activities/9001") == 1
    with strava.sessions() as s:
        assert count(s, Activity, Activity.source_id == "9001") == 1
        assert s.scalars(select(StravaEvent)).one().status == EventStatus.DONE


def test_update_and_delete_events(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    activity = run_activity(9001, strava.clock())
    strava.fake.add_activity(STRAVA_ATHLETE, activity)
    api = webhook_client(strava)
    api.post("/strava/webhook", json=event())
    # A title change costs no request; a sport change is re-fetched.
    api.post(
        "/strava/webhook",
        json=event(aspect_type="update", event_time=1764061300, updates={"title": "Morning jog"}),
    )
    process_events(strava.sessions, strava.client)
    assert strava.fake.api_calls("/activities/9001") == 1
    activity["sport_type"] = "TrailRun"
    api.post(
        "/strava/webhook",
        json=event(aspect_type="update", event_time=1764061400, updates={"type": "TrailRun"}),
    )
    process_events(strava.sessions, strava.client)
    with strava.sessions() as s:
        row = s.scalars(select(Activity).where(Activity.source_id == "9001")).one()
        assert row.sub_sport == "trail"
    api.post("/strava/webhook", json=event(aspect_type="delete", event_time=1764061500))
    process_events(strava.sessions, strava.client)
    assert strava_rows(strava, athlete)["activities"] == 0
    assert strava_rows(strava, athlete)["raw"] == 0


def test_rate_limited_event_waits_for_the_window(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.budget.set_subscription_id(120475)
    strava.fake.add_activity(STRAVA_ATHLETE, run_activity(9001, strava.clock()))
    webhook_client(strava).post("/strava/webhook", json=event())
    strava.fake.fail_next("/activities/9001", 429)
    first = process_events(strava.sessions, strava.client)
    assert first.deferred == 1
    assert process_events(strava.sessions, strava.client).done == 0
    strava.clock.advance(timedelta(minutes=15))
    assert process_events(strava.sessions, strava.client).done == 1
    with strava.sessions() as s:
        assert s.scalars(select(StravaEvent)).one().attempts == 0


def test_oauth_scopes_and_state(strava: Strava) -> None:
    athlete = strava.athlete()
    code = strava.fake.add_athlete(STRAVA_ATHLETE)
    url = httpx.URL(strava.oauth.start(athlete, binding="session-a", now=strava.clock()))
    assert url.params["scope"] == "read,activity:read_all"
    state = url.params["state"]
    with pytest.raises(OAuthError, match="expired or was already used"):
        strava.oauth.complete(
            athlete,
            binding="session-b",
            state=state,
            code=code,
            scope="read,activity:read_all",
            now=strava.clock(),
        )
    # The state was single use: even the right session cannot reuse it now.
    with pytest.raises(OAuthError, match="expired or was already used"):
        strava.oauth.complete(
            athlete,
            binding="session-a",
            state=state,
            code=code,
            scope="read,activity:read_all",
            now=strava.clock(),
        )

    def attempt(scope: str | None, error: str | None = None) -> Any:
        fresh = httpx.URL(strava.oauth.start(athlete, binding="a", now=strava.clock()))
        return strava.oauth.complete(
            athlete,
            binding="a",
            state=fresh.params["state"],
            code=code,
            scope=scope,
            error=error,
            now=strava.clock(),
        )

    with pytest.raises(OAuthError, match="not granted"):
        attempt(None, error="access_denied")
    with pytest.raises(OAuthError, match="View data about your activities"):
        attempt("read")
    result = attempt("read,activity:read")
    assert result.scopes == ["activity:read", "read"]
    assert result.warnings
    assert "private" in result.warnings[0]
    with strava.sessions() as s:
        assert s.scalars(select(StravaLink)).one().scopes == ["activity:read", "read"]


def test_keys_rotate_and_retention(strava: Strava) -> None:
    athlete = strava.athlete()
    strava.link(athlete)
    strava.fake.add_activity(STRAVA_ATHLETE, run_activity(1, strava.clock() - timedelta(days=1)))
    sync_athlete(strava.sessions, strava.client, athlete, now=strava.clock())
    now = datetime.now(UTC)
    assert purge_raw(strava.sessions, retention=timedelta(days=7), now=now) == 0
    assert purge_raw(strava.sessions, retention=timedelta(days=7), now=now + timedelta(days=8)) == 1
    assert strava_rows(strava, athlete)["activities"] == 1  # the activity itself stays
    new_key = TokenCipher.generate_key()
    with strava.sessions() as s:
        before = s.scalars(select(StravaLink)).one().refresh_token_enc
    both = TokenCipher([new_key, strava.key])
    assert rotate_tokens(strava.sessions, both) == 1
    with strava.sessions() as s:
        after = s.scalars(select(StravaLink)).one().refresh_token_enc
    assert after != before
    assert (
        TokenCipher([new_key]).decrypt(after) == strava.fake.accounts[STRAVA_ATHLETE].refresh_token
    )
