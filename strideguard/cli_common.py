"""What every CLI command shares: consoles, the app context, common options, JSON output."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from connector.errors import ConnectorError
from store.athletes import AthleteNotFoundError
from strideguard.app import App
from strideguard.settings import Settings

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


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, dates ISO 8601, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(data: Any) -> None:
    print(json.dumps(_plain(data), indent=2, allow_nan=False))
