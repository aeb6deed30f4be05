"""Real device files through the whole pipeline: decode -> derive -> store -> analyse."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis.codec import derived_from_json
from analysis.model import SurfaceMethod
from connector.ingest import Importer
from store import models
from store.blobs import BlobStore
from strideguard.analysis_service import analyse_athlete

TREADMILL = "thomaschampagne__elevate__treadmill.fit"
TRAIL = "thomaschampagne__elevate__loup-blanc.fit"  # Garmin fenix 6S, sub_sport trail
STRENGTH = "jarkko__fit-analyzer__20474406937_ACTIVITY.fit"  # FR965, 76 set messages


@pytest.fixture
def stored(
    sessions: sessionmaker[Session], tmp_path: Path, samples_dir: Path
) -> dict[str, models.Activity]:
    with sessions.begin() as session:
        athlete = models.Athlete(handle="r", display_name="R", time_zone="Europe/Paris")
        session.add(athlete)
        session.flush()
        athlete_id = athlete.id
    importer = Importer(sessions, BlobStore(tmp_path / "raw"))
    report = importer.import_paths(
        athlete_id, [samples_dir / TREADMILL, samples_dir / TRAIL, samples_dir / STRENGTH]
    )
    assert [f.status for f in report.files] == ["imported"] * 3
    with sessions() as session:
        rows = {
            name: session.scalars(
                select(models.Activity).where(models.Activity.id == outcome.activity_ids[0])
            ).one()
            for name, outcome in zip((TREADMILL, TRAIL, STRENGTH), report.files, strict=True)
        }
    return rows


def test_treadmill_is_all_treadmill(stored: dict[str, models.Activity]) -> None:
    row = stored[TREADMILL]
    assert row.derived is not None
    surface = derived_from_json(row.derived).surface
    assert surface is not None
    assert surface.method is SurfaceMethod.INDOOR
    assert surface.treadmill_m == pytest.approx(row.distance_m)
    assert surface.unknown_m == 0


def test_trail_is_mostly_soft_or_moderate_by_prior_with_its_confidence(
    stored: dict[str, models.Activity],
) -> None:
    row = stored[TRAIL]
    assert row.derived is not None
    surface = derived_from_json(row.derived).surface
    assert surface is not None
    assert surface.method is SurfaceMethod.PRIOR
    assert surface.soft_m + surface.moderate_m > 0.5 * surface.total_m
    assert surface.unknown_m > 0  # a prior never poses as a measurement
    assert 0 < surface.confidence < 0.5
    assert surface.total_m == pytest.approx(row.distance_m)


def test_fr965_strength_session_counts_for_the_week(
    sessions: sessionmaker[Session], stored: dict[str, models.Activity]
) -> None:
    row = stored[STRENGTH]
    assert row.derived is not None
    derived = derived_from_json(row.derived)
    assert derived.is_strength
    assert derived.strength_sets > 0
    with sessions.begin() as session:
        athlete = session.get_one(models.Athlete, row.athlete_id)
        result = analyse_athlete(session, athlete, as_of=row.local_date)
    weekly = result.analysis.weekly
    assert weekly["strength_sessions"].iloc[-1] == 1
