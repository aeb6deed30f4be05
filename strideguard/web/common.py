"""What pages and API routes share: the database session, templates, error shapes, queries."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from datetime import timedelta, timezone
from pathlib import Path as FsPath
from typing import Annotated, Any

import jinja2
from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from store import models
from strideguard.analysis_service import AthleteAnalysis, analyse_athlete, local_today
from strideguard.units import plain
from strideguard.web.auth import CurrentAthlete, core_app

HERE = FsPath(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every user-supplied string is escaped, in every template
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SEVERITY_RANK = {"high": 3, "moderate": 2, "low": 1, "info": 0}
KM_PER_MILE = 1.609344


def db_session(request: Request) -> Iterator[Session]:
    """A session per request; routes that write call ``commit()`` themselves."""
    with core_app(request).sessions() as session:
        yield session


DB = Annotated[Session, Depends(db_session)]

MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id (32-bit, positive).")]
"""Ids in paths: bounded, so a huge number is a 422 rather than a database overflow."""


class ErrorOut(BaseModel):
    """Every error the API returns: one sentence for a person to read."""

    detail: str


_ERROR_TEXT = {
    400: "The request was malformed.",
    401: "Not signed in, or the API token is not valid.",
    403: "Missing or wrong CSRF token.",
    404: "Not found (or not yours).",
    409: "The values conflict with each other or with the stored profile.",
    413: "The upload is larger than the limit.",
    422: "A value is missing or out of range.",
    429: "Too many failed sign-ins: wait and retry.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return."""
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


def not_found(what: str = "This item") -> HTTPException:
    return HTTPException(404, f"{what} was not found.")


def render(
    request: Request,
    name: str,
    account: CurrentAthlete | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page; the CSRF token for its forms comes from the session (or the caller)."""
    context.setdefault("csrf_token", account.csrf_token if account else "")
    context.setdefault("flash", None)
    context.setdefault("error", None)
    html = templates.get_template(name).render(account=account, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)


# -- queries -------------------------------------------------------------------------------------


def athlete_row(session: Session, account: CurrentAthlete) -> models.Athlete:
    row = session.get(models.Athlete, account.athlete_id)
    if row is None:  # deleted while signed in
        raise HTTPException(401, "This account no longer exists.")
    return row


def own_activity(session: Session, account: CurrentAthlete, activity_id: int) -> models.Activity:
    """The activity if it belongs to the signed-in athlete; 404 otherwise (never 'not yours')."""
    row = session.get(models.Activity, activity_id)
    if row is None or row.athlete_id != account.athlete_id:
        raise not_found("This activity")
    return row


def analysis_now(session: Session, athlete: models.Athlete) -> AthleteAnalysis:
    """The analysis as of the athlete's today (the caller decides whether to commit)."""
    return analyse_athlete(session, athlete, as_of=local_today(athlete))


def commit_with_analysis(
    session: Session,
    athlete: models.Athlete,
    *,
    add: Sequence[object] = (),
    delete: Sequence[object] = (),
) -> AthleteAnalysis:
    """Apply a change the rules depend on, re-run the analysis, and commit both at once.

    Logs, RPE and profile edits all change findings; committing them together means a page
    never shows a log without its consequences (or findings about a deleted log).
    """
    for row in add:
        session.add(row)
    for row in delete:
        session.delete(row)
    session.flush()
    result = analysis_now(session, athlete)
    session.commit()
    return result


def current_findings(
    session: Session, athlete_id: int, *, limit: int | None = None
) -> list[models.Finding]:
    """Newest first, then most severe first."""
    rank = case(SEVERITY_RANK, value=models.Finding.severity, else_=-1)
    query = (
        select(models.Finding)
        .where(models.Finding.athlete_id == athlete_id)
        .order_by(
            models.Finding.local_date.desc(), rank.desc(), models.Finding.rule_id, models.Finding.id
        )
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def finding_dict(row: models.Finding) -> dict[str, Any]:
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "subject": row.subject,
        "date": row.local_date,
        "severity": row.severity,
        "evidence_grade": row.evidence_grade,
        "message": row.message,
        "action": row.action,
        "inputs": plain(row.inputs),
        "thresholds": plain(row.thresholds),
        "citation": row.citation,
        "exercises": list(row.exercises),
    }


def activity_dict(row: models.Activity) -> dict[str, Any]:
    local = row.start_utc.astimezone(timezone(timedelta(seconds=row.local_offset_s)))
    return {
        "id": row.id,
        "source": row.source.value,
        "sport": row.sport,
        "sub_sport": row.sub_sport,
        "start": local,
        "local_date": row.local_date,
        "distance_m": row.distance_m,
        "moving_s": row.moving_s,
        "elapsed_s": row.elapsed_s,
        "ascent_m": row.ascent_m,
        "avg_hr": row.avg_hr,
        "max_hr": row.max_hr,
        "load": row.load,
        "load_method": row.load_method,
        "rpe": row.rpe,
        "partial": row.partial,
        "device": row.device,
    }


def clean_filename(name: str | None) -> str:
    """A display name from a client-supplied file name: base name only, no control chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = base.strip().lstrip(".") or "unnamed"
    return base[:200]
