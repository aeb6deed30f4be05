"""The signed links of e-mails and pushes: confirm on GET, act on POST, refuse bad links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alerts.links import LinkAction
from analysis.rules import RULE_IDS
from store import models
from store.notifications import NotificationSettings
from strideguard.app import App
from strideguard.cli_alerts import link_signer
from strideguard.settings import Settings
from tests.web.conftest import TestClient, make_user, new_client

LINK_SECRET = "test-secret-key-long-enough-for-links"


@pytest.fixture
def core(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = App(Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=LINK_SECRET))
    yield app
    app.close()


_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def _link(core: App, action: LinkAction, athlete_id: int, **kw: object) -> str:
    token = link_signer(core).token(action, athlete_id, now=datetime.now(UTC), **kw)  # type: ignore[arg-type]
    return f"/l/{token}"


def _confirm(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    match = _FORM_TOKEN.search(page.text)
    assert match, page.text
    return match.group(1)


def test_strength_link_confirms_on_get_and_logs_on_post(core: App, web: FastAPI) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)  # not signed in: the link is the credential
    url = _link(core, LinkAction.LOG_STRENGTH, athlete_id)
    form_token = _confirm(client, url)
    with core.sessions() as session:  # GET changed nothing (mail scanners fetch links)
        assert session.scalars(select(models.StrengthLog)).all() == []

    done = client.post(url, data={"form_token": form_token, "minutes": "25"})
    assert done.status_code == 200, done.text
    assert "Logged a 25-minute strength session" in done.text
    with core.sessions() as session:
        row = session.scalars(select(models.StrengthLog)).one()
        assert (row.athlete_id, row.minutes) == (athlete_id, 25)
        assert row.local_date == datetime.now(UTC).date()


def test_pain_checkin_and_mute(core: App, web: FastAPI) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    pain = _link(core, LinkAction.PAIN_CHECKIN, athlete_id)
    page = client.get(pain)
    assert 'name="area"' in page.text
    token = _confirm(client, pain)
    bad = client.post(pain, data={"form_token": token, "area": "elbow", "score": "3"})
    assert bad.status_code == 422
    ok = client.post(pain, data={"form_token": token, "area": "knee", "score": "5"})
    assert ok.status_code == 200, ok.text
    assert "physiotherapist" in ok.text

    rule = RULE_IDS[0]
    mute = _link(core, LinkAction.MUTE_RULE, athlete_id, rule_id=rule)
    done = client.post(mute, data={"form_token": _confirm(client, mute)})
    assert done.status_code == 200, done.text
    with core.sessions() as session:
        log = session.scalars(select(models.PainLog)).one()
        assert (log.area, log.score) == ("knee", 5)
        assert session.get_one(models.Athlete, athlete_id).muted_rules == [rule]


def test_post_needs_the_form_token_of_this_very_link(core: App, web: FastAPI) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    strength = _link(core, LinkAction.LOG_STRENGTH, athlete_id)
    other = _link(core, LinkAction.MUTE_RULE, athlete_id, rule_id=RULE_IDS[0])
    assert client.post(strength, data={"minutes": "20"}).status_code == 403
    assert client.post(strength, data={"form_token": "forged", "minutes": "20"}).status_code == 403
    foreign = _confirm(client, other)
    refused = client.post(strength, data={"form_token": foreign, "minutes": "20"})
    assert refused.status_code == 403
    assert "confirm" in refused.text
    # The one-click body only unsubscribes: it is no way around the form token.
    one_click = client.post(strength, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 403
    with core.sessions() as session:
        assert session.scalars(select(models.StrengthLog)).all() == []


def test_tampered_and_expired_links_get_a_clear_page(core: App, web: FastAPI) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    url = _link(core, LinkAction.UNSUBSCRIBE, athlete_id)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for method in ("GET", "POST"):
        response = client.request(method, tampered, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 400, response.text
        assert "This link is not valid" in response.text
        assert "Traceback" not in response.text

    old = link_signer(core).token(
        LinkAction.LOG_STRENGTH, athlete_id, now=datetime.now(UTC) - timedelta(days=15)
    )
    expired = client.get(f"/l/{old}")
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    assert client.post(f"/l/{old}", data={"form_token": "x"}).status_code == 410
    assert client.get("/l/" + "x" * 3000).status_code == 422  # bounded, not a crash


def test_one_click_unsubscribe_rfc8058(core: App, web: FastAPI) -> None:
    _user, athlete_id = make_user(core, "runner@example.com")
    with core.sessions.begin() as session:
        session.add(NotificationSettings(athlete_id=athlete_id, email="r@example.com"))
    client = new_client(web)
    url = _link(core, LinkAction.UNSUBSCRIBE, athlete_id)
    response = client.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    with core.sessions() as session:
        row = session.get_one(NotificationSettings, athlete_id)
        assert row.unsubscribed_at is not None
    # The confirmation page works too, and unsubscribing twice is harmless.
    again = client.post(url, data={"form_token": _confirm(client, url)})
    assert again.status_code == 200
    assert "unsubscribed" in again.text
