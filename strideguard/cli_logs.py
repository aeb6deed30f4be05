"""``log`` (what no device records) and ``profile`` (what the analysis needs to know)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from analysis.load import parse_zone_floors
from analysis.model import PainArea, Sex
from analysis.rules import RULE_IDS
from store import models
from store.athletes import resolve_athlete
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.cli_common import (
    AthleteOption,
    JsonOption,
    UserError,
    console,
    open_app,
    print_json,
)

log_cli = typer.Typer(help="Log what no device records: strength work, pain, effort.")

DateOption = Annotated[
    str | None, typer.Option("--date", help="Local date (YYYY-MM-DD); default: today.")
]


def _day(text: str | None, athlete: models.Athlete) -> date:
    if text is None:
        return local_today(athlete)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date like 2026-11-26") from exc


@log_cli.command("strength")
def log_strength(
    minutes: Annotated[float, typer.Option(min=1, max=600, help="How long, in minutes.")],
    on: DateOption = None,
    note: Annotated[str | None, typer.Option(help="What you did, e.g. 'rows, planks'.")] = None,
    athlete: AthleteOption = None,
) -> None:
    """A strength or mobility session (counts towards the weekly goal)."""
    with open_app() as app, app.sessions.begin() as session:
        row = resolve_athlete(session, athlete, create=True)
        day = _day(on, row)
        session.add(
            models.StrengthLog(athlete_id=row.id, local_date=day, minutes=minutes, note=note)
        )
        session.flush()
        analyse_athlete(session, row, as_of=local_today(row))
    console.print(f"Logged {minutes:.0f} min of strength/mobility work on {day.isoformat()}.")


@log_cli.command("pain")
def log_pain(
    area: Annotated[str, typer.Option(help="Where: " + ", ".join(get_args(PainArea)) + ".")],
    score: Annotated[int, typer.Option(min=0, max=10, help="0 = none, 10 = worst imaginable.")],
    on: DateOption = None,
    athlete: AthleteOption = None,
) -> None:
    """A pain check-in. Persistent or rising pain is flagged: see a professional."""
    if area not in get_args(PainArea):
        raise typer.BadParameter(
            f"{area!r}: choose one of {', '.join(get_args(PainArea))}", param_hint="--area"
        )
    with open_app() as app, app.sessions.begin() as session:
        row = resolve_athlete(session, athlete, create=True)
        day = _day(on, row)
        session.add(models.PainLog(athlete_id=row.id, local_date=day, area=area, score=score))
        session.flush()
        result = analyse_athlete(session, row, as_of=local_today(row))
    console.print(f"Logged {area.replace('_', ' ')} pain {score}/10 on {day.isoformat()}.")
    for finding in result.analysis.findings:
        if finding.rule_id == "persistent_pain" and finding.subject == f"area:{area}":
            console.print(f"[red]{finding.message}[/]\n→ {finding.action}")


@log_cli.command("rpe")
def log_rpe(
    activity_id: Annotated[
        int, typer.Argument(help="The activity (see `strideguard activities`).")
    ],
    rpe: Annotated[int, typer.Argument(min=1, max=10, help="Session effort, 1 (very easy) to 10.")],
    athlete: AthleteOption = None,
) -> None:
    """How hard a session felt; gives a load to activities recorded without heart rate."""
    with open_app() as app, app.sessions.begin() as session:
        row = resolve_athlete(session, athlete, create=False)
        activity = session.get(models.Activity, activity_id)
        if activity is None or activity.athlete_id != row.id:
            raise UserError(f"no activity {activity_id} for {row.handle}")
        activity.rpe = rpe
        session.flush()
        analyse_athlete(session, row, as_of=local_today(row))
        load = activity.load
    console.print(f"Activity {activity_id}: RPE {rpe}/10 saved; its load is now {load:.0f}.")


def profile(
    athlete: AthleteOption = None,
    sex: Annotated[
        str | None, typer.Option(help="male, female or unspecified (TRIMP constants).")
    ] = None,
    hr_max: Annotated[
        float | None, typer.Option(min=100, max=230, help="Max heart rate, bpm.")
    ] = None,
    hr_rest: Annotated[
        float | None, typer.Option(min=25, max=100, help="Resting heart rate, bpm.")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option("--tz", help="IANA zone, e.g. Europe/Oslo.")
    ] = None,
    strength_goal: Annotated[
        int | None, typer.Option(min=0, max=14, help="Sessions per week.")
    ] = None,
    units: Annotated[str | None, typer.Option(help="km or mi.")] = None,
    zones: Annotated[
        str | None,
        typer.Option(
            help="Own HR zones: Z1-Z5 floors in % of HR max, e.g. '50,60,70,80,90'; '' resets."
        ),
    ] = None,
    mute: Annotated[list[str] | None, typer.Option(help="Mute a rule (repeatable).")] = None,
    unmute: Annotated[list[str] | None, typer.Option(help="Unmute a rule (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the athlete profile, or change it (then the analysis is redone)."""
    _check_choice("--sex", sex, [s.value for s in Sex])
    _check_choice("--units", units, ["km", "mi"])
    for rule in (mute or []) + (unmute or []):
        _check_choice("--mute/--unmute", rule, sorted(RULE_IDS))
    zone_floors = None
    if zones is not None:
        try:
            zone_floors = parse_zone_floors(zones)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--zones") from exc
    if time_zone is not None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise typer.BadParameter(f"unknown time zone {time_zone!r}", param_hint="--tz") from exc
    with open_app() as app, app.sessions.begin() as session:
        row = resolve_athlete(session, athlete, create=True)
        changes = {
            "sex": sex,
            "hr_max": hr_max,
            "hr_rest": hr_rest,
            "time_zone": time_zone,
            "strength_goal_per_week": strength_goal,
            "units": units,
        }
        for name, value in changes.items():
            if value is not None:
                setattr(row, name, value)
        if zones is not None:
            row.zone_floors_pct = list(zone_floors) if zone_floors else None
        muted = (set(row.muted_rules or ()) | set(mute or ())) - set(unmute or ())
        row.muted_rules = sorted(muted)
        if row.hr_max is not None and row.hr_rest is not None and row.hr_max - row.hr_rest < 20:
            raise UserError("HR max must be at least 20 bpm above HR rest")
        session.flush()
        result = analyse_athlete(session, row, as_of=local_today(row))
        data: dict[str, object] = {
            "athlete": row.handle,
            "sex": row.sex,
            "hr_max": row.hr_max,
            "hr_rest": row.hr_rest,
            "hr_max_used": result.basis.hr_max,
            "hr_max_estimated": result.basis.hr_max_estimated,
            "hr_rest_used": result.basis.hr_rest,
            "hr_rest_estimated": result.basis.hr_rest_estimated,
            "time_zone": row.time_zone,
            "strength_goal_per_week": row.strength_goal_per_week,
            "units": row.units,
            "zone_floors_pct": row.zone_floors_pct,
            "muted_rules": row.muted_rules,
        }
    if as_json:
        print_json(data)
        return
    for key, shown in data.items():
        console.print(f"{key.replace('_', ' ')}: [bold]{shown if shown is not None else '—'}[/]")


def _check_choice(option: str, value: str | None, choices: list[str]) -> None:
    if value is not None and value not in choices:
        raise typer.BadParameter(
            f"{value!r}: choose one of {', '.join(choices)}", param_hint=option
        )
