"""The signed one-click links of e-mails and pushes: ``GET /l/{token}`` confirms, ``POST`` acts.

The link itself is the credential (the recipient may not be signed in on this device), so these
routes are public by design and act only for the athlete named inside the signed token.

- ``GET`` never changes anything (mail scanners and link previews fetch links): it verifies the
  token and shows a confirmation page (the pain check-in: its form).
- ``POST`` needs a *form token* instead of the session's CSRF token: an HMAC (itsdangerous,
  timestamped, its own salt) over the sha256 of this link's token, put into the confirmation
  form. Only someone who saw the page of this very link can post it back, within
  `FORM_MAX_AGE`; another site cannot forge it (it knows neither the link nor the secret), and
  a form token of one link does not work for another.
- RFC 8058 one-click unsubscribe: mail clients ``POST`` ``List-Unsubscribe=One-Click`` to the
  unsubscribe link with no form token; that body is accepted for unsubscribe links only.
- Tampered or malformed links: 400; expired ones: 410; both as a page, never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alerts.links import LinkAction, LinkClaim, LinkError, LinkExpiredError
from analysis.model import PainArea
from analysis.rules import RULE_IDS
from store import models
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.cli_alerts import link_signer, settings_for
from strideguard.instance_secret import secret_key
from strideguard.web.auth import core_app
from strideguard.web.common import render

router = APIRouter(include_in_schema=False)

FORM_FIELD = "form_token"
FORM_MAX_AGE = 3600
ONE_CLICK = "One-Click"
DEFAULT_STRENGTH_MINUTES = 20
MAX_TOKEN = 2000

Token = Annotated[str, Path(min_length=1, max_length=MAX_TOKEN)]

_TITLES = {
    LinkAction.LOG_STRENGTH: "Log a strength session",
    LinkAction.PAIN_CHECKIN: "Pain check-in",
    LinkAction.UNSUBSCRIBE: "Unsubscribe from e-mail",
    LinkAction.MUTE_RULE: "Mute this kind of alert",
}


class _Refused(Exception):
    def __init__(self, status_code: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.heading, self.message = status_code, heading, message


def _serializer(app: App) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(app.settings), salt="strideguard.web.link-form.v1")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def form_token(app: App, link_token: str) -> str:
    """The token a confirmation form of this link carries back."""
    return str(_serializer(app).dumps(_digest(link_token)))


def _form_token_ok(app: App, link_token: str, sent: str | None) -> bool:
    if not sent:
        return False
    try:
        bound = _serializer(app).loads(sent, max_age=FORM_MAX_AGE)
    except (SignatureExpired, BadSignature):
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, _digest(link_token))


def _verify(app: App, token: str, session: Session) -> tuple[LinkClaim, models.Athlete]:
    try:
        signer = link_signer(app)
    except ValueError:
        raise _Refused(
            503, "Links are not available", "The server's secret key is too short for links."
        ) from None
    try:
        claim = signer.verify(token, now=datetime.now(UTC))
    except LinkExpiredError:
        raise _Refused(
            410,
            "This link has expired",
            "Links in our messages work for a limited time. Sign in to do this in Settings, "
            "or use the link in a newer message.",
        ) from None
    except LinkError:
        raise _Refused(
            400,
            "This link is not valid",
            "The link may have been cut off or altered. Copy the whole link from the message, "
            "or sign in and use Settings.",
        ) from None
    athlete = session.get(models.Athlete, claim.athlete_id)
    if athlete is None:
        raise _Refused(410, "This link has expired", "The account it was for no longer exists.")
    if claim.action is LinkAction.MUTE_RULE and claim.rule_id not in RULE_IDS:
        raise _Refused(400, "This link is not valid", "It names an alert that does not exist.")
    return claim, athlete


def _page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("done", None)
    context.setdefault("form_token", "")
    context.setdefault("pain_areas", get_args(PainArea))
    context.setdefault("default_minutes", DEFAULT_STRENGTH_MINUTES)
    response = render(request, "link.html", None, status_code, **context)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: Request, refused: _Refused) -> HTMLResponse:
    response = render(
        request,
        "error.html",
        None,
        refused.status_code,
        heading=refused.heading,
        message=refused.message,
        code=refused.status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/l/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: Token) -> Response:
    """Confirm what the link will do (nothing changes on GET)."""
    app = core_app(request)
    with app.sessions() as session:
        try:
            claim, athlete = _verify(app, token, session)
        except _Refused as refused:
            return _refused(request, refused)
        return _page(
            request,
            title=_TITLES[claim.action],
            action=claim.action.value,
            rule_id=claim.rule_id,
            athlete_name=athlete.display_name,
            token=token,
            form_token=form_token(app, token),
        )


def _minutes(text: str) -> float:
    try:
        value = float(text.strip()) if text.strip() else float(DEFAULT_STRENGTH_MINUTES)
    except ValueError:
        raise _Refused(422, "Please check the minutes", "Minutes must be a number.") from None
    if not 1 <= value <= 600:
        raise _Refused(422, "Please check the minutes", "Minutes must be between 1 and 600.")
    return value


def _act(session: Session, claim: LinkClaim, athlete: models.Athlete, form: dict[str, str]) -> str:
    """Do what the link says; returns the sentence to show."""
    today = local_today(athlete)
    if claim.action is LinkAction.UNSUBSCRIBE:
        settings = settings_for(session, athlete)
        if settings.unsubscribed_at is None:
            settings.unsubscribed_at = datetime.now(UTC)
            settings.updated_at = datetime.now(UTC)
        return (
            "You are unsubscribed: no more e-mail from Strideguard. "
            "Tick “E-mail” in Settings to receive it again."
        )
    if claim.action is LinkAction.LOG_STRENGTH:
        minutes = _minutes(form.get("minutes", ""))
        session.add(
            models.StrengthLog(
                athlete_id=athlete.id, local_date=today, minutes=minutes, note="logged from a link"
            )
        )
        done = f"Logged a {minutes:g}-minute strength session for {today:%A %d %B}. Well done!"
    elif claim.action is LinkAction.PAIN_CHECKIN:
        area, score = form.get("area", ""), form.get("score", "").strip()
        if area not in get_args(PainArea):
            raise _Refused(422, "Please check the form", "Choose where it hurts from the list.")
        if not score.isdigit() or not 0 <= int(score) <= 10:
            raise _Refused(
                422, "Please check the form", "The pain score must be a whole number from 0 to 10."
            )
        session.add(
            models.PainLog(athlete_id=athlete.id, local_date=today, area=area, score=int(score))
        )
        done = "Thank you: your pain check-in is logged."
        if int(score) >= 4:
            done += " If it persists or gets worse, see a physiotherapist."
    else:
        rule = claim.rule_id or ""
        muted = list(athlete.muted_rules or [])
        if rule not in muted:
            athlete.muted_rules = [*muted, rule]
        done = f"Muted: you will no longer get “{rule}” alerts. Unmute it in Settings."
    session.flush()
    analyse_athlete(session, athlete, as_of=today)
    return done


@router.post("/l/{token}", response_class=HTMLResponse)
async def link_action(request: Request, token: Token) -> Response:
    """Do what the link says (with the form token of its page, or RFC 8058 one-click)."""
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    return await run_in_threadpool(_post, request, token, form)


def _post(request: Request, token: str, form: dict[str, str]) -> Response:
    app = core_app(request)
    one_click = form.get("List-Unsubscribe") == ONE_CLICK
    with app.sessions() as session:
        try:
            claim, athlete = _verify(app, token, session)
            if one_click and claim.action is LinkAction.UNSUBSCRIBE:
                _act(session, claim, athlete, form)
                session.commit()
                return PlainTextResponse("Unsubscribed.", headers={"Cache-Control": "no-store"})
            if not _form_token_ok(app, token, form.get(FORM_FIELD)):
                raise _Refused(
                    403,
                    "Please confirm again",
                    "This form expired or did not come from this link's page. "
                    "Open the link again and confirm.",
                )
            done = _act(session, claim, athlete, form)
            session.commit()
        except _Refused as refused:
            session.rollback()
            return _refused(request, refused)
        return _page(
            request, title=_TITLES[claim.action], action=claim.action.value, done=done, token=token
        )
