"""Notification settings on the settings page: channels, times, a test message.

The test uses `strideguard.cli_alerts.send_test_message`, the same code as
``strideguard notify test``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts import push
from strideguard.cli_alerts import NoChannelError, send_test_message, settings_for
from strideguard.web.auth import AccountError, AthleteDep, core_app, normalise_email
from strideguard.web.common import DB, athlete_row
from strideguard.web.pages import _settings_page

router = APIRouter(include_in_schema=False)

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(:00)?$")
MAX_PUSH_URLS = 10


def _time(text: str, label: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise AccountError(f"{label} must be a time like 07:00.")
    return time(int(match[1]), int(match[2]))


def _weekday(text: str, label: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 6:
        raise AccountError(f"Choose {label} from the list.")
    return int(text)


@router.post("/settings/notifications", response_class=HTMLResponse)
async def save_notifications(request: Request, account: AthleteDep, session: DB) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}

    def ticked(name: str) -> bool:
        return fields.get(name) == "on"

    try:
        address = fields.get("email", "").strip()
        email = normalise_email(address) if address else None
        urls = [u.strip() for u in fields.get("push_urls", "").splitlines() if u.strip()]
        if len(urls) > MAX_PUSH_URLS:
            raise AccountError(f"At most {MAX_PUSH_URLS} push URLs, please.")
        bad = push.validate_urls(urls)
        if bad:
            shown = ", ".join(u.split("://", 1)[0] + "://…" for u in bad)
            raise AccountError(f"These push URLs are not understood: {shown}.")
        digest_weekday = _weekday(fields.get("digest_weekday", ""), "the digest day")
        digest_time = _time(fields.get("digest_time", ""), "The digest time")
        strength_weekday = _weekday(fields.get("strength_nudge_weekday", ""), "the reminder day")
        strength_time = _time(fields.get("strength_nudge_time", ""), "The reminder time")
        quiet_start = _time(fields.get("quiet_start", ""), "The start of the quiet hours")
        quiet_end = _time(fields.get("quiet_end", ""), "The end of the quiet hours")
    except AccountError as exc:
        return _settings_page(request, account, session, 422, error=str(exc))
    row = settings_for(session, athlete_row(session, account))
    row.email = email
    row.push_urls = urls
    row.email_enabled = ticked("email_enabled")
    if row.email_enabled:
        row.unsubscribed_at = None  # ticking e-mail again opts back in after an unsubscribe
    row.push_enabled = ticked("push_enabled")
    row.digest_enabled = ticked("digest_enabled")
    row.digest_weekday, row.digest_time = digest_weekday, digest_time
    row.strength_nudge_enabled = ticked("strength_nudge_enabled")
    row.strength_nudge_weekday, row.strength_nudge_time = strength_weekday, strength_time
    row.spike_nudge_enabled = ticked("spike_nudge_enabled")
    row.quiet_start, row.quiet_end = quiet_start, quiet_end
    row.updated_at = datetime.now(UTC)
    session.commit()
    return RedirectResponse("/settings?saved=notifications#notifications", status_code=303)


@router.post("/settings/notifications/test", response_class=HTMLResponse)
def test_notifications(request: Request, account: AthleteDep, session: DB) -> Response:
    """Send a test on every channel now (like ``strideguard notify test``) and show how it went."""
    try:
        results = send_test_message(core_app(request), account.athlete_id, now=datetime.now(UTC))
    except NoChannelError:
        return _settings_page(
            request,
            account,
            session,
            422,
            error="Add an e-mail address or a push URL first, then send a test.",
        )
    failed = [r for r in results if not r.ok]
    return _settings_page(
        request,
        account,
        session,
        test_results=results,
        flash=None if failed else "Test sent: check your inbox or device.",
        error="The test could not be sent on every channel: see below." if failed else None,
    )
