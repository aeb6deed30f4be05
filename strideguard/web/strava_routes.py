"""Connect with Strava, its callback, disconnect, and Strava's webhook.

The OAuth ``state`` is bound to the browser session (the signed session cookie is the binding;
the connector stores only its hash), so a callback only completes in the session that started
it. After linking, the backfill runs in a background thread (`sync.sync_athlete`, then the
analysis); the settings page shows its progress from the link row.

When Strava is not configured every route here answers 404 with one sentence
saying so, and the settings page says what the operator must set.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from connector.strava import StravaServices
from connector.strava.errors import OAuthError
from connector.strava.sync import sync_athlete
from connector.strava.webhook import make_webhook_router
from strideguard.app import App
from strideguard.cli_strava import analyse_callback, stream_policy
from strideguard.web.auth import SESSION_COOKIE, AthleteDep, core_app
from strideguard.web.common import DB
from strideguard.web.integrations import strava_services, strava_unconfigured_reason
from strideguard.web.pages import _settings_page

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

WEBHOOK_PATH = "/strava/webhook"


def _services_or_404(request: Request) -> StravaServices:
    services = strava_services(request)
    if services is None:
        reason = strava_unconfigured_reason(core_app(request))
        raise HTTPException(404, reason or "Strava is not available on this server.")
    return services


def _binding(request: Request) -> str:
    """The signed-in browser session the OAuth state is bound to."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise HTTPException(400, "Connect Strava from the web page while signed in.")
    return cookie


# -- connect, callback, disconnect ---------------------------------------------------------------


@router.get("/strava/connect")
def strava_connect(request: Request, account: AthleteDep) -> Response:
    """Off to Strava's consent page, with a fresh single-use state."""
    services = _services_or_404(request)
    url = services.oauth.start(account.athlete_id, binding=_binding(request))
    return RedirectResponse(url, status_code=303)


def backfill(app: App, services: StravaServices, athlete_id: int) -> None:
    """The first sync after linking (runs in a thread), then the analysis."""
    try:
        report = sync_athlete(
            app.sessions,
            services.client,
            athlete_id,
            backfill_days=services.config.backfill_days,
            on_changed=analyse_callback,
            streams=stream_policy(app.settings),
        )
        if report.error:
            log.warning("Strava backfill of athlete %s stopped: %s", athlete_id, report.error)
    except Exception:
        log.exception("Strava backfill of athlete %s failed", athlete_id)


def start_backfill(request: Request, services: StravaServices, athlete_id: int) -> None:
    thread = threading.Thread(
        target=backfill,
        args=(core_app(request), services, athlete_id),
        name=f"strava-backfill-{athlete_id}",
        daemon=True,
    )
    threads: list[threading.Thread] = getattr(request.app.state, "strava_backfills", [])
    request.app.state.strava_backfills = [t for t in threads if t.is_alive()] + [thread]
    thread.start()


@router.get("/strava/callback", response_class=HTMLResponse)
def strava_callback(request: Request, account: AthleteDep, session: DB) -> Response:
    """Strava sends the athlete back here: store the link, explain problems, start the backfill."""
    services = _services_or_404(request)
    params = request.query_params
    try:
        result = services.oauth.complete(
            account.athlete_id,
            binding=request.cookies.get(SESSION_COOKIE) or "",
            state=params.get("state"),
            code=params.get("code"),
            scope=params.get("scope"),
            error=params.get("error"),
        )
    except OAuthError as exc:
        return _settings_page(request, account, session, 400, error=str(exc))
    start_backfill(request, services, account.athlete_id)
    days = services.config.backfill_days
    flash = f"Strava is connected. Your last {days} days are being imported in the background."
    return _settings_page(request, account, session, flash=flash, strava_warnings=result.warnings)


@router.post("/strava/disconnect", response_class=HTMLResponse)
def strava_disconnect(request: Request, account: AthleteDep, session: DB) -> Response:
    """Revoke at Strava and delete every Strava-derived row of the athlete."""
    services = _services_or_404(request)
    session.close()
    revoked = services.oauth.disconnect(account.athlete_id)
    with core_app(request).sessions.begin() as work:
        analyse_callback(work, account.athlete_id)
    if not revoked:
        return _settings_page(
            request,
            account,
            session,
            flash="Your Strava data is deleted. Strava could not be told yet; "
            "Strideguard retries that later.",
        )
    return RedirectResponse("/settings?saved=strava-disconnected", status_code=303)


# -- the webhook (Strava calls it; no account) ------------------------------------------------


def _webhook_endpoint(request: Request, method: str) -> Any | None:
    """The connector's webhook endpoint for ``method``, its router made once per app."""
    state = request.app.state
    routes: dict[str, Any] | None = getattr(state, "strava_webhook", None)
    if routes is None:
        services = strava_services(request)
        if services is None:
            return None
        webhook = make_webhook_router(
            core_app(request).sessions,
            verify_token=core_app(request).settings.strava_verify_token,
            subscription_id=services.budget.subscription_id,
        )
        routes = {
            m: route.endpoint
            for route in webhook.routes
            if isinstance(route, APIRoute) and route.path == WEBHOOK_PATH
            for m in (route.methods or ())
        }
        state.strava_webhook = routes
    return routes.get(method)


def _not_configured() -> JSONResponse:
    return JSONResponse({"detail": "Strava is not configured on this server."}, status_code=404)


@router.get(WEBHOOK_PATH)
async def strava_webhook_challenge(request: Request) -> Response:
    """Strava's subscription challenge (the connector's handler)."""
    endpoint = await run_in_threadpool(_webhook_endpoint, request, "GET")
    if endpoint is None:
        return _not_configured()
    response: Response = endpoint(request)
    return response


@router.post(WEBHOOK_PATH)
async def strava_webhook_event(request: Request) -> Response:
    """A Strava event: validated and queued by the connector's handler, answered at once."""
    endpoint = await run_in_threadpool(_webhook_endpoint, request, "POST")
    if endpoint is None:
        return _not_configured()
    response: Response = await endpoint(request)
    return response
