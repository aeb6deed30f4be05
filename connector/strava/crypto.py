"""Strava tokens encrypted at rest with MultiFernet: the first key encrypts, every key decrypts.

Rotation: put a new key first in ``STRIDEGUARD_STRAVA_TOKEN_KEYS`` (keep the old ones after it),
run `rotate_tokens` (``strideguard keys rotate``), then drop the old keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connector.strava.errors import StravaError, StravaNotConfiguredError
from store.strava import StravaLink


class TokenDecryptError(StravaError):
    """A stored token does not decrypt with any configured key (key removed too early?)."""


class TokenCipher:
    """Encrypts and decrypts token strings; never logs or returns them in errors."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        cleaned = [k.strip() if isinstance(k, str) else k for k in keys]
        cleaned = [k for k in cleaned if k]
        if not cleaned:
            raise StravaNotConfiguredError(
                "no token key: set STRIDEGUARD_STRAVA_TOKEN_KEYS "
                "(generate one with `strideguard keys generate`)"
            )
        try:
            self._fernet = MultiFernet([Fernet(k) for k in cleaned])
        except ValueError as exc:
            raise StravaNotConfiguredError(
                "STRIDEGUARD_STRAVA_TOKEN_KEYS holds a malformed key (32 url-safe base64 bytes)"
            ) from exc

    @classmethod
    def from_setting(cls, value: str | None) -> TokenCipher:
        """From the comma-separated setting."""
        return cls((value or "").split(","))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def decrypt(self, token_enc: str) -> str:
        try:
            return self._fernet.decrypt(token_enc.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise TokenDecryptError("a stored Strava token does not decrypt with any key") from exc

    def rotate(self, token_enc: str) -> str:
        """Re-encrypt under the first key (decrypts with any key)."""
        try:
            return self._fernet.rotate(token_enc.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise TokenDecryptError("a stored Strava token does not decrypt with any key") from exc


def rotate_tokens(sessions: sessionmaker[Session], cipher: TokenCipher) -> int:
    """Re-encrypt every stored token with the first key; returns the number of links."""
    with sessions.begin() as session:
        links = session.scalars(select(StravaLink).with_for_update()).all()
        for link in links:
            link.access_token_enc = cipher.rotate(link.access_token_enc)
            link.refresh_token_enc = cipher.rotate(link.refresh_token_enc)
        return len(links)
