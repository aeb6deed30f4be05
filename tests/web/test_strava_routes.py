"""Connect with Strava, the callback, disconnect and the webhook, against the in-memory Strava."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from connector.strava import StravaServices
from connector.strava.crypto import TokenCipher
from connector.strava.oauth import DENIED, NO_PRIVATE
from connector.strava.testing import FakeStrava
from store import models
from store.strava import StravaEvent, StravaLink
from strideguard.app import App
from strideguard.cli_strava import strava_config
from strideguard.settings import Settings
from strideguard.web.app import create_app
from tests.strava.conftest import STRAVA_ATHLETE, run_activity
from tests.web.conftest import TestClient, make_user, new_client, sign_in

VERIFY = "verify-me"


@pytest.fixture
def fake() -> FakeStrava:
    return FakeStrava()


@pytest.fixture
def core(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = App(
        Settings(
            data_dir=tmp_path / "data",
            database_url=db_url,
            secret_key="test-secret-key-long-enough-for-links",
            strava_client_id=1234,
            strava_client_secret="app-secret",
            strava_verify_token=VERIFY,
            strava_token_keys=TokenCipher.generate_key(),
            base_url="https://sg.example",
        )
    )
    yield app
    app.close()


@pytest.fixture
def web(core: App, fake: FakeStrava) -> Iterator[FastAPI]:
    web = create_app(core)
    http = httpx.Client(transport=fake.transport)
    config = strava_config(core.settings, redirect_uri="https://sg.example/strava/callback")
    web.state.strava = StravaServices.create(core.sessions, config, http=http)
    yield web
    http.close()


def _wait_backfill(web: FastAPI) -> None:
    for thread in getattr(web.state, "strava_backfills", []):
        thread.join(timeout=30)
        assert not thread.is_alive()


def _connect(client: TestClient) -> str:
    response = client.get("/strava/connect", follow_redirects=False)
    assert response.status_code == 303, response.text
    url = httpx.URL(response.headers["location"])
    assert url.host == "www.strava.com"
    assert url.params["scope"] == "read,activity:read_all"
    assert url.params["redirect_uri"] == "https://sg.example/strava/callback"
    return url.params["state"]


def _strava_activities(core: App, athlete_id: int) -> int:
    with core.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(models.Activity)
                .where(
                    models.Activity.athlete_id == athlete_id,
                    models.Activity.source == models.ActivitySource.STRAVA,
                )
            )
            or 0
        )


def test_connect_callback_backfill_and_disconnect(
    core: App, web: FastAPI, fake: FakeStrava
) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    csrf = sign_in(client, "runner@example.com")
    page = client.get("/settings").text
    assert 'class="strava-connect" href="/strava/connect"' in page
    assert "/static/strava.css" in page

    code = fake.add_athlete(STRAVA_ATHLETE)
    now = datetime.now(UTC)
    for i in range(3):
        fake.add_activity(STRAVA_ATHLETE, run_activity(100 + i, now - timedelta(days=2 + i)))
    state = _connect(client)
    # Private activities unticked: linked, with a warning the athlete can act on.
    done = client.get(
        "/strava/callback", params={"state": state, "code": code, "scope": "read,activity:read"}
    )
    assert done.status_code == 200, done.text
    assert "Strava is connected" in done.text
    assert NO_PRIVATE.split(":")[0] in done.text
    _wait_backfill(web)
    assert _strava_activities(core, athlete_id) == 3
    page = client.get("/settings").text
    assert "Powered by Strava" in page
    assert "connected" in page
    assert "Disconnect Strava" in page

    # The state is single use: reloading the callback explains instead of failing.
    again = client.get(
        "/strava/callback", params={"state": state, "code": code, "scope": "read,activity:read"}
    )
    assert again.status_code == 400
    assert "expired or was already used" in again.text

    assert client.post("/strava/disconnect").status_code == 403  # CSRF
    gone = client.post("/strava/disconnect", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303, gone.text
    assert _strava_activities(core, athlete_id) == 0
    with core.sessions() as session:
        assert session.scalars(select(StravaLink)).all() == []
    assert "Strava is disconnected" in client.get("/settings?saved=strava-disconnected").text


def test_callback_errors_are_explained(core: App, web: FastAPI, fake: FakeStrava) -> None:
    make_user(core, "runner@example.com")
    client = new_client(web)
    sign_in(client, "runner@example.com")
    state = _connect(client)
    denied = client.get("/strava/callback", params={"state": state, "error": "access_denied"})
    assert denied.status_code == 400
    assert DENIED.split(",")[0] in denied.text

    # A state started in one browser session does not complete in another one.
    code = fake.add_athlete(STRAVA_ATHLETE)
    state = _connect(client)
    other = new_client(web)
    sign_in(other, "runner@example.com")
    stolen = other.get(
        "/strava/callback",
        params={"state": state, "code": code, "scope": "read,activity:read_all"},
    )
    assert stolen.status_code == 400
    with core.sessions() as session:
        assert session.scalars(select(StravaLink)).all() == []
    assert client.get("/strava/callback").status_code == 400


def test_webhook_is_mounted(core: App, web: FastAPI, fake: FakeStrava) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    challenge = client.get(
        "/strava/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "c123"},
    )
    assert challenge.status_code == 200
    assert challenge.json() == {"hub.challenge": "c123"}
    wrong = client.get(
        "/strava/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "c"},
    )
    assert wrong.status_code == 403

    services: StravaServices = web.state.strava
    services.budget.set_subscription_id(fake.subscription_id)
    with core.sessions.begin() as session:
        session.add(
            StravaLink(
                athlete_id=athlete_id,
                strava_athlete_id=STRAVA_ATHLETE,
                access_token_enc=services.cipher.encrypt("at"),
                refresh_token_enc=services.cipher.encrypt("rt"),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
                scopes=["read", "activity:read_all"],
            )
        )
    event = {
        "aspect_type": "create",
        "event_time": 1_700_000_000,
        "object_id": 42,
        "object_type": "activity",
        "owner_id": STRAVA_ATHLETE,
        "subscription_id": fake.subscription_id,
        "updates": {},
    }
    queued = client.post("/strava/webhook", json=event)
    assert queued.status_code == 200
    assert queued.json() == {"status": "queued"}
    assert client.post("/strava/webhook", content=b"{").status_code == 400
    with core.sessions() as session:
        assert len(session.scalars(select(StravaEvent)).all()) == 1


def test_not_configured_says_so(tmp_path: Path, db_url: str) -> None:
    core = App(Settings(data_dir=tmp_path / "d", database_url=db_url, secret_key="k" * 20))
    try:
        web = create_app(core)
        make_user(core, "runner@example.com")
        with TestClient(web) as client:
            sign_in(client, "runner@example.com")
            page = client.get("/settings").text
            assert "Strava is not configured on this server" in page
            assert "STRIDEGUARD_STRAVA_CLIENT_ID" in page
            connect = client.get("/strava/connect", follow_redirects=False)
            assert connect.status_code == 404
            assert "STRIDEGUARD_STRAVA_CLIENT_ID" in connect.text
            hook = client.post("/strava/webhook", json={})
            assert hook.status_code == 404
            assert hook.json() == {"detail": "Strava is not configured on this server."}
    finally:
        core.close()
