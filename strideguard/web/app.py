"""The FastAPI application: routers, static files, error pages and security headers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import strideguard.web.links as link_routes
import strideguard.web.notifications as notification_routes
import strideguard.web.strava_routes as strava_routes
from strideguard.app import App
from strideguard.settings import Settings
from strideguard.web import api, dashboard, pages, uploads
from strideguard.web.auth import optional_athlete
from strideguard.web.common import STATIC_DIR, render

log = logging.getLogger(__name__)

#: Every router of the web app; the dashboard adds its own here.
ROUTERS: list[APIRouter] = [api.health_router, api.router, uploads.router, pages.router]
ROUTERS.append(dashboard.router)
ROUTERS += [link_routes.router, strava_routes.router, notification_routes.router]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_HEADINGS = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    422: "Please check what you entered",
    429: "Too many tries",
    500: "Something went wrong",
}


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/api" or path == "/healthz"


async def _error_page(
    request: Request, status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    account = None
    if status_code not in (401, 500):
        try:
            account = await optional_athlete(request)
        except StarletteHTTPException:
            account = None
    response = render(
        request,
        "error.html",
        account,
        status_code,
        heading=_HEADINGS.get(status_code, "Error"),
        message=message,
        code=status_code,
    )
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be handled."
    if _is_api(request):
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)
    if exc.status_code == 401:
        target = request.url.path
        if request.method == "GET" and target not in ("/", "/login"):
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return RedirectResponse("/login", status_code=303)
    return await _error_page(request, exc.status_code, detail, exc.headers)


def _validation_sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "A value is missing or out of range."
    first = errors[0]
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = where[-1].replace("_", " ") if where else "the request"
    return f"Please check {field}: {str(first.get('msg', 'invalid value')).rstrip('.')}."


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    sentence = _validation_sentence(exc)
    if _is_api(request):
        return JSONResponse({"detail": sentence}, 422)
    return await _error_page(request, 422, sentence)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    sentence = "Something went wrong on our side; please try again."
    if _is_api(request):
        return JSONResponse({"detail": sentence}, 500)
    return await _error_page(request, 500, sentence)


def create_app(app: App | None = None) -> FastAPI:
    """The web app over one configured `App` (default: from ``STRIDEGUARD_*`` settings)."""
    core = app if app is not None else App(Settings())
    core.engine  # noqa: B018 (migrate before the first request, not during it)
    runner = uploads.UploadRunner(core)

    @asynccontextmanager
    async def lifespan(_web: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    web = FastAPI(
        title="Strideguard",
        summary="Training load and injury-prevention findings for runners.",
        version="0.1.0",
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is enough
        redoc_url=None,
        lifespan=lifespan,
    )
    web.state.core = core
    web.state.uploads = runner
    web.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        web.include_router(router)
    web.add_exception_handler(StarletteHTTPException, _http_error)
    web.add_exception_handler(RequestValidationError, _validation_error)
    web.add_exception_handler(Exception, _unexpected)

    @web.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/") or request.cookies:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return web
