"""The JSON API under ``/api``: everything the pages show, for scripts and the dashboard.

Every route takes `current_athlete` and reads or writes only that athlete's rows; an id that
belongs to someone else answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pandas as pd
from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from analysis.load import parse_zone_floors
from analysis.model import PainArea
from analysis.rules import RULE_IDS
from store import models
from store.accounts import ApiToken, User
from strideguard.analysis_service import local_today
from strideguard.units import plain
from strideguard.web import data
from strideguard.web.auth import (
    AccountError,
    AthleteDep,
    clear_session_cookie,
    core_app,
    create_api_token,
    verify_password,
)
from strideguard.web.common import (
    DB,
    IdPath,
    activity_dict,
    analysis_now,
    athlete_row,
    commit_with_analysis,
    current_findings,
    finding_dict,
    not_found,
    own_activity,
    responses,
)

router = APIRouter(prefix="/api", tags=["api"])

Sex = Literal["male", "female", "unspecified"]
Units = Literal["km", "mi"]
RuleId = Literal[RULE_IDS]  # type: ignore[valid-type]
TimeZone = Literal[tuple(sorted(available_timezones()))]  # type: ignore[valid-type]
"""IANA zone names, listed in the OpenAPI document so clients know what is accepted."""


# -- models --------------------------------------------------------------------------------------


class ActivityOut(BaseModel):
    id: int
    source: str
    sport: str
    sub_sport: str | None
    start: datetime
    local_date: date
    distance_m: float | None
    moving_s: float | None
    elapsed_s: float
    ascent_m: float | None
    avg_hr: float | None
    max_hr: float | None
    load: float | None
    load_method: str | None
    rpe: float | None
    partial: bool
    device: str | None


class ActivityDetailOut(ActivityOut):
    zone_minutes: list[float] | None
    derived: dict[str, Any] | None
    findings: list[FindingOut]


class FindingOut(BaseModel):
    id: int
    rule_id: str
    subject: str
    date: date
    severity: str
    evidence_grade: str
    message: str
    action: str
    inputs: dict[str, Any]
    thresholds: dict[str, Any]
    citation: str
    exercises: list[str]


ActivityDetailOut.model_rebuild()


class DailyRow(BaseModel):
    date: date
    load: float | None
    ctl: float | None
    atl: float | None
    tsb: float | None
    acwr_ewma: float | None
    acwr_uncoupled: float | None
    monotony: float | None
    strain: float | None
    run_km: float | None


class WeeklyRow(BaseModel):
    week: date
    run_km: float | None
    run_count: float | None
    load: float | None
    longest_run_km: float | None
    strength_sessions: float | None
    surface_hard_share: float | None
    surface_coverage: float | None


class CeilingOut(BaseModel):
    as_of: date
    window_days: int
    factor: float
    longest_km: float | None
    ceiling_km: float | None
    longest_activity_id: int | None
    longest_date: date | None


class ProfileOut(BaseModel):
    email: str
    display_name: str
    sex: Sex
    hr_max: float | None
    hr_rest: float | None
    time_zone: str
    units: Units
    strength_goal_per_week: int
    zone_floors_pct: list[float] | None
    muted_rules: list[str]


class ProfileIn(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    sex: Sex | None = None
    hr_max: float | None = Field(default=None, ge=100, le=230)
    hr_rest: float | None = Field(default=None, ge=25, le=100)
    time_zone: TimeZone | None = None  # type: ignore[valid-type]
    units: Units | None = None
    strength_goal_per_week: int | None = Field(default=None, ge=0, le=14)
    zone_floors_pct: list[Annotated[float, Field(ge=30, le=100)]] | None = Field(
        default=None,
        min_length=5,
        max_length=5,
        json_schema_extra={"uniqueItems": True},
        description=(
            "Own HR zones: the Z1-Z5 floors in % of HR max, in any order (they are sorted); "
            "null resets to 50/60/70/80/90."
        ),
    )
    muted_rules: list[RuleId] | None = None


class StrengthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(ge=1, le=600)
    local_date: date | None = None
    note: str | None = Field(default=None, max_length=500)


class StrengthOut(BaseModel):
    id: int
    local_date: date
    minutes: float
    note: str | None


class PainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area: PainArea
    score: int = Field(ge=0, le=10)
    local_date: date | None = None


class PainOut(BaseModel):
    id: int
    local_date: date
    area: str
    score: int


class RpeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpe: int = Field(ge=1, le=10)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str
    """Shown once: only its hash is stored."""


class DeleteAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class Health(BaseModel):
    status: Literal["ok"]


# -- helpers -------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


FIRST_LOG_DAY = date(1990, 1, 1)


def _check_day(day: date | None, athlete: models.Athlete) -> date:
    """Default today (the athlete's). Bounded: the analysis spans from the oldest record, so
    a log dated in year 1 would make every later analysis walk two thousand years of days."""
    today = local_today(athlete)
    if day is None:
        return today
    if not FIRST_LOG_DAY <= day <= today:
        raise HTTPException(422, "The date must be between 1990-01-01 and today.")
    return day


def profile_out(athlete: models.Athlete, email: str) -> ProfileOut:
    return ProfileOut(
        email=email,
        display_name=athlete.display_name,
        sex=athlete.sex if athlete.sex in get_args(Sex) else "unspecified",  # type: ignore[arg-type]
        hr_max=athlete.hr_max,
        hr_rest=athlete.hr_rest,
        time_zone=athlete.time_zone,
        units="mi" if athlete.units == "mi" else "km",
        strength_goal_per_week=athlete.strength_goal_per_week,
        zone_floors_pct=athlete.zone_floors_pct,
        muted_rules=list(athlete.muted_rules or ()),
    )


def apply_profile(athlete: models.Athlete, change: ProfileIn) -> None:
    """Validate and apply a profile change; one-sentence 422 for what a schema cannot check."""
    fields = change.model_dump(exclude_unset=True)
    if "time_zone" in fields and fields["time_zone"] is not None:
        try:
            ZoneInfo(fields["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise HTTPException(422, "Unknown time zone: use a name like Europe/Oslo.") from None
    hr_max = fields.get("hr_max", athlete.hr_max)
    hr_rest = fields.get("hr_rest", athlete.hr_rest)
    if hr_max is not None and hr_rest is not None and hr_max - hr_rest < 20:
        # 409: each value is valid alone; together (or with the stored one) they conflict.
        raise HTTPException(409, "HR max must be at least 20 bpm above HR rest.")
    if fields.get("zone_floors_pct") is not None:
        try:
            fields["zone_floors_pct"] = sorted(fields["zone_floors_pct"])
            parse_zone_floors(", ".join(str(v) for v in fields["zone_floors_pct"]))
        except ValueError as exc:
            raise HTTPException(422, f"Your zones: {exc}.") from None
    for name, value in fields.items():
        if name == "zone_floors_pct":
            athlete.zone_floors_pct = list(value) if value else None
        elif name == "muted_rules":
            athlete.muted_rules = sorted(set(value or ()))
        elif name in ("hr_max", "hr_rest") or value is not None:
            setattr(athlete, name, value)


# -- routes --------------------------------------------------------------------------------------


@router.get("/activities", response_model=list[ActivityOut], responses=responses(401, 422))
def list_activities(
    account: AthleteDep,
    session: DB,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Activities, newest first."""
    rows = session.scalars(
        select(models.Activity)
        .where(models.Activity.athlete_id == account.athlete_id)
        .order_by(models.Activity.start_utc.desc(), models.Activity.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [activity_dict(r) for r in rows]


@router.get(
    "/activities/{activity_id}",
    response_model=ActivityDetailOut,
    responses=responses(401, 404, 422),
)
def get_activity(activity_id: IdPath, account: AthleteDep, session: DB) -> dict[str, Any]:
    row = own_activity(session, account, activity_id)
    related = [
        finding_dict(f)
        for f in current_findings(session, account.athlete_id)
        if f.subject == f"activity:{row.id}"
    ]
    return activity_dict(row) | {
        "zone_minutes": row.zone_minutes,
        "derived": plain(row.derived),
        "findings": related,
    }


@router.put(
    "/activities/{activity_id}/rpe",
    response_model=ActivityOut,
    responses=responses(401, 403, 404, 422),
)
def set_rpe(activity_id: IdPath, body: RpeIn, account: AthleteDep, session: DB) -> dict[str, Any]:
    """How hard the session felt (1-10); gives a load to activities without heart rate."""
    row = own_activity(session, account, activity_id)
    row.rpe = body.rpe
    commit_with_analysis(session, athlete_row(session, account))
    return activity_dict(row)


@router.get("/findings", response_model=list[FindingOut], responses=responses(401, 422))
def list_findings(
    account: AthleteDep,
    session: DB,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Current findings, newest and most severe first."""
    return [finding_dict(f) for f in current_findings(session, account.athlete_id, limit=limit)]


@router.get("/load/daily", response_model=list[DailyRow], responses=responses(401, 422))
def daily_load(
    account: AthleteDep, session: DB, days: Annotated[int, Query(ge=1, le=3660)] = 182
) -> list[DailyRow]:
    """Daily load, fitness (CTL), fatigue (ATL), form (TSB), ACWR, monotony, strain, run km."""
    result = analysis_now(session, athlete_row(session, account))
    daily = result.analysis.daily.tail(days)
    return [
        DailyRow(
            date=day.date(),
            **{k: _num(row.get(k)) for k in DailyRow.model_fields if k != "date"},
        )
        for day, row in zip(pd.DatetimeIndex(daily.index), daily.to_dict("records"), strict=True)
    ]


@router.get("/load/weekly", response_model=list[WeeklyRow], responses=responses(401, 422))
def weekly_load(
    account: AthleteDep, session: DB, weeks: Annotated[int, Query(ge=1, le=520)] = 26
) -> list[WeeklyRow]:
    """Per local Monday: distance, runs, load, longest run, strength sessions, surfaces."""
    result = analysis_now(session, athlete_row(session, account))
    weekly = result.analysis.weekly.tail(weeks)
    return [
        WeeklyRow(
            week=week.date(),
            **{k: _num(row.get(k)) for k in WeeklyRow.model_fields if k != "week"},
        )
        for week, row in zip(pd.DatetimeIndex(weekly.index), weekly.to_dict("records"), strict=True)
    ]


@router.get("/load/ceiling", response_model=CeilingOut, responses=responses(401))
def ceiling(account: AthleteDep, session: DB) -> CeilingOut:
    """Today's single-run ceiling: 1.10 x the longest run of the last 30 days."""
    c = analysis_now(session, athlete_row(session, account)).analysis.ceiling
    return CeilingOut(
        as_of=c.as_of,
        window_days=c.window_days,
        factor=c.factor,
        longest_km=c.longest_km,
        ceiling_km=c.ceiling_km,
        longest_activity_id=c.longest_activity_id,
        longest_date=c.longest_date,
    )


@router.get("/profile", response_model=ProfileOut, responses=responses(401))
def get_profile(account: AthleteDep, session: DB) -> ProfileOut:
    return profile_out(athlete_row(session, account), account.email)


@router.put("/profile", response_model=ProfileOut, responses=responses(401, 403, 409, 422))
def put_profile(body: ProfileIn, account: AthleteDep, session: DB) -> ProfileOut:
    """Change the profile (only the fields sent); the analysis is redone."""
    athlete = athlete_row(session, account)
    apply_profile(athlete, body)
    commit_with_analysis(session, athlete)
    return profile_out(athlete, account.email)


@router.get("/logs/strength", response_model=list[StrengthOut], responses=responses(401))
def list_strength(account: AthleteDep, session: DB) -> list[StrengthOut]:
    rows = session.scalars(
        select(models.StrengthLog)
        .where(models.StrengthLog.athlete_id == account.athlete_id)
        .order_by(models.StrengthLog.local_date.desc(), models.StrengthLog.id.desc())
    )
    return [
        StrengthOut(id=r.id, local_date=r.local_date, minutes=r.minutes, note=r.note) for r in rows
    ]


@router.post(
    "/logs/strength",
    status_code=201,
    response_model=StrengthOut,
    responses=responses(401, 403, 422),
)
def add_strength(body: StrengthIn, account: AthleteDep, session: DB) -> StrengthOut:
    """Log a strength or mobility session (counts towards the weekly goal)."""
    athlete = athlete_row(session, account)
    row = models.StrengthLog(
        athlete_id=athlete.id,
        local_date=_check_day(body.local_date, athlete),
        minutes=body.minutes,
        note=body.note,
    )
    commit_with_analysis(session, athlete, add=[row])
    return StrengthOut(id=row.id, local_date=row.local_date, minutes=row.minutes, note=row.note)


@router.delete("/logs/strength/{log_id}", status_code=204, responses=responses(401, 403, 404, 422))
def delete_strength(log_id: IdPath, account: AthleteDep, session: DB) -> Response:
    row = session.get(models.StrengthLog, log_id)
    if row is None or row.athlete_id != account.athlete_id:
        raise not_found("This strength session")
    commit_with_analysis(session, athlete_row(session, account), delete=[row])
    return Response(status_code=204)


@router.get("/logs/pain", response_model=list[PainOut], responses=responses(401))
def list_pain(account: AthleteDep, session: DB) -> list[PainOut]:
    rows = session.scalars(
        select(models.PainLog)
        .where(models.PainLog.athlete_id == account.athlete_id)
        .order_by(models.PainLog.local_date.desc(), models.PainLog.id.desc())
    )
    return [PainOut(id=r.id, local_date=r.local_date, area=r.area, score=r.score) for r in rows]


@router.post(
    "/logs/pain", status_code=201, response_model=PainOut, responses=responses(401, 403, 422)
)
def add_pain(body: PainIn, account: AthleteDep, session: DB) -> PainOut:
    """A pain check-in (0-10 at one area); persistent or rising pain is flagged."""
    athlete = athlete_row(session, account)
    row = models.PainLog(
        athlete_id=athlete.id,
        local_date=_check_day(body.local_date, athlete),
        area=body.area,
        score=body.score,
    )
    commit_with_analysis(session, athlete, add=[row])
    return PainOut(id=row.id, local_date=row.local_date, area=row.area, score=row.score)


@router.delete("/logs/pain/{log_id}", status_code=204, responses=responses(401, 403, 404, 422))
def delete_pain(log_id: IdPath, account: AthleteDep, session: DB) -> Response:
    row = session.get(models.PainLog, log_id)
    if row is None or row.athlete_id != account.athlete_id:
        raise not_found("This pain check-in")
    commit_with_analysis(session, athlete_row(session, account), delete=[row])
    return Response(status_code=204)


def _token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@router.get("/tokens", response_model=list[TokenOut], responses=responses(401))
def list_tokens(account: AthleteDep, session: DB) -> list[TokenOut]:
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == account.user_id).order_by(ApiToken.id)
    )
    return [_token_out(r) for r in rows]


@router.post(
    "/tokens", status_code=201, response_model=TokenCreated, responses=responses(401, 403, 422)
)
def add_token(body: TokenIn, account: AthleteDep, session: DB) -> TokenCreated:
    """A personal API token for scripts; the response is the only time it is shown."""
    try:
        row, token = create_api_token(session, account.user_id, body.name)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return TokenCreated(**_token_out(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, responses=responses(401, 403, 404, 422))
def delete_token(token_id: IdPath, account: AthleteDep, session: DB) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != account.user_id:
        raise not_found("This token")
    session.delete(row)
    session.commit()
    return Response(status_code=204)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


@router.get(
    "/export",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "JSON, CSV and FIT files."},
        **responses(401),
    },
)
def export(
    request: Request, account: AthleteDep, session: DB, background: BackgroundTasks
) -> FileResponse:
    """Everything of the athlete: JSON + CSV tables and the original FIT files, in a zip."""
    path = data.export_zip(core_app(request), session, account.athlete_id)
    background.add_task(_remove, path)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"strideguard-export-{datetime.now(UTC).date().isoformat()}.zip",
    )


@router.post("/account/delete", status_code=204, responses=responses(401, 403, 422))
def delete_account(
    request: Request, body: DeleteAccountIn, account: AthleteDep, session: DB
) -> Response:
    """Delete the account and all its data (every row, every stored file); needs the password."""
    user = session.get(User, account.user_id)
    if user is None or not verify_password(user.password_hash, body.password):
        raise HTTPException(403, "The password is not correct.")
    session.close()
    app = core_app(request)
    data.delete_athlete(app, account.athlete_id)
    response = Response(status_code=204)
    clear_session_cookie(response, app)
    return response


health_router = APIRouter()


@health_router.get("/healthz", response_model=Health, tags=["health"])
def healthz(request: Request) -> Health:
    """Liveness and database reachability (no sign-in needed)."""
    with core_app(request).sessions() as session:
        session.execute(select(1))
    return Health(status="ok")
