"""A small adapter over stravalib's protocol layer: tokens from the database, one shared budget.

Why not `stravalib.Client` as is: its automatic refresh reads the app credentials from the
environment and keeps rotated tokens in memory only, and its default limiter sleeps up to
15 minutes inside a call. Here stravalib's `ApiV3` does the HTTP, URL and error work, while:

* tokens are read from `strava_links` (encrypted), refreshed `refresh_margin` before they expire
  under a per-athlete lock (a thread lock plus the link row's database lock, so two processes
  never spend the same rotating refresh token), and the new refresh token is committed at once;
* every request first asks the app-wide `RateBudget`, and every response updates it; nothing
  sleeps waiting for a window;
* HTTP goes through an injectable `httpx.Client` (a `MockTransport` in tests), with timeouts.

Failure semantics (what callers see):

* 401: refresh once and retry once; a second 401 (or a refused refresh) marks the link
  ``broken`` with a message for the athlete and raises `LinkBrokenError`.
* 429: the budget is blocked until the window resets; `RateLimitedError.retry_at` says when.
* 403 "Application Inactive": recorded as the app status (operator-visible), `AppInactiveError`.
* 5xx, timeouts, connection errors: retried with exponential backoff (stamina), then
  `UnavailableError`.
* 404: `NotFoundError`; other 4xx: `ClientRequestError` (not retried).
* An activity page stravalib's models cannot validate is returned as the raw JSON, flagged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import stamina
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from stravalib import exc as strava_exc
from stravalib import model as strava_model
from stravalib.protocol import ApiV3, Scope

from connector.strava.budget import Clock, Priority, RateBudget, utc_now
from connector.strava.crypto import TokenCipher
from connector.strava.errors import (
    AppInactiveError,
    ClientRequestError,
    LinkBrokenError,
    LinkMissingError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
)
from store.strava import LinkStatus, StravaLink

__all__ = ["ActivityPage", "StravaClient", "StravaCredentials", "TokenGrant"]

log = logging.getLogger(__name__)

T = TypeVar("T")

STRAVA_WEB = "https://www.strava.com"
DEAUTHORIZE_URL = f"{STRAVA_WEB}/oauth/deauthorize"
BROKEN_MESSAGE = (
    "Strava no longer accepts Strideguard's access to your account. "
    "Connect Strava again to resume syncing."
)


@dataclass(frozen=True, slots=True)
class StravaCredentials:
    """The Strava API application (one per Strideguard instance)."""

    client_id: int
    client_secret: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a code exchange or a refresh returned."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    strava_athlete_id: int | None = None
    athlete: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ActivityPage:
    """One page of the activity list, newest first, as Strava sent it."""

    items: list[dict[str, Any]]
    validated: bool
    """False when stravalib's models rejected the page (e.g. an unknown sport type)."""


class _TransientError(Exception):
    """5xx, timeout or connection failure: worth another attempt."""


class _Response:
    """The slice of `requests.Response` stravalib reads, over an `httpx.Response`."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.reason = response.reason_phrase
        self.request = None
        self.text = response.text

    def json(self) -> Any:
        return self._response.json()


class _HttpxSession:
    """The slice of `requests.Session` stravalib calls, over `httpx` (timeouts; mockable)."""

    def __init__(self, http: httpx.Client, on_response: Callable[[str, httpx.Response], None]):
        self._http = http
        self._on_response = on_response

    def _send(self, method: str, url: str, **kwargs: Any) -> _Response:
        params = {k: v for k, v in (kwargs.get("params") or {}).items() if v is not None}
        files = kwargs.get("files")
        response = self._http.request(
            method,
            url,
            params=params,
            data=kwargs.get("data"),
            json=kwargs.get("json"),
            files=files,
            headers=kwargs.get("headers"),
        )
        self._on_response(url, response)
        return _Response(response)

    def get(self, url: str, **kwargs: Any) -> _Response:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> _Response:
        return self._send("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> _Response:
        return self._send("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> _Response:
        return self._send("DELETE", url, **kwargs)


class _Api(ApiV3):
    """stravalib's protocol without its environment-driven automatic refresh (we refresh)."""

    def _check_credentials(self) -> None:
        self.client_id = None
        self.client_secret = None


class StravaClient:
    """Strava API calls on behalf of linked athletes; one instance per process is enough."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        credentials: StravaCredentials,
        cipher: TokenCipher,
        budget: RateBudget,
        *,
        http: httpx.Client | None = None,
        clock: Clock = utc_now,
        refresh_margin: timedelta = timedelta(minutes=10),
        retry_attempts: int = 3,
        retry_wait: float = 0.5,
        timeout: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self.credentials = credentials
        self._cipher = cipher
        self.budget = budget
        self._http = http or httpx.Client(timeout=timeout)
        self._clock = clock
        self._margin = refresh_margin
        self._attempts = max(1, retry_attempts)
        self._wait = retry_wait
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.requests_sent = 0
        """Counted for the benchmark: every HTTP request this client made."""

    # -- plumbing ---------------------------------------------------------------------------

    def _api(self, access_token: str | None, blocked: list[datetime] | None = None) -> _Api:
        def on_response(url: str, response: httpx.Response) -> None:
            self.requests_sent += 1
            if "/oauth/" in url:
                return  # OAuth endpoints do not count against the API limits
            until = self.budget.record(response.headers, status=response.status_code)
            if until is not None and blocked is not None:
                blocked.append(until)

        return _Api(
            access_token=access_token,
            requests_session=_HttpxSession(self._http, on_response),  # type: ignore[arg-type]
        )

    def _retrying(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; transient failures are retried with backoff, then `UnavailableError`."""
        try:
            for attempt in stamina.retry_context(
                on=_TransientError,
                attempts=self._attempts,
                wait_initial=self._wait,
                wait_jitter=self._wait,
                wait_max=max(self._wait * 8, 0.0),
            ):
                with attempt:
                    return fn()
        except _TransientError as exc:
            raise UnavailableError(f"Strava unavailable: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _classify(self, call: Callable[[], T], blocked: list[datetime]) -> T:
        """Run one HTTP exchange and turn stravalib/httpx failures into ours."""
        try:
            return call()
        except strava_exc.ApplicationInactive as exc:
            message = str(exc)
            self.budget.mark_app_inactive(message)
            raise AppInactiveError(message) from exc
        except strava_exc.AccessUnauthorized:
            raise
        except strava_exc.ObjectNotFound as exc:
            raise NotFoundError(str(exc)) from exc
        except strava_exc.Fault as exc:
            status = int(getattr(exc.response, "status_code", 0) or 0)
            if status == 429:
                retry_at = blocked[0] if blocked else self._clock() + timedelta(minutes=15)
                raise RateLimitedError("Strava answered 429 Too Many Requests", retry_at) from exc
            if status >= 500:
                raise _TransientError(str(exc)) from exc
            raise ClientRequestError(str(exc)) from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _TransientError(f"{type(exc).__name__}: {exc}") from exc

    @contextmanager
    def _athlete_lock(self, athlete_id: int) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(athlete_id, threading.Lock())
        with lock:
            yield

    # -- tokens -----------------------------------------------------------------------------

    def _grant(self, response: Any) -> TokenGrant:
        return TokenGrant(
            access_token=str(response["access_token"]),
            refresh_token=str(response["refresh_token"]),
            expires_at=datetime.fromtimestamp(int(response["expires_at"]), UTC),
        )

    def access_token(self, athlete_id: int, *, rejected: str | None = None) -> str:
        """A valid access token; refreshed when due, or when ``rejected`` was just refused.

        Runs under the athlete's lock; the rotated refresh token is committed before returning.
        """
        broken: str | None = None
        with self._athlete_lock(athlete_id), self._sessions.begin() as session:
            # Lock the link row (SQLite: take the write lock first) so that another process
            # refreshing at the same moment waits and then sees the new tokens.
            session.execute(
                update(StravaLink)
                .where(StravaLink.athlete_id == athlete_id)
                .values(athlete_id=athlete_id)
                .execution_options(synchronize_session=False)
            )
            link = session.scalars(
                select(StravaLink)
                .where(StravaLink.athlete_id == athlete_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            if link is None or link.status == LinkStatus.REVOKED:
                raise LinkMissingError("Strava is not connected for this athlete")
            if link.status == LinkStatus.BROKEN:
                raise LinkBrokenError(link.error or BROKEN_MESSAGE)
            current = self._cipher.decrypt(link.access_token_enc)
            if rejected is not None and current != rejected:
                return current  # someone else refreshed meanwhile
            if rejected is None and link.expires_at - self._margin > self._clock():
                return current
            refresh_token = self._cipher.decrypt(link.refresh_token_enc)
            try:
                grant = self._refresh(refresh_token)
            except ClientRequestError as exc:
                broken = f"{BROKEN_MESSAGE} (refresh refused: {exc})"
            except strava_exc.AccessUnauthorized as exc:
                broken = f"{BROKEN_MESSAGE} (refresh refused: {exc})"
            else:
                link.access_token_enc = self._cipher.encrypt(grant.access_token)
                link.refresh_token_enc = self._cipher.encrypt(grant.refresh_token)
                link.expires_at = grant.expires_at
                return grant.access_token
        assert broken is not None
        self.mark_broken(athlete_id, broken)
        raise LinkBrokenError(broken)

    def _refresh(self, refresh_token: str) -> TokenGrant:
        def call() -> TokenGrant:
            api = self._api(None)
            info = self._classify(
                lambda: api.refresh_access_token(
                    client_id=self.credentials.client_id,
                    client_secret=self.credentials.client_secret,
                    refresh_token=refresh_token,
                ),
                [],
            )
            return self._grant(info)

        return self._retrying(call)

    def mark_broken(self, athlete_id: int, message: str) -> None:
        with self._sessions.begin() as session:
            link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == athlete_id))
            if link is not None and link.status == LinkStatus.OK:
                link.status = LinkStatus.BROKEN
                link.error = message
        log.warning("Strava link of athlete %s marked broken", athlete_id)

    # -- calls on behalf of an athlete ------------------------------------------------------

    def _call(
        self,
        athlete_id: int,
        fn: Callable[[_Api], T],
        *,
        priority: Priority,
        read: bool = True,
        budget: bool = True,
    ) -> T:
        """401 -> refresh once, retry once -> broken. Transient -> retried. 429 -> raised."""

        def send(token: str) -> T:
            def attempt() -> T:
                if budget:
                    self.budget.acquire(priority=priority, read=read)
                blocked: list[datetime] = []
                api = self._api(token, blocked)
                return self._classify(lambda: fn(api), blocked)

            return self._retrying(attempt)

        token = self.access_token(athlete_id)
        try:
            return send(token)
        except strava_exc.AccessUnauthorized:
            log.info("Strava answered 401 for athlete %s: refreshing once", athlete_id)
        token = self.access_token(athlete_id, rejected=token)
        try:
            return send(token)
        except strava_exc.AccessUnauthorized as exc:
            self.mark_broken(athlete_id, BROKEN_MESSAGE)
            raise LinkBrokenError(BROKEN_MESSAGE) from exc

    def list_activities(
        self,
        athlete_id: int,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page: int = 1,
        per_page: int = 200,
        priority: Priority = "bulk",
    ) -> ActivityPage:
        """One page of the athlete's activities started in (after, before), newest first."""
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if after is not None:
            params["after"] = int(after.timestamp())
        if before is not None:
            params["before"] = int(before.timestamp())
        raw = self._call(
            athlete_id, lambda api: api.get("/athlete/activities", **params), priority=priority
        )
        if not isinstance(raw, list):
            raise ClientRequestError(f"activity list: expected a JSON array, got {type(raw)}")
        items = [item for item in raw if isinstance(item, dict)]
        try:
            for item in items:
                strava_model.SummaryActivity.model_validate(item)
        except ValidationError as exc:
            log.warning("activity page not valid for stravalib, using the raw JSON: %s", exc)
            return ActivityPage(items, validated=False)
        return ActivityPage(items, validated=True)

    def get_activity(
        self, athlete_id: int, activity_id: int, *, priority: Priority = "live"
    ) -> dict[str, Any]:
        """The detailed activity (it carries the gear's total distance, the list does not)."""
        raw = self._call(
            athlete_id,
            lambda api: api.get("/activities/{id}", id=activity_id, include_all_efforts=False),
            priority=priority,
        )
        if not isinstance(raw, dict):
            raise ClientRequestError(f"activity {activity_id}: expected a JSON object")
        try:
            strava_model.DetailedActivity.model_validate(raw)
        except ValidationError as exc:
            log.warning("activity %s not valid for stravalib, using raw JSON: %s", activity_id, exc)
        return raw

    def get_streams(
        self,
        athlete_id: int,
        activity_id: int,
        keys: Sequence[str],
        *,
        priority: Priority = "bulk",
    ) -> dict[str, dict[str, Any]]:
        """An activity's streams keyed by type (one request, whatever the number of keys).

        Strava's StreamSet: ``{"heartrate": {"data": [...], "series_type": ...,
        "original_size": N, "resolution": "high"}, ...}``; a list of streams (the shape without
        ``key_by_type``) is keyed by each stream's ``type``. Streams without a ``data`` list are
        left out.
        """
        raw = self._call(
            athlete_id,
            lambda api: api.get(
                "/activities/{id}/streams", id=activity_id, keys=",".join(keys), key_by_type="true"
            ),
            priority=priority,
        )
        if isinstance(raw, list):
            raw = {str(s.get("type")): s for s in raw if isinstance(s, dict) and s.get("type")}
        if not isinstance(raw, dict):
            raise ClientRequestError(f"activity {activity_id} streams: expected a JSON object")
        return {
            str(key): stream
            for key, stream in raw.items()
            if isinstance(stream, dict) and isinstance(stream.get("data"), list)
        }

    def deauthorize(self, athlete_id: int) -> None:
        """Revoke the app's access at Strava (the athlete's "My Apps" entry disappears)."""
        self._call(
            athlete_id,
            lambda api: api.post(DEAUTHORIZE_URL),
            priority="live",
            read=False,
            budget=False,
        )

    # -- app-level calls --------------------------------------------------------------------

    def authorization_url(self, redirect_uri: str, scopes: Sequence[Scope], state: str) -> str:
        return self._api(None).authorization_url(
            client_id=self.credentials.client_id,
            redirect_uri=redirect_uri,
            scope=list(scopes),
            state=state,
            approval_prompt="auto",
        )

    def exchange_code(self, code: str) -> TokenGrant:
        """Code -> tokens (+ the Strava athlete). OAuth endpoints do not count in the budget."""

        def call() -> TokenGrant:
            api = self._api(None)
            response = self._classify(
                lambda: api.post(
                    f"{STRAVA_WEB}/oauth/token",
                    data={
                        "client_id": self.credentials.client_id,
                        "client_secret": self.credentials.client_secret,
                        "code": code,
                        "grant_type": "authorization_code",
                    },
                ),
                [],
            )
            grant = self._grant(response)
            athlete = response.get("athlete") if isinstance(response, dict) else None
            athlete_id = athlete.get("id") if isinstance(athlete, dict) else None
            return TokenGrant(
                grant.access_token,
                grant.refresh_token,
                grant.expires_at,
                strava_athlete_id=int(athlete_id) if athlete_id is not None else None,
                athlete=athlete if isinstance(athlete, dict) else None,
            )

        try:
            return self._retrying(call)
        except strava_exc.AccessUnauthorized as exc:
            raise ClientRequestError(str(exc)) from exc

    def create_subscription(self, callback_url: str, verify_token: str) -> int:
        """Create the app's webhook subscription; Strava GETs the callback before answering."""

        def call() -> int:
            self.budget.acquire(priority="live", read=False)
            blocked: list[datetime] = []
            api = self._api(None, blocked)
            raw = self._classify(
                lambda: api.post(
                    "/push_subscriptions",
                    data={
                        "client_id": self.credentials.client_id,
                        "client_secret": self.credentials.client_secret,
                        "callback_url": callback_url,
                        "verify_token": verify_token,
                    },
                ),
                blocked,
            )
            return int(raw["id"])

        return self._retrying(call)
