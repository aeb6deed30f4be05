"""The Strava connector: OAuth link, backfill, webhook, rate budget (DESIGN.md section 3).

Surface for the app shell and the web layer (nothing here imports `strideguard`):

* `StravaServices.create(sessions, config)` builds the client, budget and OAuth helper.
* `webhook.make_webhook_router(...)` -> mount with ``app.include_router``
  (``GET``/``POST /strava/webhook``).
* `oauth.StravaOAuth.start / complete / disconnect` for "Connect with Strava" and its callback.
* `webhook.process_events`, `sync.sync_all`, `retention.purge_raw` for the scheduler / CLI,
  each taking an ``on_changed(session, athlete_id)`` callback that runs the analysis.
  `sync.sync_all` / `webhook.process_events` also take ``streams=streams.HeartRateStreams()``
  to fetch HR streams with spare (bulk) budget after the listing / the events; off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from connector.strava.budget import RateBudget
from connector.strava.client import StravaClient, StravaCredentials
from connector.strava.crypto import TokenCipher
from connector.strava.errors import StravaNotConfiguredError
from connector.strava.oauth import StravaOAuth

__all__ = ["StravaConfig", "StravaServices"]


@dataclass(frozen=True, slots=True)
class StravaConfig:
    """What the connector needs from the settings (the app shell fills it in)."""

    client_id: int | None
    client_secret: str | None
    verify_token: str | None
    token_keys: str | None
    redirect_uri: str = ""
    backfill_days: int = 90
    retention_days: int = 7


@dataclass(frozen=True, slots=True)
class StravaServices:
    config: StravaConfig
    budget: RateBudget
    cipher: TokenCipher
    client: StravaClient
    oauth: StravaOAuth

    @classmethod
    def create(
        cls,
        sessions: sessionmaker[Session],
        config: StravaConfig,
        *,
        http: httpx.Client | None = None,
    ) -> StravaServices:
        """Raises `StravaNotConfiguredError` naming what is missing."""
        missing = [
            name
            for name, value in (
                ("STRIDEGUARD_STRAVA_CLIENT_ID", config.client_id),
                ("STRIDEGUARD_STRAVA_CLIENT_SECRET", config.client_secret),
                ("STRIDEGUARD_STRAVA_TOKEN_KEYS", config.token_keys),
            )
            if not value
        ]
        if missing:
            raise StravaNotConfiguredError("Strava is not configured: set " + ", ".join(missing))
        if config.client_id is None or config.client_secret is None:  # for the type checker
            raise StravaNotConfiguredError("Strava is not configured")
        budget = RateBudget(sessions)
        cipher = TokenCipher.from_setting(config.token_keys)
        client = StravaClient(
            sessions,
            StravaCredentials(config.client_id, config.client_secret),
            cipher,
            budget,
            http=http,
        )
        oauth = StravaOAuth(sessions, client, cipher, redirect_uri=config.redirect_uri)
        return cls(config, budget, cipher, client, oauth)
