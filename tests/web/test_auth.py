"""Accounts: first run, sign-in, sessions, CSRF, throttling, API tokens."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from sqlalchemy import select, update

from store.accounts import WebSession
from strideguard.app import App
from tests.web.conftest import (
    PASSWORD,
    TestClient,
    anon_token,
    csrf_of,
    make_user,
    new_client,
    sign_in,
)


def test_first_run_creates_the_first_account_then_closes(client: TestClient) -> None:
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303
    assert client.get("/login", follow_redirects=False).headers["location"] == "/setup"
    token = anon_token(client, "/setup")
    response = client.post(
        "/setup",
        data={
            "email": "First@Example.com",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "display_name": "First",
            "time_zone": "Europe/Oslo",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert client.get("/").status_code == 200
    assert client.get("/api/profile").json()["email"] == "first@example.com"
    # Once an account exists, the first-run page is gone.
    assert client.get("/setup", follow_redirects=False).headers["location"] == "/login"


def test_setup_rejects_bad_input_in_one_sentence(client: TestClient) -> None:
    token = anon_token(client, "/setup")
    response = client.post(
        "/setup",
        data={
            "email": "x@example.com",
            "password": "short",
            "password_again": "short",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert "at least 8 characters" in response.text
    assert "Traceback" not in response.text


def test_sign_in_wrong_password_then_right(core: App, client: TestClient) -> None:
    make_user(core, "a@example.com")
    token = anon_token(client)
    wrong = client.post(
        "/login", data={"email": "a@example.com", "password": "nope-nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "wrong" in wrong.text
    sign_in(client, "a@example.com")
    assert client.get("/api/profile").status_code == 200


def test_login_without_or_with_wrong_csrf_is_refused(core: App, client: TestClient) -> None:
    make_user(core, "a@example.com")
    data = {"email": "a@example.com", "password": PASSWORD}
    assert client.post("/login", data=data).status_code == 403
    anon_token(client)  # sets the cookie
    assert client.post("/login", data=data | {"csrf_token": "forged"}).status_code == 403


def test_csrf_is_required_on_every_signed_in_form_and_cookie_api_call(
    core: App, client: TestClient
) -> None:
    make_user(core, "a@example.com")
    csrf = sign_in(client, "a@example.com")
    form = {"minutes": "30"}
    assert client.post("/settings/strength", data=form).status_code == 403
    assert client.post("/settings/strength", data=form | {"csrf_token": "x"}).status_code == 403
    ok = client.post("/settings/strength", data=form | {"csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    # JSON API with the cookie: the header is required.
    assert client.put("/api/profile", json={"units": "mi"}).status_code == 403
    bad = client.put("/api/profile", json={"units": "mi"}, headers={"X-CSRF-Token": "x"})
    assert bad.status_code == 403
    good = client.put("/api/profile", json={"units": "mi"}, headers={"X-CSRF-Token": csrf})
    assert good.status_code == 200
    assert good.json()["units"] == "mi"
    assert client.post("/logout").status_code == 403


def test_expired_or_ended_sessions_are_refused(core: App, web: FastAPI) -> None:
    make_user(core, "a@example.com")
    client = new_client(web)
    sign_in(client, "a@example.com")
    assert client.get("/api/profile").status_code == 200
    with core.sessions.begin() as session:
        session.execute(
            update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert client.get("/api/profile").status_code == 401
    page = client.get("/settings", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")

    # Signing out ends the session on the server: a copied cookie stops working too.
    csrf = sign_in(client, "a@example.com")
    stolen = client.cookies.get("sg_session")
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    thief = new_client(web)
    thief.cookies.set("sg_session", stolen or "")
    assert thief.get("/api/profile").status_code == 401
    # A tampered cookie is just "not signed in".
    thief.cookies.set("sg_session", (stolen or "x") + "tampered")
    assert thief.get("/api/profile").status_code == 401


def test_cookie_signature_expiry(core: App, web: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed timestamp expires independently of the database row."""
    make_user(core, "a@example.com")
    client = new_client(web)
    sign_in(client, "a@example.com")
    later = int(time.time() + core.settings.session_hours * 3600 + 60)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    assert client.get("/api/profile").status_code == 401


def test_login_is_rate_limited(core: App, client: TestClient) -> None:
    make_user(core, "a@example.com")
    token = anon_token(client)
    for _ in range(5):
        response = client.post(
            "/login", data={"email": "a@example.com", "password": "bad-guess", "csrf_token": token}
        )
        assert response.status_code == 401
    locked = client.post(
        "/login", data={"email": "A@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.text
    with core.sessions() as session:
        assert session.scalars(select(WebSession)).all() == []


def test_api_tokens(core: App, client: TestClient, web: FastAPI) -> None:
    make_user(core, "a@example.com")
    csrf = sign_in(client, "a@example.com")
    created = client.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("sg_")
    script = new_client(web)
    auth = {"Authorization": f"Bearer {token}"}
    assert script.get("/api/profile", headers=auth).json()["email"] == "a@example.com"
    # No CSRF token needed with a bearer token (browsers never send it by themselves).
    logged = script.post("/api/logs/strength", json={"minutes": 20}, headers=auth)
    assert logged.status_code == 201
    listed = client.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["script"]
    assert listed[0]["last_used_at"] is not None
    assert "token" not in listed[0]
    assert (
        script.get("/api/profile", headers={"Authorization": "Bearer sg_nope"}).status_code == 401
    )
    assert script.get("/api/profile", headers={"Authorization": "Basic abc"}).status_code == 401
    gone = client.delete(f"/api/tokens/{listed[0]['id']}", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 204
    assert script.get("/api/profile", headers=auth).status_code == 401


def test_unauthenticated_api_gets_401_json_and_pages_redirect(client: TestClient) -> None:
    response = client.get("/api/activities")
    assert response.status_code == 401
    assert response.json() == {"detail": "Please sign in first."}
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/upload", follow_redirects=False).status_code == 303


def test_security_headers_and_open_redirect(core: App, client: TestClient) -> None:
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    make_user(core, "a@example.com")
    token = anon_token(client)
    response = client.post(
        "/login",
        data={
            "email": "a@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
    assert csrf_of(client)


def test_own_heart_rate_zones_through_the_api(core: App, client: TestClient) -> None:
    make_user(core, "z@example.com")
    csrf = sign_in(client, "z@example.com")
    headers = {"X-CSRF-Token": csrf}
    set_zones = client.put(
        "/api/profile", json={"zone_floors_pct": [55, 65, 75, 85, 92]}, headers=headers
    )
    assert set_zones.status_code == 200
    assert set_zones.json()["zone_floors_pct"] == [55, 65, 75, 85, 92]
    unordered = client.put(
        "/api/profile", json={"zone_floors_pct": [60, 50, 70, 90, 80]}, headers=headers
    )
    assert unordered.json()["zone_floors_pct"] == [50, 60, 70, 80, 90]
    for wrong in ([50, 50, 70, 80, 90], [50, 60, 70, 80, 120]):
        answer = client.put("/api/profile", json={"zone_floors_pct": wrong}, headers=headers)
        assert answer.status_code == 422
    reset = client.put("/api/profile", json={"zone_floors_pct": None}, headers=headers)
    assert reset.json()["zone_floors_pct"] is None
