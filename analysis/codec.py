"""`ActivityDerived` to and from plain JSON, so it can be stored beside the activity.

A version number travels with the data: when the derive rules change, rows with an older
version are the ones `strideguard recompute` must refresh.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from analysis.model import ActivityDerived, RunningDynamics, SurfaceBreakdown, SurfaceMethod

DERIVED_VERSION = 1


def derived_to_json(derived: ActivityDerived) -> dict[str, Any]:
    data = asdict(derived)
    data["hr_seconds_by_bpm"] = {str(k): v for k, v in derived.hr_seconds_by_bpm.items()}
    if derived.surface is not None:
        data["surface"]["method"] = derived.surface.method.value
    data["version"] = DERIVED_VERSION
    return data


def derived_from_json(data: dict[str, Any]) -> ActivityDerived:
    surface = data.get("surface")
    dynamics = data.get("dynamics")
    return ActivityDerived(
        hr_seconds_by_bpm={int(k): float(v) for k, v in data["hr_seconds_by_bpm"].items()},
        surface=(
            SurfaceBreakdown(**{**surface, "method": SurfaceMethod(surface["method"])})
            if surface
            else None
        ),
        dynamics=RunningDynamics(**dynamics) if dynamics else None,
        is_strength=bool(data["is_strength"]),
        strength_sets=int(data["strength_sets"]),
    )


def derived_version(data: dict[str, Any] | None) -> int:
    return int(data.get("version", 0)) if data else 0
