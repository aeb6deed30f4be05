"""What every CLI command shares: consoles, the app context, common options, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from connector.errors import ConnectorError
from store.athletes import AthleteNotFoundError
from strideguard.app import App
from strideguard.settings import Settings
from strideguard.units import plain

console = Console()
err_console = Console(stderr=True)

AthleteOption = Annotated[
    str | None,
    typer.Option(
        "--athlete", "-a", help="Athlete handle; default: the only athlete (or a new 'me')."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class UserError(Exception):
    """A problem the user can fix, reported in one line without a traceback."""


@contextmanager
def open_app() -> Iterator[App]:
    """The configured app; expected problems become one red line and exit status 1."""
    app = App(Settings())
    try:
        yield app
    except (AthleteNotFoundError, ConnectorError, UserError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        app.close()


def print_json(data: Any) -> None:
    print(json.dumps(plain(data), indent=2, allow_nan=False))
