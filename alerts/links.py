"""Signed one-click links in digests and nudges: log strength, pain check-in, unsubscribe, mute.

A link carries who it is for, what it does and when it expires, signed with the instance's
secret (itsdangerous, HMAC-SHA1 over a compact JSON payload). Expiry is checked against the
`now` the caller passes, never a hidden clock, so it is testable. The web app serves
``{base_url}/l/{token}``: GET shows a confirmation (or the pain form), POST acts; mail clients
send the RFC 8058 one-click POST to the unsubscribe link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer


class LinkAction(enum.StrEnum):
    LOG_STRENGTH = "log_strength"
    PAIN_CHECKIN = "pain_checkin"
    UNSUBSCRIBE = "unsubscribe"
    MUTE_RULE = "mute_rule"


#: How long each link works. Unsubscribe links must keep working long after the mail arrived.
LIFETIME: dict[LinkAction, timedelta] = {
    LinkAction.LOG_STRENGTH: timedelta(days=14),
    LinkAction.PAIN_CHECKIN: timedelta(days=14),
    LinkAction.UNSUBSCRIBE: timedelta(days=90),
    LinkAction.MUTE_RULE: timedelta(days=30),
}

_SALT = "strideguard.alerts.link.v1"


class LinkError(ValueError):
    """A link that was tampered with, expired or malformed."""


class LinkExpiredError(LinkError):
    """A genuine link past its expiry (the web app answers 410 Gone rather than 400)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClaim:
    athlete_id: int
    action: LinkAction
    rule_id: str | None
    expires_at: datetime


class LinkSigner:
    """Makes and checks the links of one instance (its secret key and public base URL)."""

    def __init__(self, secret_key: str, base_url: str) -> None:
        if len(secret_key) < 16:
            raise ValueError("the link secret must be at least 16 characters")
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)
        self.base_url = base_url.rstrip("/")

    def token(
        self, action: LinkAction, athlete_id: int, *, now: datetime, rule_id: str | None = None
    ) -> str:
        expires = now + LIFETIME[action]
        payload = {"a": athlete_id, "x": action.value, "e": int(expires.timestamp())}
        if rule_id is not None:
            payload["r"] = rule_id
        return str(self._serializer.dumps(payload))

    def url(
        self, action: LinkAction, athlete_id: int, *, now: datetime, rule_id: str | None = None
    ) -> str:
        return f"{self.base_url}/l/{self.token(action, athlete_id, now=now, rule_id=rule_id)}"

    def verify(self, token: str, *, now: datetime) -> LinkClaim:
        """The claim of a genuine, unexpired token; LinkError otherwise."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature as exc:
            raise LinkError("this link is not valid (it may have been altered)") from exc
        try:
            action = LinkAction(payload["x"])
            athlete_id = int(payload["a"])
            expires = datetime.fromtimestamp(int(payload["e"]), tz=now.tzinfo)
            rule_id = payload.get("r")
        except (KeyError, TypeError, ValueError) as exc:
            raise LinkError("this link is malformed") from exc
        if now >= expires:
            raise LinkExpiredError("this link has expired")
        return LinkClaim(
            athlete_id=athlete_id,
            action=action,
            rule_id=str(rule_id) if rule_id is not None else None,
            expires_at=expires,
        )
