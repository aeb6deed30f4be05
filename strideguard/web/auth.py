"""Accounts, sessions, CSRF, login throttling and API tokens.

Design (why it looks like this):

- Passwords: argon2id (argon2-cffi defaults). Unknown e-mails still cost one hash, so response
  time does not tell which addresses have accounts.
- Browser sessions: a random 256-bit id, signed with itsdangerous (timestamped, so an old cookie
  fails even before the database is asked) in an HttpOnly, SameSite=Lax cookie. The database
  keeps only its sha256 plus an expiry, so signing out (or deleting the account) really ends it.
- CSRF: session-bound. Each session row holds a random CSRF token; every unsafe request made with
  the cookie must echo it, in the ``csrf_token`` form field (pages) or the ``X-CSRF-Token`` header
  (the upload page's JavaScript, API calls from the browser). Forms shown before sign-in (login,
  first account) use a signed double-submit cookie instead. Bearer-token requests need no CSRF
  token: browsers never attach those on their own.
- Login throttling lives in the database (``login_throttle``), so every web worker sees the same
  counts: per e-mail and per client address, a burst of failures locks further tries for a while.
- API tokens: ``sg_`` + 256 random bits, stored as sha256 (nothing to brute-force), shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from store.accounts import ApiToken, LoginThrottle, User, WebSession
from store.models import Athlete
from strideguard.app import App
from strideguard.instance_secret import secret_key

SESSION_COOKIE = "sg_session"
ANON_CSRF_COOKIE = "sg_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOKEN_PREFIX = "sg_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "strideguard-demo"

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, only spends the same time")

# Security schemes, declared so the OpenAPI document says how to authenticate.
bearer_scheme = HTTPBearer(auto_error=False, description="A personal API token: `sg_...`.")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Browser session.")


class AccountError(ValueError):
    """A problem with what the user typed, as one sentence they can act on."""


# -- passwords and users -----------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    cleaned = email.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise AccountError("Please enter a valid e-mail address.")
    return cleaned


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password must be at least {MIN_PASSWORD} characters long.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"The password must be at most {MAX_PASSWORD} characters long.")


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def _free_handle(session: Session, email: str) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", email.split("@", 1)[0]).strip("-")[:48] or "athlete"
    handle, n = base, 1
    while session.scalar(select(Athlete.id).where(Athlete.handle == handle)) is not None:
        n += 1
        handle = f"{base}-{n}"
    return handle


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    time_zone: str | None = None,
    athlete_id: int | None = None,
    adopt_orphan: bool = False,
) -> User:
    """A new account with its athlete (or for ``athlete_id``); flushes, does not commit.

    ``adopt_orphan``: if exactly one athlete exists and it has no account (data imported with
    the CLI before the web app was used), the new account takes it over instead of starting
    empty.
    """
    address = normalise_email(email)
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError("An account with this e-mail address already exists.")
    if athlete_id is None and adopt_orphan:
        athletes = session.scalars(select(Athlete.id).limit(2)).all()
        if (
            len(athletes) == 1
            and session.scalar(select(User.id).where(User.athlete_id == athletes[0])) is None
        ):
            athlete_id = athletes[0]
    if athlete_id is None:
        athlete = Athlete(
            handle=_free_handle(session, address),
            display_name=(display_name or address.split("@", 1)[0]).strip()[:200],
            time_zone=time_zone or "UTC",
        )
        session.add(athlete)
        session.flush()
        athlete_id = athlete.id
    else:
        if session.get(Athlete, athlete_id) is None:
            raise AccountError(f"There is no athlete {athlete_id}.")
        if session.scalar(select(User.id).where(User.athlete_id == athlete_id)) is not None:
            raise AccountError("This athlete already has an account.")
    user = User(email=address, password_hash=hash_password(password), athlete_id=athlete_id)
    session.add(user)
    session.flush()
    return user


def ensure_demo_user(app: App, athlete_id: int) -> tuple[str, str]:
    """Give the demo athlete an account (replacing an older demo account); (email, password).

    The demo recreates its athlete on every run, which cascades the old account away; this
    makes a fresh one so the demo can sign in to the web app right after ``strideguard demo``.
    """
    with app.sessions.begin() as session:
        old = session.scalar(select(User).where(User.email == DEMO_EMAIL))
        if old is not None and old.athlete_id != athlete_id:
            session.delete(old)
            session.flush()
            old = None
        if old is None:
            create_user(session, email=DEMO_EMAIL, password=DEMO_PASSWORD, athlete_id=athlete_id)
        else:
            old.password_hash = hash_password(DEMO_PASSWORD)
    return DEMO_EMAIL, DEMO_PASSWORD


# -- secrets and signing -----------------------------------------------------------------------


def _serializer(app: App, salt: str) -> URLSafeTimedSerializer:
    key = app.__dict__.get("_web_secret")
    if key is None:
        key = app.__dict__["_web_secret"] = secret_key(app.settings)
    return URLSafeTimedSerializer(key, salt=salt)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def core_app(request: Request) -> App:
    """The `App` this web app was created with."""
    core: App = request.app.state.core
    return core


# -- sessions ------------------------------------------------------------------------------------


def start_session(app: App, session: Session, user_id: int) -> str:
    """Store a new browser session; returns the signed cookie value (caller commits)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            user_id=user_id,
            token_hash=_digest(token),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=_now() + timedelta(hours=app.settings.session_hours),
        )
    )
    return _serializer(app, "session").dumps(token)


def set_session_cookie(response: Response, app: App, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(app.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=app.settings.cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response, app: App) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=app.settings.cookie_secure, path="/"
    )


def _session_token(app: App, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        token = _serializer(app, "session").loads(
            cookie, max_age=int(app.settings.session_hours * 3600)
        )
    except (SignatureExpired, BadSignature):
        return None
    return token if isinstance(token, str) else None


def end_session(app: App, session: Session, cookie: str | None) -> None:
    token = _session_token(app, cookie)
    if token is not None:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
        if row is not None:
            session.delete(row)


# -- who is asking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentAthlete:
    """The signed-in account: every page and API route reads data only for ``athlete_id``."""

    athlete_id: int
    user_id: int
    email: str
    via: Literal["session", "token"]
    csrf_token: str | None
    """The session's CSRF token (None for API-token requests)."""


class SignInRequired(HTTPException):
    """401 for the API; pages turn it into a redirect to the sign-in page."""

    def __init__(self, detail: str = "Please sign in first.") -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _lookup(app: App, bearer: str | None, cookie: str | None) -> CurrentAthlete | None:
    now = _now()
    with app.sessions() as session:
        if bearer is not None:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(bearer)))
            if row is None:
                raise SignInRequired("This API token is not valid.")
            user = session.get(User, row.user_id)
            if user is None:
                raise SignInRequired("This API token is not valid.")
            # One write a minute at most: a busy script must not turn every read into a write.
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                row.last_used_at = now
                session.commit()
            return CurrentAthlete(user.athlete_id, user.id, user.email, "token", None)
        token = _session_token(app, cookie)
        if token is None:
            return None
        found = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _digest(token))
        ).first()
        if found is None:
            return None
        web_session, user = found[0], found[1]
        if web_session.expires_at <= now:
            session.delete(web_session)
            session.commit()
            return None
        return CurrentAthlete(
            user.athlete_id, user.id, user.email, "session", web_session.csrf_token
        )


async def optional_athlete(request: Request) -> CurrentAthlete | None:
    """The signed-in account, or None (pages that also work signed out)."""
    app = core_app(request)
    header = request.headers.get("authorization")
    bearer: str | None = None
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise SignInRequired("Use 'Authorization: Bearer <token>'.")
        bearer = value.strip()
    return await run_in_threadpool(_lookup, app, bearer, request.cookies.get(SESSION_COOKIE))


async def current_athlete(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> CurrentAthlete:
    """The signed-in account (401 if none); unsafe cookie requests must carry the CSRF token."""
    account = await optional_athlete(request)
    if account is None:
        raise SignInRequired()
    if request.method in _UNSAFE and account.via == "session":
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and not request.url.path.startswith("/api/"):
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                value = (await request.form()).get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
        if not sent or not hmac.compare_digest(sent, account.csrf_token or ""):
            raise HTTPException(403, "The form expired or came from another site: please retry.")
    return account


AthleteDep = Annotated[CurrentAthlete, Depends(current_athlete)]


# -- CSRF before sign-in (double-submit, signed) ------------------------------------------------


def anon_csrf_token(request: Request) -> str:
    """The token for a signed-out form: the one in the cookie if valid, else a new one."""
    app = core_app(request)
    cookie = request.cookies.get(ANON_CSRF_COOKIE)
    if cookie:
        try:
            value = _serializer(app, "anon-csrf").loads(cookie, max_age=86400)
            if isinstance(value, str):
                return value
        except (SignatureExpired, BadSignature):
            pass
    return secrets.token_urlsafe(32)


def set_anon_csrf_cookie(response: Response, request: Request, token: str) -> None:
    app = core_app(request)
    response.set_cookie(
        ANON_CSRF_COOKIE,
        _serializer(app, "anon-csrf").dumps(token),
        max_age=86400,
        httponly=True,
        samesite="lax",
        secure=app.settings.cookie_secure,
        path="/",
    )


def check_anon_csrf(request: Request, sent: str | None) -> None:
    app = core_app(request)
    cookie = request.cookies.get(ANON_CSRF_COOKIE)
    expected: object = None
    if cookie:
        try:
            expected = _serializer(app, "anon-csrf").loads(cookie, max_age=86400)
        except (SignatureExpired, BadSignature):
            expected = None
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "The form expired or came from another site: please retry.")


# -- login throttling ----------------------------------------------------------------------------


def _throttle_keys(email: str, address: str | None) -> list[tuple[str, int]]:
    return [
        (_digest(f"email:{email.strip().lower()}"), MAX_FAILURES_PER_EMAIL),
        (_digest(f"ip:{address or 'unknown'}"), MAX_FAILURES_PER_ADDRESS),
    ]


def login_locked_for(session: Session, email: str, address: str | None) -> int | None:
    """Seconds until sign-in may be tried again for this e-mail/address, or None."""
    now = _now()
    waits = [
        (row.locked_until - now).total_seconds()
        for key, _ in _throttle_keys(email, address)
        if (row := session.get(LoginThrottle, key)) is not None
        and row.locked_until is not None
        and row.locked_until > now
    ]
    return max(1, int(max(waits)) + 1) if waits else None


def record_login_failure(session: Session, email: str, address: str | None) -> None:
    now = _now()
    for key, limit in _throttle_keys(email, address):
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        if now - row.window_start > LOGIN_WINDOW:
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + LOGIN_LOCK
            row.failures, row.window_start = 0, now


def clear_login_failures(session: Session, email: str) -> None:
    row = session.get(LoginThrottle, _throttle_keys(email, None)[0][0])
    if row is not None:
        session.delete(row)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user if the password matches; spends one hash either way."""
    try:
        address = normalise_email(email)
    except AccountError:
        address = ""
    user = session.scalar(select(User).where(User.email == address)) if address else None
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


# -- API tokens ----------------------------------------------------------------------------------


def create_api_token(session: Session, user_id: int, name: str) -> tuple[ApiToken, str]:
    """A new token row and the token itself (shown once, never stored in clear)."""
    cleaned = name.strip()[:100]
    if not cleaned:
        raise AccountError("Please give the token a name.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, name=cleaned, token_hash=_digest(token), prefix=token[:10])
    session.add(row)
    session.flush()
    return row, token
