"""``findings``, ``load``, ``report`` and ``recompute``: what the analysis says, in the terminal."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import pandas as pd
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import models
from store.athletes import resolve_athlete
from strideguard.analysis_service import AthleteAnalysis, analyse_athlete, local_today
from strideguard.cli_common import AthleteOption, JsonOption, console, open_app, print_json
from strideguard.report import render_findings, render_report

DaysOption = Annotated[int, typer.Option("--days", min=1, max=3660, help="Days to show.")]


def _analyse(session: Session, handle: str | None) -> tuple[models.Athlete, AthleteAnalysis]:
    athlete = resolve_athlete(session, handle, create=False)
    return athlete, analyse_athlete(session, athlete, as_of=local_today(athlete))


def finding_json(row: models.Finding) -> dict[str, Any]:
    return {
        "rule_id": row.rule_id,
        "date": row.local_date.isoformat(),
        "severity": row.severity,
        "evidence_grade": row.evidence_grade,
        "message": row.message,
        "action": row.action,
        "inputs": row.inputs,
        "thresholds": row.thresholds,
        "citation": row.citation,
        "exercises": row.exercises,
    }


def findings(
    athlete: AthleteOption = None,
    since: Annotated[
        str | None, typer.Option(help="Only findings on or after this local date (YYYY-MM-DD).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What the rules found, newest last, each with its numbers, rule and evidence."""
    since_date = _parse_date(since) if since else None
    with open_app() as app, app.sessions.begin() as session:
        athlete_row, _ = _analyse(session, athlete)
        query = select(models.Finding).where(models.Finding.athlete_id == athlete_row.id)
        if since_date is not None:
            query = query.where(models.Finding.local_date >= since_date)
        rows = session.scalars(
            query.order_by(models.Finding.local_date, models.Finding.rule_id)
        ).all()
        items = [finding_json(row) for row in rows]
    if as_json:
        print_json(items)
    else:
        render_findings(console, items)


def load(athlete: AthleteOption = None, days: DaysOption = 42, as_json: JsonOption = False) -> None:
    """Daily load, fitness (CTL), fatigue (ATL), form (TSB), ACWR, monotony and strain."""
    with open_app() as app, app.sessions.begin() as session:
        _, result = _analyse(session, athlete)
    daily = result.analysis.daily.tail(days)
    items = [
        {
            "date": day.date().isoformat(),
            "load": row["load"],
            "ctl": row["ctl"],
            "atl": row["atl"],
            "tsb": row["tsb"],
            "acwr_ewma": row["acwr_ewma"],
            "acwr_uncoupled": row["acwr_uncoupled"],
            "monotony": row["monotony"],
            "strain": row["strain"],
            "run_km": row["run_km"],
        }
        for day, row in zip(pd.DatetimeIndex(daily.index), daily.to_dict("records"), strict=True)
    ]
    if as_json:
        print_json(items)
        return
    from strideguard.report import render_load

    render_load(console, items)


def report(
    athlete: AthleteOption = None,
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weeks to show.")] = 8,
) -> None:
    """A readable summary of the last weeks: volume, load, surfaces, strength, findings."""
    with open_app() as app, app.sessions.begin() as session:
        athlete_row, result = _analyse(session, athlete)
        since = result.analysis.as_of - timedelta(weeks=weeks)
        rows = session.scalars(
            select(models.Finding)
            .where(models.Finding.athlete_id == athlete_row.id, models.Finding.local_date >= since)
            .order_by(models.Finding.local_date)
        ).all()
        items = [finding_json(row) for row in rows]
        name = athlete_row.display_name
        units = athlete_row.units
    render_report(console, name=name, result=result, findings=items, weeks=weeks, units=units)


def recompute(athlete: AthleteOption = None) -> None:
    """Decode every stored raw file again and redo all metrics and findings (after an update)."""
    with open_app() as app:
        with app.sessions() as session:
            athlete_id = resolve_athlete(session, athlete, create=False).id
        with console.status("Re-deriving metrics from the raw files…"):
            count = app.importer().rederive(athlete_id)
        with app.sessions.begin() as session:
            _, result = _analyse(session, athlete)
    console.print(
        f"Recomputed {count} activities; {len(result.analysis.findings)} findings "
        f"(HR max {result.basis.hr_max:.0f} bpm"
        f"{' estimated' if result.basis.hr_max_estimated else ''}, "
        f"HR rest {result.basis.hr_rest:.0f} bpm"
        f"{' estimated' if result.basis.hr_rest_estimated else ''})."
    )


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date like 2026-11-26") from exc
