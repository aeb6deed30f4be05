"""Stored rows -> the analysis layer's value types, in one place for every caller.

The app shell, the alerts and the web all analyse stored data; each used to convert rows on
its own, and the copies drift (one forgot the shoe distance). `analysis` is pure and below
`store`, so the adapter lives here.
"""

from __future__ import annotations

from typing import Any, get_args

from analysis.codec import derived_from_json
from analysis.model import ActivitySummary, PainArea, PainLog, StrengthLog
from store import models

__all__ = ["activity_summary", "pain_area", "pain_log", "strength_log"]


def activity_summary(row: models.Activity) -> ActivitySummary:
    return ActivitySummary(
        id=row.id,
        local_date=row.local_date,
        start=row.start_utc,
        sport=row.sport,
        sub_sport=row.sub_sport,
        elapsed_s=row.elapsed_s,
        moving_s=row.moving_s,
        distance_m=row.distance_m,
        avg_hr=row.avg_hr,
        max_hr=row.max_hr,
        rpe=row.rpe,
        derived=derived_from_json(row.derived) if row.derived else None,
        gear_km=_gear_km(row.derived),
    )


def _gear_km(derived: dict[str, Any] | None) -> float | None:
    """Shoe distance, where a source knew it (Strava's detailed activity carries the gear)."""
    gear = (derived or {}).get("gear") or {}
    distance_m = gear.get("distance_m")
    return float(distance_m) / 1000 if distance_m else None


def pain_area(area: str) -> PainArea:
    """A stored area name as the analysis type; unknown names are a data error."""
    if area not in get_args(PainArea):
        raise ValueError(f"unknown pain area {area!r}")
    return area  # type: ignore[return-value]


def pain_log(row: models.PainLog) -> PainLog:
    return PainLog(local_date=row.local_date, area=pain_area(row.area), score=row.score)


def strength_log(row: models.StrengthLog) -> StrengthLog:
    return StrengthLog(local_date=row.local_date, minutes=row.minutes, note=row.note)
