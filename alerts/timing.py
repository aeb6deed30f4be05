"""Local-time arithmetic for alerts: weeks, send slots and quiet hours, DST-safe.

Everything takes and returns aware instants; local wall-clock times are turned into instants
only here. A wall-clock time that does not exist (the spring-forward gap) resolves to the same
distance after the gap (02:30 -> 03:30), an ambiguous one (the autumn fold) to its first
occurrence, so a slot is always exactly one instant.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of `day` at wall-clock `at` in `tz` (gap: shifted forward; fold: first)."""
    # zoneinfo reads a wall time in a gap with the offset from before it, which lands after
    # the gap (02:30 CET = 03:30 CEST); fold=0 picks the first of two ambiguous instants.
    return datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def iso_week_label(monday: date) -> str:
    """ "2026-W47" for the ISO week that starts on `monday`."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(label: str) -> date:
    """The Monday of an ISO week label like "2026-W47" (ValueError if malformed)."""
    match = _WEEK.match(label.strip())
    if not match:
        raise ValueError(f"not an ISO week like 2026-W47: {label!r}")
    return date.fromisocalendar(int(match[1]), int(match[2]), 1)


def latest_weekly_slot(now: datetime, tz: ZoneInfo, weekday: int, at: time) -> datetime:
    """The most recent instant <= `now` that is `weekday` (0 = Monday) at `at`, local time."""
    today = now.astimezone(tz).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() != weekday:
            continue
        slot = local_instant(day, at, tz)
        if slot <= now:
            return slot
    raise AssertionError("unreachable: every 8 days contain each weekday once")


def digest_week(slot: datetime, tz: ZoneInfo) -> date:
    """Monday of the local week a digest sent at `slot` covers: the last one ended before it."""
    send_day = slot.astimezone(tz).date()
    return week_monday(send_day) - timedelta(days=7)


def in_quiet_hours(instant: datetime, tz: ZoneInfo, start: time, end: time) -> bool:
    """Whether the local time of `instant` is in [start, end) (the window may wrap midnight)."""
    if start == end:
        return False
    local = instant.astimezone(tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def after_quiet_hours(instant: datetime, tz: ZoneInfo, start: time, end: time) -> datetime:
    """`instant` itself outside quiet hours, else the end of the quiet window it falls in."""
    if not in_quiet_hours(instant, tz, start, end):
        return instant
    local_day = instant.astimezone(tz).date()
    for offset in (0, 1):
        candidate = local_instant(local_day + timedelta(days=offset), end, tz)
        if candidate > instant:
            return candidate
    raise AssertionError("unreachable: the quiet window ends within a day")


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()
