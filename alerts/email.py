"""E-mail: a text + HTML `EmailMessage` with a deterministic Message-ID, sent over SMTP.

The Message-ID comes from the delivery key, so a digest re-sent after a crash (digests are
at-least-once) carries the same id and mail software can fold the duplicate. List-Unsubscribe
with List-Unsubscribe-Post gives one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """Where and how to send (from the operator's settings)."""

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    """Upgrade a plain connection with STARTTLS (port 587)."""
    tls: bool = False
    """Implicit TLS from the first byte (port 465); overrides `starttls`."""
    mail_from: str = "Strideguard <strideguard@localhost>"
    timeout_s: float = 30.0
    ssl_context: ssl.SSLContext | None = None
    """None: the system's default verification (a test can pass its own)."""


class SendError(Exception):
    """The message was not accepted; `permanent` when retrying cannot help (5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def message_id(delivery_key: str, domain: str) -> str:
    """<hash@domain>: the same key always gives the same id."""
    digest = hashlib.sha256(delivery_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(
    *,
    config: SmtpConfig,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    delivery_key: str,
    unsubscribe_url: str | None,
    date: datetime,
) -> EmailMessage:
    # RFC 5322 allows 998-character lines; the default 78 would RFC 2047-encode the long
    # List-Unsubscribe URL, which mail clients then fail to recognise.
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
    msg["From"] = config.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    domain = config.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"
    msg["Message-ID"] = message_id(delivery_key, domain)
    msg["X-Strideguard-Delivery"] = delivery_key
    msg["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(config: SmtpConfig, msg: EmailMessage) -> None:
    """Hand the message to the SMTP server; SendError on any failure."""
    context = config.ssl_context or ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if config.tls:
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        with smtp:
            if not config.tls and config.starttls:
                smtp.starttls(context=context)
            if config.user:
                smtp.login(config.user, config.password or "")
            refused = smtp.send_message(msg)
        if refused:
            raise SendError(f"recipients refused: {sorted(refused)}", permanent=True)
    except smtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.smtp_code < 600
        raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=permanent) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"recipients refused: {sorted(exc.recipients)}", permanent=True) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
