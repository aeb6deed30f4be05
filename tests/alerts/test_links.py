"""Signed one-click links: genuine ones work, tampered or expired ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.links import LIFETIME, LinkAction, LinkError, LinkSigner

from .conftest import SECRET

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def test_round_trip_for_every_action() -> None:
    signer = LinkSigner(SECRET, "https://sg.test/")
    for action in LinkAction:
        token = signer.token(action, 42, now=NOW, rule_id="monotony")
        claim = signer.verify(token, now=NOW + timedelta(days=1))
        assert (claim.athlete_id, claim.action, claim.rule_id) == (42, action, "monotony")
    assert signer.url(LinkAction.UNSUBSCRIBE, 1, now=NOW).startswith("https://sg.test/l/")


def test_tampering_is_rejected() -> None:
    signer = LinkSigner(SECRET, "https://sg.test")
    token = signer.token(LinkAction.MUTE_RULE, 42, now=NOW, rule_id="monotony")
    payload, sig = token.rsplit(".", 1)
    forged = LinkSigner("another-secret-0123456789", "https://sg.test").token(
        LinkAction.MUTE_RULE, 43, now=NOW, rule_id="monotony"
    )
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{flipped}.{sig}", f"{payload}.{sig[:-1]}x", forged, "garbage", ""):
        with pytest.raises(LinkError):
            signer.verify(bad, now=NOW)
    # Someone else's payload with this token's signature.
    other = signer.token(LinkAction.MUTE_RULE, 43, now=NOW, rule_id="monotony")
    with pytest.raises(LinkError):
        signer.verify(f"{other.rsplit('.', 1)[0]}.{sig}", now=NOW)


def test_expiry_is_rejected() -> None:
    signer = LinkSigner(SECRET, "https://sg.test")
    token = signer.token(LinkAction.PAIN_CHECKIN, 7, now=NOW)
    life = LIFETIME[LinkAction.PAIN_CHECKIN]
    assert signer.verify(token, now=NOW + life - timedelta(seconds=1)).athlete_id == 7
    with pytest.raises(LinkError, match="expired"):
        signer.verify(token, now=NOW + life)


def test_short_secret_refused() -> None:
    with pytest.raises(ValueError, match="16"):
        LinkSigner("short", "https://sg.test")
