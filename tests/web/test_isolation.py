"""Two accounts: every page and API route of one, tried with the other's ids, gives 404/403.

The routes are read from the app itself, so a route added later is covered automatically (a
new path parameter name must be added to `ids_of` below, or the test fails and says so).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from store import models
from store.accounts import ApiToken, UploadJob
from strideguard.app import App
from tests.web.conftest import RUN, TestClient, make_user, new_client, sign_in, upload

MARKER = "alice-secret"
ANONYMOUS = {"/login", "/setup", "/healthz", "/logout"}
# Public by design, so not tried with Alice's ids: the signed link *is* the credential and acts
# only for the athlete inside the token (tests/web/test_links.py covers tampering and expiry);
# Strava's webhook is called by Strava, with no account (tests/web/test_strava_routes.py).
PUBLIC_BY_DESIGN = {"/l/{token}", "/strava/webhook"}
_PARAM = re.compile(r"{(\w+)}")


@pytest.fixture
def alice(core: App, web: FastAPI, samples_dir: Path) -> dict[str, Any]:
    """Alice's account with one of everything; returns her ids."""
    make_user(core, "alice@example.com")
    client = new_client(web)
    csrf = sign_in(client, "alice@example.com")
    headers = {"X-CSRF-Token": csrf}
    client.put("/api/profile", json={"display_name": f"{MARKER} name"}, headers=headers)
    job = upload(client, [(RUN, (samples_dir / RUN).read_bytes())], csrf)
    assert job["status"] == "done", job
    strength = client.post(
        "/api/logs/strength", json={"minutes": 25, "note": f"{MARKER} note"}, headers=headers
    ).json()
    pain = client.post("/api/logs/pain", json={"area": "knee", "score": 3}, headers=headers).json()
    token = client.post("/api/tokens", json={"name": f"{MARKER} token"}, headers=headers).json()
    return {
        "activity_id": job["files"][0]["activity_ids"][0],
        "strength_id": strength["id"],
        "pain_id": pain["id"],
        "token_id": token["id"],
        "job_id": job["id"],
    }


def all_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every API route, walking included routers (FastAPI keeps them nested)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, set(route.methods)))
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            found += all_routes(
                route.original_router.routes, prefix + getattr(context, "prefix", "")
            )
    return found


def ids_of(path: str, alice: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _PARAM.findall(path):
        if name == "log_id":
            values[name] = alice["pain_id"] if "/pain/" in path else alice["strength_id"]
        elif name in alice:
            values[name] = alice[name]
        else:
            pytest.fail(f"{path}: map the path parameter {name!r} to one of Alice's ids")
    return values


def _call(
    client: TestClient, method: str, url: str, *, api: bool, auth: dict[str, str], csrf: str
) -> Any:
    if url == "/api/uploads" and method == "POST":
        return client.post(url, files=[("files", ("x.txt", b"not fit"))], headers=auth)
    if api:
        bodies: dict[str, dict[str, Any]] = {
            "/rpe": {"rpe": 5},
            "/logs/strength": {"minutes": 10},
            "/logs/pain": {"area": "knee", "score": 1},
            "/tokens": {"name": "n"},
            "/account/delete": {"password": "not-bobs-password"},
            "/profile": {"units": "km"},
        }
        body = next((b for end, b in bodies.items() if url.endswith(end)), None)
        return client.request(method, url, json=body, headers=auth)
    form = {"csrf_token": csrf, "rpe": "5", "minutes": "10", "area": "knee", "score": "1"}
    form |= {"name": "n", "password": "not-bobs-password", "activity_id": "0"}
    if method == "GET":
        return client.get(url, follow_redirects=False)
    return client.request(method, url, data=form, follow_redirects=False)


def test_no_route_shows_or_changes_another_accounts_data(
    core: App, web: FastAPI, alice: dict[str, Any]
) -> None:
    make_user(core, "bob@example.com")
    bob = new_client(web)
    csrf = sign_in(bob, "bob@example.com")
    token = bob.post("/api/tokens", json={"name": "bob"}, headers={"X-CSRF-Token": csrf}).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    tried = 0
    for path, methods in all_routes(web.routes):
        if path in ANONYMOUS or path in PUBLIC_BY_DESIGN:
            continue
        api = path.startswith("/api/")
        for method in sorted(methods - {"HEAD"}):
            params = ids_of(path, alice)
            url = path.format(**params)
            if path == "/settings/rpe":
                # The activity comes in the form there, not the path.
                response = bob.post(
                    url,
                    data={"csrf_token": csrf, "activity_id": str(alice["activity_id"]), "rpe": "5"},
                )
                assert response.status_code == 404, url
                tried += 1
                continue
            response = _call(bob, method, url, api=api, auth=bearer, csrf=csrf)
            tried += 1
            label = f"{method} {url} -> {response.status_code}"
            if params:
                assert response.status_code in (403, 404), label
            assert response.status_code < 500, label
            assert MARKER not in response.text, label
            if path == "/api/export":
                assert MARKER.encode() not in response.content, label
    assert tried >= 25

    # Alice's data is untouched.
    with core.sessions() as session:
        activity = session.get_one(models.Activity, alice["activity_id"])
        assert activity.rpe is None
        assert session.get(models.StrengthLog, alice["strength_id"]) is not None
        assert session.get(models.PainLog, alice["pain_id"]) is not None
        assert session.get(ApiToken, alice["token_id"]) is not None
        assert session.get(UploadJob, alice["job_id"]) is not None
        names = session.scalars(select(models.Athlete.display_name)).all()
        assert f"{MARKER} name" in names
