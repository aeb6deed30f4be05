"""The schema, its migrations and the UTC column type, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from store.db import alembic_config, make_engine, migrate
from store.db import session_factory as sessions_for
from store.models import Activity, ActivitySource, Athlete, RawFile, RawFileStatus


def _activity(athlete_id: int, source_id: str, start: datetime) -> Activity:
    return Activity(
        athlete_id=athlete_id,
        source=ActivitySource.FIT,
        source_id=source_id,
        sport="running",
        sub_sport="street",
        start_utc=start,
        local_offset_s=3600,
        local_date=date(2026, 3, 1),
        elapsed_s=3600.0,
        has_gps=True,
    )


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"athletes", "raw_files", "activities", "ingest_jobs", "alembic_version"} <= tables


def test_migrate_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0005"


def test_aware_datetimes_round_trip_as_utc(sessions: sessionmaker[Session]) -> None:
    copenhagen_summer = timezone(timedelta(hours=2))
    start = datetime(2026, 6, 1, 7, 30, tzinfo=copenhagen_summer)
    with sessions.begin() as session:
        athlete = Athlete(handle="a", display_name="A")
        session.add(athlete)
        session.flush()
        session.add(_activity(athlete.id, "x:0", start))
    with sessions() as session:
        stored = session.scalars(select(Activity)).one()
    assert stored.start_utc == start
    assert stored.start_utc.tzinfo is not None
    assert stored.start_utc.utcoffset() == timedelta(0)
    assert stored.start_utc.hour == 5


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        athlete = Athlete(handle="a", display_name="A")
        session.add(athlete)
        session.flush()
        session.add(_activity(athlete.id, "x:0", datetime(2026, 6, 1, 7, 30)))  # noqa: DTZ001
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_same_source_activity_is_unique_per_athlete(sessions: sessionmaker[Session]) -> None:
    start = datetime(2026, 6, 1, 5, 30, tzinfo=UTC)
    with sessions() as session:
        athlete = Athlete(handle="a", display_name="A")
        session.add(athlete)
        session.flush()
        session.add(_activity(athlete.id, "x:0", start))
        session.flush()
        session.add(_activity(athlete.id, "x:0", start))
        with pytest.raises(IntegrityError):
            session.flush()


def test_deleting_an_athlete_deletes_their_data(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        athlete = Athlete(handle="a", display_name="A")
        session.add(athlete)
        session.flush()
        raw = RawFile(
            athlete_id=athlete.id,
            sha256="0" * 64,
            original_name="a.fit",
            size_bytes=1,
            status=RawFileStatus.IMPORTED,
        )
        session.add(raw)
        session.add(_activity(athlete.id, "x:0", datetime(2026, 6, 1, tzinfo=UTC)))
    with sessions.begin() as session:
        session.execute(Athlete.__table__.delete())
    with sessions() as session:
        assert session.scalars(select(Activity)).all() == []
        assert session.scalars(select(RawFile)).all() == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        assert conn.scalar(text("PRAGMA busy_timeout")) >= 5000
        assert conn.scalar(text("PRAGMA foreign_keys")) == 1
    engine.dispose()


def test_upgrading_keeps_existing_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO athletes (handle, display_name, time_zone, created_at)"
                " VALUES ('old', 'Old', 'UTC', CURRENT_TIMESTAMP)"
            )
        )
    migrate(engine)
    with sessions_for(engine)() as session:
        athlete = session.scalars(select(Athlete)).one()
    assert (athlete.sex, athlete.strength_goal_per_week, athlete.muted_rules) == (
        "unspecified",
        2,
        [],
    )
    engine.dispose()
