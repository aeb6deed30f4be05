"""What the Strava connector raises; each says what the caller should do next."""

from __future__ import annotations

from datetime import datetime

from connector.errors import ConnectorError


class StravaError(ConnectorError):
    """Base of every Strava connector error."""


class StravaNotConfiguredError(StravaError):
    """Client id, secret or token keys are missing from the settings."""


class RateLimitedError(StravaError):
    """No request may go to Strava before ``retry_at`` (budget spent, or Strava answered 429)."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class AppInactiveError(StravaError):
    """Strava answered 403 "Application Inactive": the operator must reactivate the app."""


class LinkMissingError(StravaError):
    """The athlete has no usable Strava link."""


class LinkBrokenError(StravaError):
    """Strava refused the athlete's tokens even after a refresh: they must connect again."""


class NotFoundError(StravaError):
    """The object is gone at Strava (deleted, or made private without activity:read_all)."""


class UnavailableError(StravaError):
    """Strava kept failing (5xx, timeouts) after the retries."""


class ClientRequestError(StravaError):
    """Strava rejected a request (another 4xx): a bug or a changed API, not worth retrying."""


class OAuthError(StravaError):
    """Linking failed; the message is written for the athlete."""
