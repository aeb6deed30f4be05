"""An in-memory Strava API for tests and the budget benchmark (an `httpx.MockTransport`).

It answers with Strava's real response shapes (the swagger examples shipped in stravalib are
the templates), rotates refresh tokens like Strava, counts reads in 15-minute and daily windows
and sends the ``X-RateLimit-*`` / ``X-ReadRateLimit-*`` headers, answering 429 past the limit.
Failures can be scripted (``fail_next``). Nothing here is used in production.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import httpx

from connector.strava.budget import utc_now, window_start

__all__ = ["FakeStrava", "swagger_example"]


def swagger_example(path: str, method: str = "get") -> Any:
    """The example response of ``path`` in Strava's swagger spec (shipped inside stravalib)."""
    spec_file = resources.files("stravalib") / "tests" / "resources" / "strava_swagger.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    return copy.deepcopy(
        spec["paths"][path][method]["responses"]["200"]["examples"]["application/json"]
    )


def stravalib_resource(name: str) -> Any:
    """A sample response file shipped with stravalib (e.g. ``activity.3.json``)."""
    path = resources.files("stravalib") / "tests" / "resources" / name
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class _Account:
    strava_id: int
    access_token: str
    refresh_token: str
    expires_at: int
    activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    authorized: bool = True


class FakeStrava:
    """A fake of the endpoints Strideguard calls; ``transport`` goes into an `httpx.Client`."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        read_limit: tuple[int, int] = (100, 1000),
        overall_limit: tuple[int, int] = (200, 2000),
        token_lifetime: timedelta = timedelta(hours=6),
    ) -> None:
        self.clock = clock
        self.read_limit = read_limit
        self.overall_limit = overall_limit
        self.token_lifetime = token_lifetime
        self.accounts: dict[int, _Account] = {}
        self.codes: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.failures: list[tuple[str, int | type[httpx.TransportError]]] = []
        self.subscription_id = 120475
        self.streams: dict[int, dict[str, dict[str, Any]]] = {}
        """Streams served for an activity id, instead of `make_streams` of its summary."""
        self._usage: dict[tuple[str, str], int] = {}
        self.transport = httpx.MockTransport(self._handle)

    # -- set-up -------------------------------------------------------------------------------

    def add_athlete(self, strava_id: int) -> str:
        """A Strava account; returns an authorization code for it."""
        self.accounts[strava_id] = _Account(
            strava_id, *self._new_tokens(), expires_at=self._expiry()
        )
        code = secrets.token_hex(8)
        self.codes[code] = strava_id
        return code

    def add_activity(self, strava_id: int, activity: dict[str, Any]) -> None:
        self.accounts[strava_id].activities[int(activity["id"])] = activity

    def fail_next(
        self, path_part: str, failure: int | type[httpx.TransportError], times: int = 1
    ) -> None:
        """The next ``times`` requests whose path contains ``path_part`` fail like this."""
        self.failures.extend([(path_part, failure)] * times)

    def expire_access_tokens(self) -> None:
        """Strava silently invalidates access tokens (the client's 401 path)."""
        for account in self.accounts.values():
            account.access_token = "revoked-" + secrets.token_hex(4)

    def api_calls(self, path_part: str = "/api/v3/") -> int:
        return sum(1 for r in self.requests if path_part in r.url.path)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _new_tokens() -> tuple[str, str]:
        return "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)

    def _expiry(self) -> int:
        return int((self.clock() + self.token_lifetime).timestamp())

    def _rate_headers(self, read: bool) -> tuple[dict[str, str], bool]:
        now = self.clock()
        keys = (window_start(now).isoformat(), now.astimezone(UTC).date().isoformat())
        over = False
        for kind, limit in (("read", self.read_limit), ("all", self.overall_limit)):
            if kind == "read" and not read:
                continue
            for key, cap in zip(keys, limit, strict=True):
                count = self._usage.get((kind, key), 0) + 1
                self._usage[(kind, key)] = count
                over = over or count > cap
        usage = {
            kind: ",".join(str(self._usage.get((kind, key), 0)) for key in keys)
            for kind in ("read", "all")
        }
        headers = {
            "X-RateLimit-Limit": f"{self.overall_limit[0]},{self.overall_limit[1]}",
            "X-RateLimit-Usage": usage["all"],
            "X-ReadRateLimit-Limit": f"{self.read_limit[0]},{self.read_limit[1]}",
            "X-ReadRateLimit-Usage": usage["read"],
        }
        return headers, over

    def _account_for(self, request: httpx.Request) -> _Account | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        for account in self.accounts.values():
            if account.authorized and account.access_token == token:
                return account
        return None

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for i, (part, failure) in enumerate(self.failures):
            if part in path:
                del self.failures[i]
                if not isinstance(failure, int):
                    raise failure("scripted transport failure", request=request)
                headers = {} if path.startswith("/oauth/") else self._rate_headers(True)[0]
                body: dict[str, Any] = {"message": "Scripted failure", "errors": []}
                if failure == 403:
                    body = {
                        "message": "Forbidden",
                        "errors": [
                            {"resource": "Application", "field": "Status", "code": "Inactive"}
                        ],
                    }
                return httpx.Response(failure, headers=headers, json=body)
        if path.startswith("/oauth/"):
            return self._oauth(request, path)
        headers, over = self._rate_headers(read=request.method == "GET")
        if over:
            return httpx.Response(
                429,
                headers=headers,
                json={"message": "Rate Limit Exceeded", "errors": []},
            )
        if path == "/api/v3/push_subscriptions" and request.method == "POST":
            return httpx.Response(201, headers=headers, json={"id": self.subscription_id})
        account = self._account_for(request)
        if account is None:
            return httpx.Response(
                401,
                headers=headers,
                json={
                    "message": "Authorization Error",
                    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
                },
            )
        if path == "/api/v3/athlete/activities":
            return httpx.Response(200, headers=headers, json=self._list(account, request))
        if path.startswith("/api/v3/activities/") and path.endswith("/streams"):
            activity_id = int(path.split("/")[-2])
            if activity_id not in account.activities:
                return httpx.Response(
                    404, headers=headers, json={"message": "Record Not Found", "errors": []}
                )
            return httpx.Response(
                200, headers=headers, json=self._streams(account, activity_id, request)
            )
        if path.startswith("/api/v3/activities/"):
            activity = account.activities.get(int(path.rsplit("/", 1)[1]))
            if activity is None:
                return httpx.Response(
                    404, headers=headers, json={"message": "Record Not Found", "errors": []}
                )
            return httpx.Response(200, headers=headers, json=activity)
        return httpx.Response(404, headers=headers, json={"message": "Not Found", "errors": []})

    def _streams(self, account: _Account, activity_id: int, request: httpx.Request) -> Any:
        """The requested streams, as a StreamSet keyed by type (or a list without key_by_type)."""
        streams = self.streams.get(activity_id) or self.make_streams(
            account.activities[activity_id]
        )
        keys = request.url.params.get("keys", "").split(",")
        chosen = {k: copy.deepcopy(v) for k, v in streams.items() if k in keys}
        if request.url.params.get("key_by_type", "").lower() == "true":
            return chosen
        return [{"type": k, **v} for k, v in chosen.items()]

    @staticmethod
    def make_streams(activity: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Plausible 1 s streams of an activity: the time its summary says, HR if it had HR.

        HR climbs from 25 bpm under the average to 25 over it (a warm-up, then work) with a
        small wobble; distance grows evenly, altitude rolls, the route drifts north-east from
        ``start_latlng``. Every stream has Strava's fields (``series_type``, ``original_size``,
        ``resolution``); the swagger example is the template.
        """
        n = int(activity.get("moving_time") or activity.get("elapsed_time") or 0) + 1
        distance = float(activity.get("distance") or 0.0)
        lat0, lon0 = activity.get("start_latlng") or [55.68, 12.57]

        def stream(data: list[Any]) -> dict[str, Any]:
            return {
                "data": data,
                "series_type": "distance",
                "original_size": len(data),
                "resolution": "high",
            }

        result = {
            "time": stream(list(range(n))),
            "distance": stream([round(distance * i / max(n - 1, 1), 1) for i in range(n)]),
            "altitude": stream([round(20.0 + 5.0 * math.sin(i / 300.0), 1) for i in range(n)]),
            "latlng": stream(
                [[round(lat0 + i * 1e-5, 6), round(lon0 + i * 1e-5, 6)] for i in range(n)]
            ),
        }
        avg = activity.get("average_heartrate")
        if activity.get("has_heartrate") and isinstance(avg, int | float):
            result["heartrate"] = stream(
                [
                    round(avg - 25 + 50 * i / max(n - 1, 1) + 3 * math.sin(i / 20.0))
                    for i in range(n)
                ]
            )
        return result

    def _list(self, account: _Account, request: httpx.Request) -> list[dict[str, Any]]:
        params = request.url.params
        after = int(params.get("after", "0"))
        before = int(params.get("before", str(2**62)))
        page = int(params.get("page", "1"))
        per_page = int(params.get("per_page", "30"))

        def epoch(activity: dict[str, Any]) -> int:
            return int(datetime.fromisoformat(activity["start_date"]).timestamp())

        chosen = sorted(
            (a for a in account.activities.values() if after < epoch(a) < before),
            key=epoch,
            reverse=True,
        )
        summaries = []
        for activity in chosen[(page - 1) * per_page : page * per_page]:
            summary = copy.deepcopy(activity)
            summary["resource_state"] = 2
            for detail_only in ("gear", "segment_efforts", "splits_metric", "laps", "best_efforts"):
                summary.pop(detail_only, None)
            summaries.append(summary)
        return summaries

    def _oauth(self, request: httpx.Request, path: str) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if path == "/oauth/deauthorize":
            account = self._account_for(request)
            if account is None:
                return httpx.Response(401, json={"message": "Authorization Error", "errors": []})
            account.authorized = False
            return httpx.Response(200, json={"access_token": account.access_token})
        if path != "/oauth/token":
            return httpx.Response(404, json={"message": "Not Found", "errors": []})
        if form.get("grant_type") == "authorization_code":
            strava_id = self.codes.pop(form.get("code", ""), None)
            if strava_id is None:
                return httpx.Response(400, json={"message": "Bad Request", "errors": []})
            account = self.accounts[strava_id]
            athlete = swagger_example("/athlete")
            athlete["id"] = strava_id
        else:
            matches = [
                a for a in self.accounts.values() if a.refresh_token == form.get("refresh_token")
            ]
            if not matches or not matches[0].authorized:
                return httpx.Response(
                    400,
                    json={
                        "message": "Bad Request",
                        "errors": [{"resource": "RefreshToken", "field": "", "code": "invalid"}],
                    },
                )
            account, athlete = matches[0], None
        account.access_token, account.refresh_token = self._new_tokens()
        account.expires_at = self._expiry()
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": account.access_token,
            "refresh_token": account.refresh_token,
            "expires_at": account.expires_at,
            "expires_in": int(self.token_lifetime.total_seconds()),
        }
        if athlete is not None:
            body["athlete"] = athlete
        return httpx.Response(200, json=body)
