"""'Your data': export everything an athlete has, and delete it all."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from store import accounts, models
from store.schema import Base
from strideguard.app import App
from strideguard.units import plain
from strideguard.web.common import activity_dict, finding_dict


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: json.dumps(v) if isinstance(v, dict | list) else ("" if v is None else v)
                    for k, v in row.items()
                }
            )
    return out.getvalue()


def export_zip(app: App, session: Session, athlete_id: int) -> Path:
    """A zip (in a temporary file the caller removes): JSON, CSV and the original FIT files."""
    athlete = session.get_one(models.Athlete, athlete_id)
    activities = [
        plain(activity_dict(a)) | {"derived": plain(a.derived), "zone_minutes": a.zone_minutes}
        for a in session.scalars(
            select(models.Activity)
            .where(models.Activity.athlete_id == athlete_id)
            .order_by(models.Activity.start_utc, models.Activity.id)
        )
    ]
    findings = [
        plain(finding_dict(f))
        for f in session.scalars(
            select(models.Finding)
            .where(models.Finding.athlete_id == athlete_id)
            .order_by(models.Finding.local_date, models.Finding.id)
        )
    ]
    strength = [
        plain({"id": s.id, "local_date": s.local_date, "minutes": s.minutes, "note": s.note})
        for s in session.scalars(
            select(models.StrengthLog)
            .where(models.StrengthLog.athlete_id == athlete_id)
            .order_by(models.StrengthLog.local_date, models.StrengthLog.id)
        )
    ]
    pain = [
        plain({"id": p.id, "local_date": p.local_date, "area": p.area, "score": p.score})
        for p in session.scalars(
            select(models.PainLog)
            .where(models.PainLog.athlete_id == athlete_id)
            .order_by(models.PainLog.local_date, models.PainLog.id)
        )
    ]
    raws = list(
        session.scalars(
            select(models.RawFile)
            .where(models.RawFile.athlete_id == athlete_id)
            .order_by(models.RawFile.id)
        )
    )
    raw_meta = [
        plain(
            {
                "id": r.id,
                "sha256": r.sha256,
                "original_name": r.original_name,
                "size_bytes": r.size_bytes,
                "status": r.status.value,
                "partial": r.partial,
                "error": r.error,
                "received_at": r.received_at,
                "file": f"fit/{r.sha256}.fit",
            }
        )
        for r in raws
    ]
    user = session.scalar(select(accounts.User).where(accounts.User.athlete_id == athlete_id))
    profile = plain(
        {
            "handle": athlete.handle,
            "display_name": athlete.display_name,
            "email": user.email if user else None,
            "time_zone": athlete.time_zone,
            "sex": athlete.sex,
            "hr_max": athlete.hr_max,
            "hr_rest": athlete.hr_rest,
            "zone_floors_pct": athlete.zone_floors_pct,
            "strength_goal_per_week": athlete.strength_goal_per_week,
            "units": athlete.units,
            "muted_rules": athlete.muted_rules,
            "threshold_speed_mps": athlete.threshold_speed_mps,
            "created_at": athlete.created_at,
        }
    )
    everything = {
        "profile": profile,
        "activities": activities,
        "findings": findings,
        "strength_logs": strength,
        "pain_logs": pain,
        "raw_files": raw_meta,
    }
    handle, name = tempfile.mkstemp(prefix="strideguard-export-", suffix=".zip")
    path = Path(name)
    os.close(handle)
    with path.open("wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("strideguard.json", json.dumps(everything, indent=2, allow_nan=False))
        zf.writestr("activities.csv", _csv([{**a, "derived": None} for a in activities]))
        zf.writestr("findings.csv", _csv(findings))
        zf.writestr("strength_logs.csv", _csv(strength))
        zf.writestr("pain_logs.csv", _csv(pain))
        zf.writestr("raw_files.csv", _csv(raw_meta))
        for raw in raws:
            blob = app.blobs.path_for(raw.sha256)
            if blob.is_file():
                zf.write(blob, f"fit/{raw.sha256}.fit")
    return path


def _athlete_tables() -> list[Table]:
    """Every table with an ``athlete_id`` column, dependants first (so no FK blocks a delete)."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "athlete_id" in t.c]


def delete_athlete(app: App, athlete_id: int) -> int:
    """Delete every row of the athlete and every raw file no other athlete also uploaded.

    Rows are deleted table by table (not only by cascade) so a table added later without
    ``ON DELETE CASCADE`` cannot keep data behind. Returns the number of raw files removed.
    """
    with app.sessions.begin() as session:
        digests = set(
            session.scalars(
                select(models.RawFile.sha256).where(models.RawFile.athlete_id == athlete_id)
            )
        )
        user_ids = list(
            session.scalars(select(accounts.User.id).where(accounts.User.athlete_id == athlete_id))
        )
        if user_ids:
            for table in reversed(Base.metadata.sorted_tables):
                if "user_id" in table.c and "athlete_id" not in table.c:
                    session.execute(delete(table).where(table.c.user_id.in_(user_ids)))
        for table in _athlete_tables():
            session.execute(delete(table).where(table.c.athlete_id == athlete_id))
        session.execute(delete(models.Athlete).where(models.Athlete.id == athlete_id))
    removed = 0
    with app.sessions() as session:
        shared = set(
            session.scalars(select(models.RawFile.sha256).where(models.RawFile.sha256.in_(digests)))
        )
    for digest in sorted(digests - shared):
        path = app.blobs.path_for(digest)
        if path.is_file():
            path.unlink()
            removed += 1
    return removed
