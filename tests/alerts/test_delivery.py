"""Exactly one digest per athlete per week, through real SMTP and HTTP servers.

Every tick takes a frozen `now`; nothing sleeps. Ticks are run hour by hour over spans that
contain DST changes, by two schedulers at once, with gaps, crashes and a dead SMTP server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from alerts import ledger
from alerts.dispatch import dispatch_due
from alerts.planning import plan_all
from alerts.scheduler import Ticks
from store.models import Finding, StrengthLog
from store.notifications import Delivery, DeliveryKind, DeliveryStatus

from .conftest import HttpSink, SmtpServer, add_athlete, dispatch_config

ZONES = {"kiwi": "Pacific/Auckland", "berlin": "Europe/Berlin", "la": "America/Los_Angeles"}
HOUR = timedelta(hours=1)
GRACE = timedelta(days=3)


def hours(start: datetime, end: datetime, step: timedelta = HOUR) -> list[datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += step
    return out


def add_email_athletes(sessions: sessionmaker[Session]) -> dict[str, int]:
    return {
        handle: add_athlete(sessions, handle, tz, email=f"{handle}@example.test")
        for handle, tz in ZONES.items()
    }


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def expected_weeks(tz: str, start: datetime, end: datetime) -> set[str]:
    """ISO labels of the weeks whose Monday 07:00 local slot lies in [start - grace, end)."""
    zone = ZoneInfo(tz)
    out = set()
    day = start.astimezone(zone).date() - timedelta(days=4)
    while day <= end.astimezone(zone).date():
        if day.weekday() == 0:
            slot = datetime.combine(day, time(7, 0), tzinfo=zone)
            if start - GRACE <= slot < end:
                monday = day - timedelta(days=7)
                year, week, _ = monday.isocalendar()
                out.add(f"{year}-W{week:02d}")
        day += timedelta(days=1)
    return out


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # NZ daylight time starts Sun 27 Sep 2026.
        (datetime(2026, 9, 25, tzinfo=UTC), datetime(2026, 9, 30, tzinfo=UTC)),
        # EU summer time ends Sun 25 Oct, US daylight time Sun 1 Nov 2026.
        (datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
    ],
    ids=["nz-spring", "eu-us-autumn"],
)
def test_one_digest_per_week_across_dst(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, start: datetime, end: datetime
) -> None:
    ids = add_email_athletes(sessions)
    ticks = Ticks(sessions=sessions, dispatch=dispatch_config(smtp_server.config))
    for now in hours(start, end):
        ticks.plan_tick(now)
        ticks.dispatch_tick(now)

    counts = Counter(smtp_server.keys())
    assert counts, "nothing was sent"
    assert max(counts.values()) == 1
    for handle, tz in ZONES.items():
        got = {k.rsplit("/", 1)[1] for k in counts if k.startswith(f"{ids[handle]}/digest/")}
        assert got == expected_weeks(tz, start, end), handle
    for row in deliveries(sessions):
        assert row.status is DeliveryStatus.SENT
        assert row.sent_at is not None
        tz = ZoneInfo(ZONES[next(h for h, i in ids.items() if i == row.athlete_id)])
        local = row.sent_at.astimezone(tz)
        if row.sent_at == start:  # a slot before the span: caught up on the first tick
            assert start - local.replace(hour=7, minute=0) < GRACE
        else:  # on time: Monday 07:00 local, whatever the offset that week
            assert (local.weekday(), local.time()) == (0, time(7, 0)), (row.period, local)


def test_two_schedulers_at_once(sessions: sessionmaker[Session], smtp_server: SmtpServer) -> None:
    add_email_athletes(sessions)
    a = Ticks(sessions=sessions, dispatch=dispatch_config(smtp_server.config), holder="a")
    b = Ticks(sessions=sessions, dispatch=dispatch_config(smtp_server.config), holder="b")
    start = datetime(2026, 11, 15, tzinfo=UTC)
    for now in hours(start, start + timedelta(days=9)):
        threads = [
            threading.Thread(target=lambda t=t, n=now: (t.plan_tick(n), t.dispatch_tick(n)))
            for t in (a, b)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    counts = Counter(smtp_server.keys())
    assert len(counts) == 6  # two weeks (W46, W47) per athlete in this span...
    assert set(counts.values()) == {1}  # ...each exactly once


def test_concurrent_dispatchers_without_the_lock(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    """The ledger alone (no scheduler lock) sends each digest once."""
    for i in range(12):
        add_athlete(sessions, f"a{i}", list(ZONES.values())[i % 3], email=f"a{i}@example.test")
    now = datetime(2026, 11, 23, 20, tzinfo=UTC)  # after every zone's Monday 07:00
    with sessions.begin() as session:
        assert plan_all(session, now=now).planned == {"digest": 12}
    config = dispatch_config(smtp_server.config)
    barrier = threading.Barrier(3)

    def run(name: str) -> None:
        barrier.wait()
        dispatch_due(sessions, now=now, config=config, worker=name)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(Counter(smtp_server.keys()).values()) == [1] * 12
    assert {d.status for d in deliveries(sessions)} == {DeliveryStatus.SENT}


def test_missed_ticks_are_caught_up_once(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_email_athletes(sessions)
    ticks = Ticks(sessions=sessions, dispatch=dispatch_config(smtp_server.config))
    # Everything is down from Sunday 22 Nov to Wednesday 25 Nov 12:00 UTC (two days and more
    # after every zone's Monday slot), then ticks resume.
    for now in hours(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)):
        ticks.plan_tick(now)
        ticks.dispatch_tick(now)
    assert smtp_server.inbox == []
    resume = datetime(2026, 11, 25, 12, tzinfo=UTC)
    for now in hours(resume, resume + timedelta(days=2)):
        ticks.plan_tick(now)
        ticks.dispatch_tick(now)
    counts = Counter(smtp_server.keys())
    assert sorted(k.rsplit("/", 1)[1] for k in counts) == ["2026-W47"] * 3
    assert set(counts.values()) == {1}
    assert all(d.sent_at == resume for d in deliveries(sessions))


def test_missed_beyond_grace_is_not_sent(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_email_athletes(sessions)
    ticks = Ticks(sessions=sessions, dispatch=dispatch_config(smtp_server.config))
    late = datetime(2026, 11, 27, 12, tzinfo=UTC)  # more than 3 days after every slot
    ticks.plan_tick(late)
    ticks.dispatch_tick(late)
    assert smtp_server.inbox == []
    assert deliveries(sessions) == []


def _planned_digest(sessions: sessionmaker[Session], now: datetime) -> int:
    with sessions.begin() as session:
        plan_all(session, now=now)
    (row,) = deliveries(sessions)
    return row.id


def test_dispatcher_dying_mid_dispatch_lease_expires(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_athlete(sessions, "berlin", "Europe/Berlin", email="b@example.test")
    slot = datetime(2026, 11, 23, 6, tzinfo=UTC)
    delivery_id = _planned_digest(sessions, slot)
    with sessions.begin() as session:  # a dispatcher claims it, then dies before sending
        assert ledger.claim(session, delivery_id, worker="dead", now=slot)
    config = dispatch_config(smtp_server.config)
    report = dispatch_due(sessions, now=slot + timedelta(minutes=1), config=config)
    assert report.sent == []
    assert smtp_server.inbox == []
    report = dispatch_due(sessions, now=slot + timedelta(minutes=6), config=config)
    assert report.sent == [delivery_id]
    assert len(smtp_server.inbox) == 1
    (row,) = deliveries(sessions)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)


_CHILD = """
import sys, threading
from datetime import datetime
from alerts.dispatch import DispatchConfig, DispatchReport, dispatch_one
from alerts.email import SmtpConfig
from alerts.links import LinkSigner
from store.db import make_engine, session_factory

def hang(config, msg):
    print("SENDING", flush=True)
    threading.Event().wait()

url, delivery_id, now = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
config = DispatchConfig(
    signer=LinkSigner("x" * 32, "https://strideguard.test"),
    smtp=SmtpConfig(host="127.0.0.1", port=1, starttls=False),
    send_email=hang,
)
dispatch_one(session_factory(make_engine(url)), delivery_id, now=now, worker="child",
             config=config, report=DispatchReport())
"""


def test_dispatcher_killed_with_sigkill(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_athlete(sessions, "kiwi", "Pacific/Auckland", email="k@example.test")
    slot = datetime(2026, 11, 22, 18, tzinfo=UTC)  # Monday 07:00 NZDT
    delivery_id = _planned_digest(sessions, slot)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, db_url, str(delivery_id), slot.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path.cwd()),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "SENDING"  # claimed, rendered, mid-send
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None:
            child.stdout.close()
    (row,) = deliveries(sessions)
    assert (row.status, row.claimed_by) == (DeliveryStatus.CLAIMED, "child")
    config = dispatch_config(smtp_server.config)
    ticks = Ticks(sessions=sessions, dispatch=config)
    for now in hours(slot, slot + timedelta(minutes=20), step=timedelta(minutes=1)):
        ticks.plan_tick(now)
        ticks.dispatch_tick(now)
    assert smtp_server.keys() == [f"{row.athlete_id}/digest/2026-W47"]
    (row,) = deliveries(sessions)
    assert row.status is DeliveryStatus.SENT
    assert row.sent_at == slot + ledger.DEFAULT_POLICY.lease + timedelta(minutes=1)


def test_smtp_down_then_up(sessions: sessionmaker[Session], smtp_server: SmtpServer) -> None:
    add_athlete(sessions, "la", "America/Los_Angeles", email="la@example.test")
    slot = datetime(2026, 11, 23, 15, tzinfo=UTC)
    delivery_id = _planned_digest(sessions, slot)
    config = dispatch_config(smtp_server.config)
    smtp_server.stop()
    assert dispatch_due(sessions, now=slot, config=config).retrying == [delivery_id]
    (row,) = deliveries(sessions)
    assert row.status is DeliveryStatus.PENDING
    assert row.last_error
    assert "Connection" in row.last_error
    assert row.next_attempt_at == slot + timedelta(minutes=1)
    assert dispatch_due(sessions, now=slot + timedelta(seconds=30), config=config).retrying == []
    assert dispatch_due(sessions, now=slot + timedelta(minutes=1), config=config).retrying == [
        delivery_id
    ]
    smtp_server.start()
    report = dispatch_due(sessions, now=slot + timedelta(minutes=3), config=config)
    assert report.sent == [delivery_id]
    for minute in range(4, 60):
        dispatch_due(sessions, now=slot + timedelta(minutes=minute), config=config)
    assert len(smtp_server.inbox) == 1
    (row,) = deliveries(sessions)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 3)


def test_attempts_cap_then_failed_with_reason(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    add_athlete(sessions, "berlin", "Europe/Berlin", email="b@example.test")
    slot = datetime(2026, 11, 23, 6, tzinfo=UTC)
    _planned_digest(sessions, slot)
    smtp_server.stop()
    config = dispatch_config(smtp_server.config)
    for now in hours(slot, slot + timedelta(hours=6), step=timedelta(minutes=1)):
        dispatch_due(sessions, now=now, config=config)
    (row,) = deliveries(sessions)
    assert row.status is DeliveryStatus.FAILED
    assert row.attempts == ledger.DEFAULT_POLICY.max_attempts
    assert row.last_error


def _spike(
    sessions: sessionmaker[Session], athlete_id: int, day: date, seen: datetime, n: int
) -> None:
    with sessions.begin() as session:
        session.add(
            Finding(
                athlete_id=athlete_id,
                rule_id="single_run_spike",
                subject=f"activity:{n}",
                local_date=day,
                severity="moderate",
                evidence_grade="B",
                citation="Frandsen et al. 2025",
                message=f"Run {n} was 14.0 km, 40 % longer than your longest run of the last "
                "30 days (10.0 km).",
                action="Keep the next runs easy and short.",
                inputs={},
                thresholds={},
                exercises=[],
                push=True,
                first_seen_at=seen,
                updated_at=seen,
            )
        )


def test_nudges_quiet_hours_and_one_push_a_day(
    sessions: sessionmaker[Session], http_sink: HttpSink
) -> None:
    la = ZoneInfo("America/Los_Angeles")
    athlete = add_athlete(sessions, "la", "America/Los_Angeles", push=[http_sink.url("la")])
    ticks = Ticks(sessions=sessions, dispatch=dispatch_config(None))
    # A risky run imported Tuesday 23:00 local (quiet hours), a second one Wednesday 10:00.
    tue_late = datetime(2026, 11, 17, 23, 0, tzinfo=la)
    wed_late_morning = datetime(2026, 11, 18, 10, 0, tzinfo=la)
    start = datetime(2026, 11, 17, 12, 0, tzinfo=la).astimezone(UTC)
    end = datetime(2026, 11, 20, 12, 0, tzinfo=la).astimezone(UTC)
    for now in hours(start, end, step=timedelta(minutes=15)):
        if now == tue_late.astimezone(UTC):
            _spike(sessions, athlete, date(2026, 11, 17), now, 1)
        if now == wed_late_morning.astimezone(UTC):
            _spike(sessions, athlete, date(2026, 11, 18), now, 2)
        if now.minute == 0:
            ticks.plan_tick(now)
        ticks.dispatch_tick(now)

    rows = deliveries(sessions)
    kinds = {(d.kind, d.period): d for d in rows}
    spike = kinds[(DeliveryKind.SPIKE_NUDGE, "activity:1")]
    assert spike.sent_at is not None
    assert spike.sent_at == datetime(2026, 11, 18, 7, 0, tzinfo=la)
    # The second spike falls on a day that already had its push: not planned at all.
    assert (DeliveryKind.SPIKE_NUDGE, "activity:2") not in kinds
    strength = kinds[(DeliveryKind.STRENGTH_NUDGE, "2026-W47")]
    assert strength.sent_at is not None
    assert strength.sent_at == datetime(2026, 11, 19, 18, 0, tzinfo=la)
    # Tuesday: last week's digest, caught up (push only); Wednesday: the spike; Thursday: strength.
    titles = [r["title"] for r in http_sink.received]
    assert titles == [
        "Strideguard: your week 2026-W46",
        "Strideguard: that run was a jump",
        "Strideguard: strength check",
    ]
    assert "14.0 km" in http_sink.received[1]["message"]
    assert "strength" in http_sink.received[2]["message"]
    push_days = [d.push_day for d in rows]
    assert len(push_days) == len(set(push_days))


def test_strength_nudge_skipped_when_logged_and_muted_rule(
    sessions: sessionmaker[Session], http_sink: HttpSink
) -> None:
    athlete = add_athlete(sessions, "berlin", "Europe/Berlin", push=[http_sink.url()])
    with sessions.begin() as session:
        session.add(StrengthLog(athlete_id=athlete, local_date=date(2026, 11, 17), minutes=10))
    thursday_evening = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)  # 18:00 CET
    with sessions.begin() as session:
        assert plan_all(session, now=thursday_evening).planned == {}
    _spike(sessions, athlete, date(2026, 11, 19), thursday_evening, 3)
    with sessions.begin() as session:
        from store.models import Athlete

        session.get_one(Athlete, athlete).muted_rules = ["single_run_spike"]
    with sessions.begin() as session:
        assert plan_all(session, now=thursday_evening).planned == {}


def test_push_only_athlete_gets_the_digest_by_push(
    sessions: sessionmaker[Session], http_sink: HttpSink
) -> None:
    add_athlete(sessions, "kiwi", "Pacific/Auckland", push=[http_sink.url("kiwi")])
    ticks = Ticks(sessions=sessions, dispatch=dispatch_config(None))
    start = datetime(2026, 11, 22, tzinfo=UTC)
    for now in hours(start, start + timedelta(days=2)):
        ticks.plan_tick(now)
        ticks.dispatch_tick(now)
    assert len(http_sink.received) == 1
    assert http_sink.received[0]["title"] == "Strideguard: your week 2026-W47"
    assert "not a diagnosis" in http_sink.received[0]["message"]
