"""``strava subscribe|status|sync`` and ``keys generate|rotate``: operating the Strava connector."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.strava import StravaConfig, StravaServices
from connector.strava.budget import RateBudget
from connector.strava.crypto import TokenCipher, rotate_tokens
from connector.strava.retention import purge_raw
from connector.strava.streams import HeartRateStreams, StreamPolicy
from connector.strava.sync import sync_all
from connector.strava.webhook import process_events
from store import models
from store.athletes import resolve_athlete
from store.strava import EventStatus, StravaEvent, StravaLink
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.cli_common import (
    AthleteOption,
    JsonOption,
    UserError,
    console,
    open_app,
    print_json,
)
from strideguard.settings import Settings

strava_cli = typer.Typer(help="Link and sync Strava (webhook subscription, status, catch-up).")
keys_cli = typer.Typer(help="Encryption keys for the Strava tokens at rest.")


def strava_config(settings: Settings, *, redirect_uri: str = "") -> StravaConfig:
    """The connector's view of the settings (the web app builds the same, with its callback)."""
    return StravaConfig(
        client_id=settings.strava_client_id,
        client_secret=settings.strava_client_secret,
        verify_token=settings.strava_verify_token,
        token_keys=settings.strava_token_keys,
        redirect_uri=redirect_uri,
        backfill_days=settings.strava_backfill_days,
        retention_days=settings.strava_retention_days,
    )


def analyse_callback(session: Session, athlete_id: int) -> None:
    """What follows new Strava data: the analysis (findings; nudges are planned from them)."""
    athlete = session.get_one(models.Athlete, athlete_id)
    analyse_athlete(session, athlete, as_of=local_today(athlete))


def _services(app: App) -> StravaServices:
    return StravaServices.create(app.sessions, strava_config(app.settings))


@strava_cli.command("subscribe")
def subscribe(
    callback_url: Annotated[
        str, typer.Option(help="Public https URL of /strava/webhook (Strava calls it now).")
    ],
) -> None:
    """Create the app's webhook subscription (the web app must be reachable at the URL)."""
    with open_app() as app:
        if not app.settings.strava_verify_token:
            raise UserError("set STRIDEGUARD_STRAVA_VERIFY_TOKEN first")
        services = _services(app)
        sub_id = services.client.create_subscription(callback_url, app.settings.strava_verify_token)
        services.budget.set_subscription_id(sub_id)
    console.print(f"Subscribed: Strava subscription {sub_id} -> {callback_url}")


@strava_cli.command("status")
def status(as_json: JsonOption = False) -> None:
    """Links, scopes, last sync, queued events and the rate-limit budget."""
    with open_app() as app:
        budget = RateBudget(app.sessions).state()  # works before Strava is configured
        with app.sessions() as session:
            links: list[dict[str, Any]] = [
                {
                    "athlete": handle,
                    "strava_athlete_id": link.strava_athlete_id,
                    "status": link.status.value,
                    "scopes": link.scopes,
                    "last_sync_at": link.last_sync_at,
                    "sync_in_progress": link.sync_started_at is not None,
                    "error": link.error,
                }
                for link, handle in session.execute(
                    select(StravaLink, models.Athlete.handle)
                    .join(models.Athlete, models.Athlete.id == StravaLink.athlete_id)
                    .order_by(models.Athlete.handle)
                )
            ]
            events = dict(
                session.execute(
                    select(StravaEvent.status, func.count()).group_by(StravaEvent.status)
                ).all()
            )
    data: dict[str, Any] = {
        "app_status": budget.app_status,
        "app_error": budget.app_error,
        "subscription_id": budget.subscription_id,
        "budget": {
            "read_15m": f"{budget.read_usage_15m}/{budget.read_limit_15m}",
            "read_day": f"{budget.read_usage_day}/{budget.read_limit_day}",
            "blocked_until": budget.blocked_until,
            "block_reason": budget.block_reason,
        },
        "events": {str(k.value if isinstance(k, EventStatus) else k): v for k, v in events.items()},
        "links": links,
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"Strava app: [bold]{budget.app_status}[/]"
        + (f" - {budget.app_error}" if budget.app_error else "")
    )
    console.print(f"Webhook subscription: {budget.subscription_id or 'none (strava subscribe)'}")
    console.print(
        f"Reads: {data['budget']['read_15m']} this 15 min, {data['budget']['read_day']} today"
        + (f"; paused until {budget.blocked_until:%H:%M} UTC" if budget.blocked_until else "")
    )
    console.print(f"Events: {data['events'] or 'none'}")
    for link in links:
        scopes = ",".join(str(s) for s in link["scopes"] or [])
        console.print(
            f"  {link['athlete']}: {link['status']}, scopes {scopes}, "
            f"last sync {link['last_sync_at'] or 'never'}"
            + (f" - {link['error']}" if link["error"] else "")
        )


@strava_cli.command("sync")
def sync(athlete: AthleteOption = None, as_json: JsonOption = False) -> None:
    """Catch up: process queued webhook events, list new activities, purge old raw payloads."""
    with open_app() as app:
        services = _services(app)
        ids: list[int] | None = None
        if athlete is not None:
            with app.sessions() as session:
                ids = [resolve_athlete(session, athlete, create=False).id]
        streams = stream_policy(app.settings)
        events = process_events(
            app.sessions, services.client, on_changed=analyse_callback, streams=streams
        )
        reports = sync_all(
            app.sessions,
            services.client,
            athlete_ids=ids,
            backfill_days=app.settings.strava_backfill_days,
            on_changed=analyse_callback,
            streams=streams,
        )
        purged = purge_raw(
            app.sessions, retention=timedelta(days=app.settings.strava_retention_days)
        )
    data = {
        "events": {"done": events.done, "failed": events.failed, "deferred": events.deferred},
        "athletes": [
            {
                "athlete_id": r.athlete_id,
                "complete": r.complete,
                "requests": r.requests,
                "counts": r.counts,
                "retry_at": r.retry_at,
                "error": r.error,
            }
            for r in reports
        ],
        "raw_purged": purged,
    }
    if as_json:
        print_json(data)
    else:
        console.print(
            f"Events: {events.done} done, {events.failed} failed, {events.deferred} later"
        )
        for r in reports:
            state = "up to date" if r.complete else f"not finished ({r.error})"
            console.print(f"  athlete {r.athlete_id}: {r.counts or 'no changes'}; {state}")
        console.print(f"Raw payloads purged: {purged}")
    if any(r.error and r.retry_at is None for r in reports):
        raise typer.Exit(1)


@keys_cli.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (put it first in STRIDEGUARD_STRAVA_TOKEN_KEYS)."""
    print(TokenCipher.generate_key())


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored Strava token with the first configured key."""
    with open_app() as app:
        count = rotate_tokens(
            app.sessions, TokenCipher.from_setting(app.settings.strava_token_keys)
        )
    console.print(f"Re-encrypted the tokens of {count} Strava links with the first key.")


def stream_policy(settings: Settings) -> StreamPolicy | None:
    """Per-sample heart rate from Strava when the operator allows the extra reads."""
    return HeartRateStreams() if settings.strava_fetch_streams else None
