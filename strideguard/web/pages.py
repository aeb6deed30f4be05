"""Server-rendered pages: first account, sign-in, home, upload, activity, settings, your data.

Pages share the API's queries (`common`) so what a page shows and what ``/api`` returns agree.
Forms post back to the page routes; CSRF is checked centrally by `current_athlete` (signed-in
forms) or `check_anon_csrf` (the two forms shown before sign-in).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, get_args
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from analysis.load import parse_zone_floors
from analysis.model import PainArea
from analysis.rules import RULE_IDS
from store import models
from store.accounts import ApiToken, User
from strideguard.web import data
from strideguard.web.api import ProfileIn, apply_profile
from strideguard.web.auth import (
    SESSION_COOKIE,
    AccountError,
    AthleteDep,
    CurrentAthlete,
    anon_csrf_token,
    authenticate,
    check_anon_csrf,
    clear_login_failures,
    clear_session_cookie,
    core_app,
    create_api_token,
    create_user,
    end_session,
    login_locked_for,
    optional_athlete,
    record_login_failure,
    set_anon_csrf_cookie,
    set_session_cookie,
    start_session,
    user_count,
    verify_password,
)
from strideguard.web.common import (
    DB,
    KM_PER_MILE,
    IdPath,
    activity_dict,
    analysis_now,
    athlete_row,
    commit_with_analysis,
    current_findings,
    finding_dict,
    own_activity,
    render,
)
from strideguard.web.dashboard import activity_charts
from strideguard.web.integrations import settings_context

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
OptText = Annotated[str, Form()]

SAVED = {
    "profile": "Profile saved; the analysis was redone.",
    "strength": "Strength session logged.",
    "pain": "Pain check-in logged.",
    "rpe": "Effort saved.",
    "token-deleted": "Token deleted.",
    "notifications": "Notification settings saved.",
    "strava-disconnected": "Strava is disconnected and its data deleted.",
}
SEVERITIES = ("high", "moderate", "low", "info")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _check_zone(name: str) -> None:
    if name not in available_timezones():
        raise AccountError("Unknown time zone: use a name like Europe/Oslo.")


def _local_path(target: str) -> str:
    """Only same-site paths may be a redirect target (no open redirect via ``?next=``)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _anon_page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    token = anon_csrf_token(request)
    response = render(request, name, None, status_code, csrf_token=token, **context)
    set_anon_csrf_cookie(response, request, token)
    return response


# -- first account, sign-in, sign-out ------------------------------------------------------------


@router.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, session: DB) -> Response:
    """First run only: create the first account (later accounts: `strideguard user create`)."""
    if user_count(session) > 0:
        return _see_other("/login")
    return _anon_page(request, "setup.html", email="", display_name="", time_zone="UTC")


@router.post("/setup", response_class=HTMLResponse)
def setup_submit(
    request: Request,
    session: DB,
    email: Text = "",
    password: Text = "",
    password_again: Text = "",
    display_name: OptText = "",
    time_zone: OptText = "UTC",
    csrf_token: OptText = "",
) -> Response:
    check_anon_csrf(request, csrf_token)
    if user_count(session) > 0:
        return _see_other("/login")
    form = {"email": email, "display_name": display_name, "time_zone": time_zone or "UTC"}
    try:
        if password != password_again:
            raise AccountError("The two passwords differ.")
        _check_zone(form["time_zone"])
        user = create_user(
            session,
            email=email,
            password=password,
            display_name=display_name or None,
            time_zone=form["time_zone"],
            adopt_orphan=True,
        )
    except AccountError as exc:
        return _anon_page(request, "setup.html", 422, error=str(exc), **form)
    cookie = start_session(core_app(request), session, user.id)
    session.commit()
    response = _see_other("/upload")
    set_session_cookie(response, core_app(request), cookie)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    account = await optional_athlete(request)
    if account is not None:
        return _see_other("/")
    app = core_app(request)
    with app.sessions() as session:
        if user_count(session) == 0:
            return _see_other("/setup")
    next_page = _local_path(request.query_params.get("next", "/"))
    return _anon_page(request, "login.html", email="", next_page=next_page)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: DB,
    email: Text = "",
    password: Text = "",
    csrf_token: OptText = "",
    next_page: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    check_anon_csrf(request, csrf_token)
    address = request.client.host if request.client else None
    wait = login_locked_for(session, email, address)
    if wait is not None:
        response = _anon_page(
            request,
            "login.html",
            429,
            email=email,
            next_page=next_page,
            error=f"Too many failed sign-ins: try again in {max(1, wait // 60)} minutes.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate(session, email, password)
    if user is None:
        record_login_failure(session, email, address)
        session.commit()
        return _anon_page(
            request,
            "login.html",
            401,
            email=email,
            next_page=next_page,
            error="The e-mail or password is wrong.",
        )
    clear_login_failures(session, email)
    cookie = start_session(core_app(request), session, user.id)
    session.commit()
    redirect = _see_other(_local_path(next_page))
    set_session_cookie(redirect, core_app(request), cookie)
    return redirect


@router.post("/logout")
def logout(request: Request, account: AthleteDep, session: DB) -> Response:
    end_session(core_app(request), session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = _see_other("/login")
    clear_session_cookie(response, core_app(request))
    return response


# -- home and activities -------------------------------------------------------------------------


def _distance(metres: float | None, units: str) -> str:
    if metres is None:
        return "—"
    km = metres / 1000
    return f"{km / KM_PER_MILE:.2f} mi" if units == "mi" else f"{km:.2f} km"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _activity_view(row: models.Activity, units: str) -> dict[str, Any]:
    item = activity_dict(row)
    item["distance"] = _distance(row.distance_m, units)
    item["duration"] = _duration(row.moving_s or row.elapsed_s)
    item["when"] = item["start"].strftime("%Y-%m-%d %H:%M")
    return item


@router.get("/", response_class=HTMLResponse)
def home(request: Request, account: AthleteDep, session: DB) -> Response:
    athlete = athlete_row(session, account)
    result = analysis_now(session, athlete)
    session.commit()
    findings = [finding_dict(f) for f in current_findings(session, athlete.id, limit=50)]
    rows = session.scalars(
        select(models.Activity)
        .where(models.Activity.athlete_id == athlete.id)
        .order_by(models.Activity.start_utc.desc(), models.Activity.id.desc())
        .limit(30)
    )
    activities = [_activity_view(r, athlete.units) for r in rows]
    ceiling = result.analysis.ceiling.ceiling_km
    return render(
        request,
        "home.html",
        account,
        athlete=athlete,
        findings=findings,
        activities=activities,
        ceiling=None if ceiling is None else _distance(ceiling * 1000, athlete.units),
    )


@router.get("/activities/{activity_id}", response_class=HTMLResponse)
def activity_page(
    request: Request, activity_id: IdPath, account: AthleteDep, session: DB
) -> Response:
    athlete = athlete_row(session, account)
    row = own_activity(session, account, activity_id)
    findings = [
        finding_dict(f)
        for f in current_findings(session, athlete.id)
        if f.subject == f"activity:{row.id}"
    ]
    return render(
        request,
        "activity.html",
        account,
        activity=_activity_view(row, athlete.units),
        findings=findings,
        charts=activity_charts(core_app(request), session, row, athlete.units),
    )


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, account: AthleteDep) -> Response:
    limit_mb = core_app(request).settings.max_upload_mb
    return render(request, "upload.html", account, limit_mb=f"{limit_mb:.0f}")


# -- settings ------------------------------------------------------------------------------------


def _settings_page(
    request: Request,
    account: CurrentAthlete,
    session: DB,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    athlete = athlete_row(session, account)
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == account.user_id).order_by(ApiToken.id)
        )
    )
    recent = session.scalars(
        select(models.Activity)
        .where(models.Activity.athlete_id == athlete.id)
        .order_by(models.Activity.start_utc.desc())
        .limit(20)
    )
    saved = request.query_params.get("saved")
    extra.setdefault("flash", SAVED.get(saved or ""))
    extra.setdefault("new_token", None)
    extra = settings_context(request, session, account) | extra
    return render(
        request,
        "settings.html",
        account,
        status_code,
        athlete=athlete,
        tokens=tokens,
        rules=RULE_IDS,
        pain_areas=get_args(PainArea),
        recent=[_activity_view(r, athlete.units) for r in recent],
        **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, account: AthleteDep, session: DB) -> Response:
    return _settings_page(request, account, session)


def _float_or_none(text: str, label: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise AccountError(f"{label} must be a number.") from None


@router.post("/settings/profile", response_class=HTMLResponse)
async def settings_profile(request: Request, account: AthleteDep, session: DB) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        if fields.get("time_zone"):
            _check_zone(fields["time_zone"])
        change = ProfileIn(
            display_name=fields.get("display_name") or None,
            sex=fields.get("sex") or "unspecified",  # type: ignore[arg-type]
            hr_max=_float_or_none(fields.get("hr_max", ""), "HR max"),
            hr_rest=_float_or_none(fields.get("hr_rest", ""), "HR rest"),
            time_zone=fields.get("time_zone") or None,
            units=fields.get("units") or "km",  # type: ignore[arg-type]
            strength_goal_per_week=int(
                _float_or_none(fields.get("strength_goal", "2"), "The strength goal") or 0
            ),
            muted_rules=[r for r in form.getlist("muted") if isinstance(r, str)],
        )
        if "zones" in fields:
            try:
                floors = parse_zone_floors(fields["zones"])
            except ValueError as exc:
                raise AccountError(f"Your zones: {exc}.") from None
            change.zone_floors_pct = list(floors) if floors else None
        athlete = athlete_row(session, account)
        apply_profile(athlete, change)
    except AccountError as exc:
        return _settings_page(request, account, session, 422, error=str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).replace("_", " ")
        return _settings_page(
            request, account, session, 422, error=f"Please check {field}: {first['msg']}."
        )
    except HTTPException as exc:
        return _settings_page(request, account, session, exc.status_code, error=str(exc.detail))
    commit_with_analysis(session, athlete)
    return _see_other("/settings?saved=profile")


def _day(text: str, athlete: models.Athlete) -> date:
    from strideguard.analysis_service import local_today

    today = local_today(athlete)
    if not text.strip():
        return today
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise AccountError("The date must look like 2026-11-26.") from None
    if day > today or day.year < 1990:
        raise AccountError("The date must be between 1990 and today.")
    return day


@router.post("/settings/strength", response_class=HTMLResponse)
def settings_strength(
    request: Request,
    account: AthleteDep,
    session: DB,
    minutes: Text = "",
    on: OptText = "",
    note: OptText = "",
) -> Response:
    athlete = athlete_row(session, account)
    try:
        value = _float_or_none(minutes, "Minutes")
        if value is None or not 1 <= value <= 600:
            raise AccountError("Minutes must be between 1 and 600.")
        if len(note) > 500:
            raise AccountError("The note must be at most 500 characters.")
        day = _day(on, athlete)
    except AccountError as exc:
        return _settings_page(request, account, session, 422, error=str(exc))
    log = models.StrengthLog(
        athlete_id=athlete.id, local_date=day, minutes=value, note=note.strip() or None
    )
    commit_with_analysis(session, athlete, add=[log])
    return _see_other("/settings?saved=strength")


@router.post("/settings/pain", response_class=HTMLResponse)
def settings_pain(
    request: Request,
    account: AthleteDep,
    session: DB,
    area: Text = "",
    score: Text = "",
    on: OptText = "",
) -> Response:
    athlete = athlete_row(session, account)
    try:
        if area not in get_args(PainArea):
            raise AccountError("Choose where it hurts from the list.")
        if not score.strip().isdigit() or not 0 <= int(score) <= 10:
            raise AccountError("The pain score must be a whole number from 0 to 10.")
        day = _day(on, athlete)
    except AccountError as exc:
        return _settings_page(request, account, session, 422, error=str(exc))
    pain = models.PainLog(athlete_id=athlete.id, local_date=day, area=area, score=int(score))
    commit_with_analysis(session, athlete, add=[pain])
    return _see_other("/settings?saved=pain")


@router.post("/settings/rpe", response_class=HTMLResponse)
def settings_rpe(
    request: Request,
    account: AthleteDep,
    session: DB,
    activity_id: Text = "",
    rpe: Text = "",
) -> Response:
    if not activity_id.strip().isdigit():
        return _settings_page(request, account, session, 422, error="Choose an activity.")
    row = own_activity(session, account, int(activity_id))
    if not rpe.strip().isdigit() or not 1 <= int(rpe) <= 10:
        return _settings_page(
            request, account, session, 422, error="The effort must be a whole number from 1 to 10."
        )
    row.rpe = int(rpe)
    commit_with_analysis(session, athlete_row(session, account))
    return _see_other("/settings?saved=rpe")


@router.post("/settings/tokens", response_class=HTMLResponse)
def settings_token_create(
    request: Request, account: AthleteDep, session: DB, name: Text = ""
) -> Response:
    try:
        _row, token = create_api_token(session, account.user_id, name)
    except AccountError as exc:
        return _settings_page(request, account, session, 422, error=str(exc))
    session.commit()
    return _settings_page(request, account, session, new_token=token)


@router.post("/settings/tokens/{token_id}/delete", response_class=HTMLResponse)
def settings_token_delete(
    request: Request, token_id: IdPath, account: AthleteDep, session: DB
) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != account.user_id:
        raise HTTPException(404, "This token was not found.")
    session.delete(row)
    session.commit()
    return _see_other("/settings?saved=token-deleted")


# -- your data -----------------------------------------------------------------------------------


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, account: AthleteDep, session: DB) -> Response:
    counts = {
        "activities": len(
            session.scalars(
                select(models.Activity.id).where(models.Activity.athlete_id == account.athlete_id)
            ).all()
        ),
        "files": len(
            session.scalars(
                select(models.RawFile.id).where(models.RawFile.athlete_id == account.athlete_id)
            ).all()
        ),
    }
    return render(request, "data.html", account, counts=counts)


@router.post("/data/delete", response_class=HTMLResponse)
def data_delete(
    request: Request, account: AthleteDep, session: DB, password: Text = ""
) -> Response:
    user = session.get(User, account.user_id)
    if user is None or not verify_password(user.password_hash, password):
        counts = {"activities": None, "files": None}
        return render(
            request,
            "data.html",
            account,
            403,
            counts=counts,
            error="The password is not correct; nothing was deleted.",
        )
    session.close()
    app = core_app(request)
    data.delete_athlete(app, account.athlete_id)
    response = render(request, "deleted.html", None)
    clear_session_cookie(response, app)
    return response
