"""What the settings page shows about Strava and notifications, and the Strava wiring of the app.

Kept apart from the routers so `pages` can build the settings page without importing them.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.strava import StravaServices
from connector.strava.errors import StravaNotConfiguredError
from store.notifications import Delivery, NotificationSettings
from store.strava import StravaLink
from strideguard.app import App
from strideguard.cli_strava import strava_config
from strideguard.web.auth import CurrentAthlete, core_app

CALLBACK_PATH = "/strava/callback"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RECENT_DELIVERIES = 10


def strava_unconfigured_reason(app: App) -> str | None:
    """None when Strava is configured, else one sentence saying what to set."""
    s = app.settings
    missing = [
        name
        for name, value in (
            ("STRIDEGUARD_STRAVA_CLIENT_ID", s.strava_client_id),
            ("STRIDEGUARD_STRAVA_CLIENT_SECRET", s.strava_client_secret),
            ("STRIDEGUARD_STRAVA_TOKEN_KEYS", s.strava_token_keys),
        )
        if not value
    ]
    if not missing:
        return None
    return "Strava is not configured on this server: the operator must set " + ", ".join(missing)


def strava_services(request: Request) -> StravaServices | None:
    """This web app's Strava services, built once (tests may set ``app.state.strava`` first)."""
    state = request.app.state
    if hasattr(state, "strava"):
        services: StravaServices | None = state.strava
        return services
    app = core_app(request)
    try:
        redirect = app.settings.base_url.rstrip("/") + CALLBACK_PATH
        services = StravaServices.create(
            app.sessions, strava_config(app.settings, redirect_uri=redirect)
        )
    except (StravaNotConfiguredError, ValueError):
        services = None
    state.strava = services
    return services


_FIELDS = (
    "email",
    "email_enabled",
    "push_enabled",
    "quiet_start",
    "quiet_end",
    "digest_enabled",
    "digest_weekday",
    "digest_time",
    "spike_nudge_enabled",
    "strength_nudge_enabled",
    "strength_nudge_weekday",
    "strength_nudge_time",
    "unsubscribed_at",
)


def notification_view(row: NotificationSettings | None) -> dict[str, Any]:
    """The athlete's settings, or the table's defaults when none were saved yet."""
    view: dict[str, Any] = {}
    for name in _FIELDS:
        if row is not None:
            view[name] = getattr(row, name)
            continue
        default = NotificationSettings.__table__.c[name].default
        arg = getattr(default, "arg", None)
        view[name] = None if callable(arg) else arg
    view["push_urls"] = list(row.push_urls) if row is not None else []
    return view


def settings_context(request: Request, session: Session, account: CurrentAthlete) -> dict[str, Any]:
    """The Strava and notification parts of the settings page."""
    app = core_app(request)
    link = session.scalar(select(StravaLink).where(StravaLink.athlete_id == account.athlete_id))
    notifications = session.get(NotificationSettings, account.athlete_id)
    deliveries = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.athlete_id == account.athlete_id)
            .order_by(Delivery.due_at.desc(), Delivery.id.desc())
            .limit(RECENT_DELIVERIES)
        )
    )
    return {
        "strava_reason": strava_unconfigured_reason(app),
        "strava_link": link,
        "strava_warnings": [],
        "notify": notification_view(notifications),
        "deliveries": deliveries,
        "weekdays": WEEKDAYS,
        "test_results": [],
        "smtp_configured": bool(app.settings.smtp_host),
    }
