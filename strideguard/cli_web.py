"""``serve`` (the web app) and ``user create`` (accounts made by the operator)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from store.athletes import resolve_athlete
from store.models import Athlete
from strideguard.cli_common import UserError, console, err_console, open_app

if TYPE_CHECKING:
    from fastapi import FastAPI

user_cli = typer.Typer(help="Web accounts: create them from the command line.")


def with_scheduler(web: FastAPI) -> FastAPI:
    """Run the alerts and Strava scheduler inside this web process, for one-machine installs.

    Each worker runs a background scheduler, but every job first takes the database lease
    (`alerts.lock`): of several workers (or machines, or a separate ``strideguard scheduler``)
    only the holder works, and another takes over within minutes if it stops.
    """
    from strideguard.cli_alerts import app_scheduler

    core = web.state.core
    ticks, sched = app_scheduler(core, blocking=False)
    web.state.scheduler = sched
    inner = web.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        sched.start()
        try:
            async with inner(app) as state:
                yield state
        finally:
            sched.shutdown(wait=True)  # let a running tick finish its transaction
            ticks.release()

    web.router.lifespan_context = lifespan
    return web


def create_app_with_scheduler() -> FastAPI:
    """The uvicorn factory of ``serve --with-scheduler --workers N``."""
    from strideguard.web.app import create_app

    return with_scheduler(create_app())


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Web worker processes.")] = 1,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--with-scheduler",
            help="Also run the scheduler (digests, nudges, Strava events, sync and purge) in "
            "this process; with several workers only one does the work (a database lock).",
        ),
    ] = False,
) -> None:
    """Start the web app (open http://HOST:PORT/ in a browser)."""
    import uvicorn

    from strideguard.web.app import create_app

    console.print(f"Strideguard on [bold]http://{host}:{port}/[/] (Ctrl+C to stop)")
    if workers == 1:
        web = with_scheduler(create_app()) if scheduler else create_app()
        uvicorn.run(web, host=host, port=port, proxy_headers=True, log_level="info")
    else:
        uvicorn.run(
            "strideguard.cli_web:create_app_with_scheduler"
            if scheduler
            else "strideguard.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_level="info",
        )


@user_cli.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in e-mail address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    athlete: Annotated[
        str | None,
        typer.Option("--athlete", "-a", help="Attach to this existing athlete (handle)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name for a new athlete.")] = None,
) -> None:
    """Create a web account (with a new athlete, or for an existing one with --athlete)."""
    from strideguard.web.auth import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_app() as app, app.sessions.begin() as session:
        athlete_id = (
            resolve_athlete(session, athlete, create=False).id if athlete is not None else None
        )
        try:
            user = create_user(
                session, email=email, password=password, display_name=name, athlete_id=athlete_id
            )
        except AccountError as exc:
            raise UserError(str(exc).rstrip(".")) from None
        handle = session.get_one(Athlete, user.athlete_id).handle
    err_console.print(f"Created the account {user.email} (athlete {handle}).")
