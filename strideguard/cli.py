"""The ``strideguard`` command line (typer + rich)."""

from __future__ import annotations

import logging
from datetime import timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from sqlalchemy import select

from connector.ingest import FileOutcome, ImportReport
from store.athletes import resolve_athlete
from store.models import Activity, Athlete
from strideguard import units
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.cli_common import (
    AthleteOption,
    JsonOption,
    console,
    err_console,
    open_app,
    print_json,
)

cli = typer.Typer(
    name="strideguard",
    help="Training load and injury-prevention alerts for runners.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log warnings.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@cli.command("import")
def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help=".fit / .fit.gz files, folders (recursive) or zip exports (Garmin, Strava).",
            exists=True,
        ),
    ],
    athlete: AthleteOption = None,
    as_json: JsonOption = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Decoder processes; default one per CPU core.")
    ] = None,
) -> None:
    """Import FIT files. Exit status 0: all good; 1: some file failed (the rest imported)."""
    with open_app() as app:
        with app.sessions.begin() as session:
            athlete_id = resolve_athlete(session, athlete, create=True).id
        report = _run_import(app, athlete_id, paths, workers=workers, quiet=as_json)
        with app.sessions.begin() as session:
            athlete_row = session.get_one(Athlete, athlete_id)
            findings = analyse_athlete(session, athlete_row, as_of=local_today(athlete_row))
    if as_json:
        print_json(report.to_json())
    else:
        _print_import_summary(report)
        console.print(
            f"{len(findings.analysis.findings)} findings over the whole history: "
            "[bold]strideguard findings[/] or [bold]strideguard report[/] to read them."
        )
    raise typer.Exit(0 if report.ok else 1)


def _run_import(
    app: App, athlete_id: int, paths: list[Path], *, workers: int | None, quiet: bool
) -> ImportReport:
    importer = app.importer(workers=workers)
    if quiet or not err_console.is_terminal:
        return importer.import_paths(athlete_id, paths)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}", style="dim"),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=None, last="")

        def advance(outcome: FileOutcome) -> None:
            progress.update(task, advance=1, last=f"{outcome.status}: {outcome.path[-60:]}")

        return importer.import_paths(athlete_id, paths, on_file=advance)


def _print_import_summary(report: ImportReport) -> None:
    console.print(
        f"[green]{report.count('imported')} imported[/], "
        f"{report.count('duplicate')} duplicates, "
        f"[red]{report.count('failed')} failed[/], "
        f"{report.count('skipped')} skipped"
    )
    partial = [f for f in report.files if f.partial and f.status == "imported"]
    for outcome in partial:
        console.print(f"[yellow]partial[/] {outcome.path}: truncated file, kept what was recorded")
    for outcome in report.files:
        if outcome.status == "failed":
            console.print(f"[red]failed[/] {outcome.path}: {outcome.error}")


def _activity_json(activity: Activity) -> dict[str, Any]:
    local = activity.start_utc.astimezone(timezone(timedelta(seconds=activity.local_offset_s)))
    return {
        "id": activity.id,
        "source": activity.source.value,
        "sport": activity.sport,
        "sub_sport": activity.sub_sport,
        "start": local.isoformat(),
        "local_date": activity.local_date.isoformat(),
        "distance_m": activity.distance_m,
        "moving_s": activity.moving_s,
        "elapsed_s": activity.elapsed_s,
        "avg_hr": activity.avg_hr,
        "partial": activity.partial,
    }


@cli.command()
def activities(athlete: AthleteOption = None, as_json: JsonOption = False) -> None:
    """List stored activities, oldest first."""
    with open_app() as app, app.sessions() as session:
        athlete_row = resolve_athlete(session, athlete, create=False)
        rows = session.scalars(
            select(Activity)
            .where(Activity.athlete_id == athlete_row.id)
            .order_by(Activity.start_utc, Activity.id)
        ).all()
        items = [_activity_json(a) for a in rows]
    if as_json:
        print_json(items)
        return
    console.print(_activities_table(items, title=f"Activities of {athlete_row.display_name}"))


def _activities_table(items: list[dict[str, Any]], *, title: str) -> Table:
    table = Table(title=title)
    for column, justify in (
        ("id", "right"),
        ("start (local)", "left"),
        ("sport", "left"),
        ("distance", "right"),
        ("moving", "right"),
        ("avg HR", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in items:
        sport = item["sport"] + (f" / {item['sub_sport']}" if item["sub_sport"] else "")
        table.add_row(
            str(item["id"]),
            item["start"][:16].replace("T", " "),
            sport,
            units.km(item["distance_m"]),
            units.duration(item["moving_s"]),
            units.bpm(item["avg_hr"]),
            "partial" if item["partial"] else "",
        )
    return table


@cli.command()
def demo(
    weeks: Annotated[int, typer.Option(min=4, max=52, help="Weeks of history.")] = 16,
) -> None:
    """Create a demo athlete with a realistic history written as real FIT files, and import it."""
    from strideguard.demo import run_demo

    with open_app() as app:
        run_demo(app, console=console, weeks=weeks)


from strideguard import cli_alerts, cli_insights, cli_logs  # noqa: E402 (commands register on `cli`)

cli.command()(cli_alerts.digest)
cli.command()(cli_alerts.deliveries)
cli.command()(cli_alerts.scheduler)
cli.add_typer(cli_alerts.notify_cli, name="notify")
cli.command()(cli_insights.findings)
cli.command()(cli_insights.load)
cli.command()(cli_insights.report)
cli.command()(cli_insights.recompute)
cli.command()(cli_logs.profile)
cli.add_typer(cli_logs.log_cli, name="log")
from strideguard import cli_strava  # noqa: E402

cli.add_typer(cli_strava.strava_cli, name="strava")
cli.add_typer(cli_strava.keys_cli, name="keys")

from strideguard import cli_web  # noqa: E402

cli.command()(cli_web.serve)
cli.add_typer(cli_web.user_cli, name="user")


def main() -> None:
    """Console-script entry point."""
    cli()
