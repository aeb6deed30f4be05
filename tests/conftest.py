"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, migrate, session_factory

REPO_ROOT = Path(__file__).resolve().parents[1]


def _samples_dir() -> Path:
    override = os.environ.get("STRIDEGUARD_FIT_SAMPLES")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "fit-samples" / "files"


SAMPLES_DIR = _samples_dir()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The shared corpus of real device FIT files (read in place, never copied)."""
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"shared FIT samples not found at {SAMPLES_DIR} (set STRIDEGUARD_FIT_SAMPLES)")
    return SAMPLES_DIR


# -- databases ------------------------------------------------------------------------------
# Every test that takes `engine` runs on SQLite and, when STRIDEGUARD_TEST_POSTGRES_URL is set,
# on PostgreSQL too (each test in a schema of its own, dropped afterwards).

POSTGRES_URL = os.environ.get("STRIDEGUARD_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated-on-demand database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("STRIDEGUARD_TEST_POSTGRES_URL not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine (SQLite file in tmp_path, or a PostgreSQL schema of its own)."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
