"""Real servers for the alert tests: an aiosmtpd SMTP server and an HTTP sink for json://."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from alerts.dispatch import DispatchConfig
from alerts.email import SmtpConfig
from alerts.links import LinkSigner
from store.models import Athlete
from store.notifications import NotificationSettings

SECRET = "test-secret-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collect:
    def __init__(self, inbox: list[Message]) -> None:
        self.inbox = inbox
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.inbox.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real SMTP server on loopback that can be stopped and started again on its port."""

    port: int = field(default_factory=free_port)
    inbox: list[Message] = field(default_factory=list)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(_Collect(self.inbox), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def config(self) -> SmtpConfig:
        return SmtpConfig(
            host="127.0.0.1",
            port=self.port,
            starttls=False,
            mail_from="Strideguard <alerts@strideguard.test>",
            timeout_s=5,
        )

    def keys(self) -> list[str]:
        return [str(m["X-Strideguard-Delivery"]) for m in self.inbox]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@dataclass
class HttpSink:
    """A real HTTP server receiving apprise's json:// posts."""

    server: ThreadingHTTPServer
    received: list[dict[str, Any]]

    def url(self, path: str = "push") -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/{path}"


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                received.append({"path": self.path, **json.loads(body)})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HttpSink(server, received)
    server.shutdown()
    server.server_close()
    thread.join()


def signer() -> LinkSigner:
    return LinkSigner(SECRET, "https://strideguard.test")


def dispatch_config(smtp: SmtpConfig | None) -> DispatchConfig:
    return DispatchConfig(signer=signer(), smtp=smtp)


def add_athlete(
    sessions: sessionmaker[Session],
    handle: str,
    tz: str,
    *,
    email: str | None = None,
    push: list[str] | None = None,
    digest_time: time = time(7, 0),
    digest_weekday: int = 0,
) -> int:
    with sessions.begin() as session:
        athlete = Athlete(
            handle=handle,
            display_name=handle.title(),
            time_zone=tz,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(athlete)
        session.flush()
        session.add(
            NotificationSettings(
                athlete_id=athlete.id,
                email=email,
                push_urls=push or [],
                digest_time=digest_time,
                digest_weekday=digest_weekday,
            )
        )
        return athlete.id
