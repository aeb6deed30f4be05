"""Fixtures for the web tests: an app over a fresh database, accounts and signed-in clients."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from strideguard.app import App
from strideguard.settings import Settings
from strideguard.web.app import create_app
from strideguard.web.auth import create_user

with warnings.catch_warnings():
    # Starlette nudges towards httpx2; the test client itself works unchanged.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

RUN = "dtcooper__python-fitparse__garmin-fenix-5-run.fit"
RUN_2 = "thomaschampagne__elevate__kaiteriteri.fit"
PASSWORD = "correct horse battery"

_CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def core(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = App(
        Settings(
            data_dir=tmp_path / "data",
            database_url=db_url,
            import_workers=1,
            secret_key="test-secret-key",
            max_upload_mb=2,
        )
    )
    yield app
    app.close()


@pytest.fixture
def web(core: App) -> FastAPI:
    return create_app(core)


@pytest.fixture
def client(web: FastAPI) -> Iterator[TestClient]:
    with TestClient(web) as c:
        yield c


def new_client(web: FastAPI) -> TestClient:
    return TestClient(web)


def make_user(core: App, email: str, password: str = PASSWORD) -> tuple[int, int]:
    """(user id, athlete id) of a new account."""
    with core.sessions.begin() as session:
        user = create_user(session, email=email, password=password)
        return user.id, user.athlete_id


def anon_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = _CSRF_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    token = anon_token(client)
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/settings")
    match = _CSRF_META.search(page.text)
    assert match, page.text
    return match.group(1)


def upload(
    client: TestClient, files: list[tuple[str, bytes]], csrf: str | None = None
) -> dict[str, Any]:
    """POST the files and wait for the job to finish; returns the final job."""
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    response = client.post(
        "/api/uploads",
        files=[("files", (name, data)) for name, data in files],
        headers=headers,
    )
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["id"])


def wait_job(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/uploads/{job_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)
