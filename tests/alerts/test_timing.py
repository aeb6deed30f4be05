"""Local-time arithmetic: slots, weeks and quiet hours across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import timing

BERLIN = ZoneInfo("Europe/Berlin")
AUCKLAND = ZoneInfo("Pacific/Auckland")
LA = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("tz", "now", "expected_local"),
    [
        # Monday after the EU autumn change (Sun 25 Oct 2026): 07:00 CET = 06:00 UTC.
        (
            BERLIN,
            datetime(2026, 10, 26, 6, 30, tzinfo=UTC),
            datetime(2026, 10, 26, 7, 0, tzinfo=BERLIN),
        ),
        # Monday after the EU spring change (Sun 29 Mar 2026): 07:00 CEST = 05:00 UTC.
        (
            BERLIN,
            datetime(2026, 3, 30, 5, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 7, 0, tzinfo=BERLIN),
        ),
        # One second before the slot: still last week's.
        (
            BERLIN,
            datetime(2026, 3, 30, 4, 59, 59, tzinfo=UTC),
            datetime(2026, 3, 23, 7, 0, tzinfo=BERLIN),
        ),
        # Auckland is a day ahead: Monday 07:00 NZDT is Sunday 18:00 UTC.
        (
            AUCKLAND,
            datetime(2026, 11, 22, 18, 0, tzinfo=UTC),
            datetime(2026, 11, 23, 7, 0, tzinfo=AUCKLAND),
        ),
        # NZ spring change (Sun 27 Sep 2026): Monday 07:00 NZDT = Sunday 18:00 UTC.
        (
            AUCKLAND,
            datetime(2026, 9, 27, 18, 0, tzinfo=UTC),
            datetime(2026, 9, 28, 7, 0, tzinfo=AUCKLAND),
        ),
        # US autumn change (Sun 1 Nov 2026): Monday 07:00 PST = 15:00 UTC.
        (LA, datetime(2026, 11, 2, 15, 0, tzinfo=UTC), datetime(2026, 11, 2, 7, 0, tzinfo=LA)),
    ],
)
def test_latest_weekly_slot(tz: ZoneInfo, now: datetime, expected_local: datetime) -> None:
    slot = timing.latest_weekly_slot(now, tz, 0, time(7, 0))
    local = slot.astimezone(tz)
    assert (local.date(), local.time()) == (expected_local.date(), expected_local.time())
    assert slot <= now


def test_nonexistent_wall_time_moves_past_the_gap() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: the slot is 03:30 CEST (01:30 UTC).
    slot = timing.local_instant(date(2026, 3, 29), time(2, 30), BERLIN)
    assert slot == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_ambiguous_wall_time_is_the_first_occurrence() -> None:
    # 02:30 happens twice in Berlin on 25 October 2026; the first is CEST (00:30 UTC).
    slot = timing.local_instant(date(2026, 10, 25), time(2, 30), BERLIN)
    assert slot == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_digest_week_is_the_local_week_just_ended() -> None:
    slot = timing.local_instant(date(2026, 11, 23), time(7, 0), AUCKLAND)
    assert slot.date() == date(2026, 11, 22)  # Sunday in UTC...
    assert timing.digest_week(slot, AUCKLAND) == date(2026, 11, 16)  # ...but Monday locally
    assert timing.iso_week_label(date(2026, 11, 16)) == "2026-W47"
    assert timing.parse_iso_week("2026-W47") == date(2026, 11, 16)
    with pytest.raises(ValueError, match="ISO week"):
        timing.parse_iso_week("2026-47")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 18, 22, 0, tzinfo=LA), datetime(2026, 11, 19, 7, 0, tzinfo=LA)),
        (datetime(2026, 11, 19, 3, 0, tzinfo=LA), datetime(2026, 11, 19, 7, 0, tzinfo=LA)),
        (datetime(2026, 11, 19, 7, 0, tzinfo=LA), datetime(2026, 11, 19, 7, 0, tzinfo=LA)),
        (datetime(2026, 11, 19, 20, 59, tzinfo=LA), datetime(2026, 11, 19, 20, 59, tzinfo=LA)),
    ],
)
def test_after_quiet_hours(local: datetime, expected: datetime) -> None:
    out = timing.after_quiet_hours(local.astimezone(UTC), LA, time(21, 0), time(7, 0))
    assert out == expected


def test_quiet_hours_across_dst_night() -> None:
    # The night of the US autumn change is 25 h long; the end is still 07:00 local.
    start = datetime(2026, 10, 31, 23, 0, tzinfo=LA).astimezone(UTC)
    out = timing.after_quiet_hours(start, LA, time(21, 0), time(7, 0))
    assert out == datetime(2026, 11, 1, 7, 0, tzinfo=LA)
    assert out - start == timedelta(hours=9)
