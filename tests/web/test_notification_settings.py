"""Notification settings in the web settings: saving, a test over real SMTP, recent deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from store.notifications import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    NotificationSettings,
)
from strideguard.app import App
from strideguard.settings import Settings
from tests.alerts.conftest import SmtpServer, smtp_server
from tests.web.conftest import TestClient, make_user, new_client, sign_in

__all__ = ["smtp_server"]  # the fixture, re-used from the alert tests

FORM: dict[str, Any] = {
    "email": "Runner@Example.com",
    "email_enabled": "on",
    "push_urls": "",
    "push_enabled": "on",
    "digest_enabled": "on",
    "digest_weekday": "6",
    "digest_time": "19:30",
    "strength_nudge_enabled": "on",
    "strength_nudge_weekday": "2",
    "strength_nudge_time": "12:15",
    "quiet_start": "22:00",
    "quiet_end": "06:30",
}


@pytest.fixture
def core(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> Iterator[App]:
    app = App(
        Settings(
            data_dir=tmp_path / "data",
            database_url=db_url,
            secret_key="test-secret-key-long-enough-for-links",
            smtp_host="127.0.0.1",
            smtp_port=smtp_server.port,
            smtp_starttls=False,
            mail_from="Strideguard <alerts@strideguard.test>",
            base_url="https://sg.example",
        )
    )
    yield app
    app.close()


@pytest.fixture
def signed_in(core: App, web: FastAPI) -> tuple[TestClient, str, int]:
    _user, athlete_id = make_user(core, "runner@example.com")
    client = new_client(web)
    return client, sign_in(client, "runner@example.com"), athlete_id


def test_defaults_shown_then_saved(core: App, signed_in: tuple[TestClient, str, int]) -> None:
    client, csrf, athlete_id = signed_in
    page = client.get("/settings").text
    assert 'id="notifications-form"' in page
    assert 'name="digest_time" value="07:00"' in page
    assert "No messages yet." in page

    assert client.post("/settings/notifications", data=FORM).status_code == 403  # CSRF
    saved = client.post(
        "/settings/notifications", data=FORM | {"csrf_token": csrf}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    with core.sessions() as session:
        row = session.get_one(NotificationSettings, athlete_id)
        assert row.email == "runner@example.com"
        assert (row.digest_weekday, row.digest_time) == (6, time(19, 30))
        assert (row.strength_nudge_weekday, row.strength_nudge_time) == (2, time(12, 15))
        assert (row.quiet_start, row.quiet_end) == (time(22, 0), time(6, 30))
        assert row.email_enabled
        assert row.push_enabled
        assert row.digest_enabled
        assert not row.spike_nudge_enabled  # unticked boxes are off
    page = client.get("/settings?saved=notifications").text
    assert "Notification settings saved." in page
    assert 'name="digest_time" value="19:30"' in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"push_urls": "nonsense://x"}, "push URLs are not understood"),
        ({"digest_time": "25:00"}, "The digest time must be a time"),
        ({"email": "not-an-address"}, "valid e-mail address"),
        ({"digest_weekday": "9"}, "Choose the digest day"),
    ],
)
def test_invalid_values_are_explained(
    core: App, signed_in: tuple[TestClient, str, int], change: dict[str, str], message: str
) -> None:
    client, csrf, athlete_id = signed_in
    response = client.post("/settings/notifications", data=FORM | change | {"csrf_token": csrf})
    assert response.status_code == 422
    assert message in response.text
    with core.sessions() as session:
        assert session.get(NotificationSettings, athlete_id) is None


def test_send_a_test_reaches_a_real_smtp_server(
    core: App, signed_in: tuple[TestClient, str, int], smtp_server: SmtpServer
) -> None:
    client, csrf, _athlete_id = signed_in
    nothing = client.post("/settings/notifications/test", data={"csrf_token": csrf})
    assert nothing.status_code == 422
    assert "Add an e-mail address or a push URL first" in nothing.text

    client.post("/settings/notifications", data=FORM | {"csrf_token": csrf})
    sent = client.post("/settings/notifications/test", data={"csrf_token": csrf})
    assert sent.status_code == 200, sent.text
    assert "Test sent" in sent.text
    assert "e-mail: sent" in sent.text
    assert len(smtp_server.inbox) == 1
    message = smtp_server.inbox[0]
    assert message["To"] == "runner@example.com"
    assert message["Subject"] == "Strideguard test message"
    # Decoded: the long header is folded as RFC 2047 words on the wire (alerts.email's policy).
    unsubscribe = str(make_header(decode_header(str(message["List-Unsubscribe"]))))
    assert unsubscribe.startswith("<https://sg.example/l/")

    smtp_server.stop()  # the failure is shown, not a 500
    failed = client.post("/settings/notifications/test", data={"csrf_token": csrf})
    assert failed.status_code == 200
    assert "e-mail: failed" in failed.text


def test_recent_deliveries_and_opting_back_in(
    core: App, signed_in: tuple[TestClient, str, int]
) -> None:
    client, csrf, athlete_id = signed_in
    now = datetime.now(UTC)
    with core.sessions.begin() as session:
        session.add(
            NotificationSettings(athlete_id=athlete_id, email="r@example.com", unsubscribed_at=now)
        )
        session.add(
            Delivery(
                athlete_id=athlete_id,
                kind=DeliveryKind.DIGEST,
                period="2026-W47",
                channel=Channel.EMAIL,
                status=DeliveryStatus.FAILED,
                due_at=now,
                expires_at=now + timedelta(days=3),
                attempts=5,
                next_attempt_at=now,
                last_error="SMTP refused: 550 mailbox unavailable",
            )
        )
    page = client.get("/settings").text
    assert "2026-W47" in page
    assert "550 mailbox unavailable" in page
    assert "You unsubscribed from e-mail" in page
    assert 'name="email_enabled" checked' not in page

    client.post("/settings/notifications", data=FORM | {"csrf_token": csrf})
    with core.sessions() as session:
        row = session.get_one(NotificationSettings, athlete_id)
        assert row.unsubscribed_at is None
        assert row.email_enabled
