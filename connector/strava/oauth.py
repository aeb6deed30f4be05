"""Linking and unlinking a Strava account (the web pages call these; they hold no HTML).

``start`` makes a single-use ``state`` bound to the athlete and to the signed-in web session
(``binding``: any stable secret-ish id of that session; only its hash is stored). ``complete``
checks the state, exchanges the code, stores the encrypted tokens and the scopes the athlete
actually granted (the redirect's ``scope``), and explains a missing scope or a refusal in words
meant for the athlete. ``disconnect`` revokes at Strava and deletes the Strava-derived data.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from stravalib.protocol import Scope

from connector.strava.client import StravaClient
from connector.strava.crypto import TokenCipher
from connector.strava.errors import OAuthError, StravaError
from connector.strava.sync import delete_strava_data
from store.strava import LinkStatus, StravaLink, StravaOAuthState

__all__ = ["SCOPES", "LinkResult", "StravaOAuth"]

log = logging.getLogger(__name__)

SCOPES: tuple[Scope, ...] = ("read", "activity:read_all")
STATE_TTL = timedelta(minutes=15)

DENIED = (
    "Strava access was not granted, so nothing was linked. "
    "Use “Connect with Strava” again whenever you like."
)
NO_ACTIVITIES = (
    "Strava was linked without permission to read your activities, which Strideguard needs. "
    "Connect again and leave “View data about your activities” ticked."
)
NO_PRIVATE = (
    "Strava is linked, but without “View data about your private activities”: activities "
    "you keep private (or “Only You”) will be missing from your training load. Connect "
    "again with that box ticked to include them."
)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkResult:
    athlete_id: int
    strava_athlete_id: int
    scopes: list[str]
    warnings: list[str] = field(default_factory=list)
    """Messages for the athlete (e.g. private activities not included)."""


class StravaOAuth:
    """The OAuth dance; the web layer only renders and redirects."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: StravaClient,
        cipher: TokenCipher,
        *,
        redirect_uri: str,
        scopes: tuple[Scope, ...] = SCOPES,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._cipher = cipher
        self.redirect_uri = redirect_uri
        self.scopes = scopes

    def start(self, athlete_id: int, *, binding: str, now: datetime | None = None) -> str:
        """The Strava authorization URL, with a fresh single-use state."""
        now = now or datetime.now(UTC)
        state = secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            session.execute(delete(StravaOAuthState).where(StravaOAuthState.expires_at < now))
            session.add(
                StravaOAuthState(
                    state_hash=_hash(state),
                    athlete_id=athlete_id,
                    binding_hash=_hash(binding),
                    created_at=now,
                    expires_at=now + STATE_TTL,
                )
            )
        return self._client.authorization_url(self.redirect_uri, self.scopes, state)

    def complete(
        self,
        athlete_id: int,
        *,
        binding: str,
        state: str | None,
        code: str | None,
        scope: str | None,
        error: str | None = None,
        now: datetime | None = None,
    ) -> LinkResult:
        """Handle the redirect back from Strava. Raises `OAuthError` with a message to show."""
        now = now or datetime.now(UTC)
        with self._sessions.begin() as session:
            row = (
                session.scalar(
                    select(StravaOAuthState).where(StravaOAuthState.state_hash == _hash(state))
                )
                if state
                else None
            )
            if row is not None:
                session.delete(row)  # single use, whatever happens next
            valid = (
                row is not None
                and row.athlete_id == athlete_id
                and secrets.compare_digest(row.binding_hash, _hash(binding))
                and row.expires_at >= now
            )
        if not valid:
            raise OAuthError(
                "This Strava sign-in link has expired or was already used. Please start again."
            )
        if error:
            raise OAuthError(DENIED)
        granted = sorted({s.strip() for s in (scope or "").split(",") if s.strip()})
        if not {"activity:read", "activity:read_all"} & set(granted):
            raise OAuthError(NO_ACTIVITIES)
        if not code:
            raise OAuthError("Strava did not send an authorization code. Please start again.")
        try:
            grant = self._client.exchange_code(code)
        except StravaError as exc:
            log.warning("Strava code exchange failed: %s", exc)
            raise OAuthError("Strava did not accept the sign-in. Please try again.") from exc
        if grant.strava_athlete_id is None:
            raise OAuthError("Strava did not say which account was linked. Please try again.")
        with self._sessions.begin() as session:
            other = session.scalar(
                select(StravaLink).where(
                    StravaLink.strava_athlete_id == grant.strava_athlete_id,
                    StravaLink.athlete_id != athlete_id,
                )
            )
            if other is not None:
                raise OAuthError(
                    "This Strava account is already linked to another Strideguard athlete."
                )
            link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == athlete_id))
            if link is not None and link.strava_athlete_id != grant.strava_athlete_id:
                # Another Strava account than before: its data must not mix with the old one.
                delete_strava_data(session, athlete_id)
                link = None
            if link is None:
                link = StravaLink(athlete_id=athlete_id, strava_athlete_id=grant.strava_athlete_id)
                session.add(link)
            link.access_token_enc = self._cipher.encrypt(grant.access_token)
            link.refresh_token_enc = self._cipher.encrypt(grant.refresh_token)
            link.expires_at = grant.expires_at
            link.scopes = granted
            link.status = LinkStatus.OK
            link.error = None
        warnings = [] if "activity:read_all" in granted else [NO_PRIVATE]
        return LinkResult(athlete_id, grant.strava_athlete_id, granted, warnings)

    def disconnect(self, athlete_id: int) -> bool:
        """Revoke at Strava and delete the Strava data. False: Strava could not be told yet.

        The data is deleted either way; if the revoke call failed, the link row stays as
        ``revoked`` (tokens only) so `retry_revocations` can tell Strava later.
        """
        try:
            self._client.deauthorize(athlete_id)
            revoked = True
        except StravaError as exc:
            log.warning("deauthorize at Strava failed for athlete %s: %s", athlete_id, exc)
            revoked = False
        with self._sessions.begin() as session:
            delete_strava_data(session, athlete_id, keep_link=not revoked)
        return revoked

    def retry_revocations(self) -> int:
        """Tell Strava about disconnects that failed earlier; returns how many succeeded."""
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(StravaLink.athlete_id).where(StravaLink.status == LinkStatus.REVOKED)
                )
            )
        done = 0
        for athlete_id in ids:
            with self._sessions.begin() as session:
                link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == athlete_id))
                if link is None:
                    continue
                link.status = LinkStatus.OK  # the client only sends for usable links
            try:
                self._client.deauthorize(athlete_id)
            except StravaError as exc:
                log.warning("deauthorize retry failed for athlete %s: %s", athlete_id, exc)
                with self._sessions.begin() as session:
                    link = session.scalar(
                        select(StravaLink).where(StravaLink.athlete_id == athlete_id)
                    )
                    if link is not None:
                        link.status = LinkStatus.REVOKED
                continue
            with self._sessions.begin() as session:
                delete_strava_data(session, athlete_id)
            done += 1
        return done
