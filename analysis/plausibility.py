"""Activities whose numbers cannot be true are flagged, and kept out of the rules.

A "run" of 300 km or at 40 km/h is almost always a ride saved with the wrong sport, a GPS
glitch or a watch left recording; trusting it would create a huge false spike and then hide
every real one for 30 days. Such activities stay stored (the raw file is kept) but the rules do
not use them, and a finding says why, with the numbers, so the runner can fix the sport or
delete the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis.history import is_run
from analysis.model import ActivitySummary, Finding

__all__ = ["PlausibilityLimits", "screen"]

CITATION = (
    "Data-quality check, not an evidence-based rule: limits well beyond human running "
    "(elite marathon pace is about 5.7 m/s; multi-day ultras are the longest single efforts)"
)


@dataclass(frozen=True, slots=True)
class PlausibilityLimits:
    max_run_km: float = 250.0
    max_run_speed_mps: float = 6.5
    """Average moving speed; over this for more than 1 km is not running."""
    max_duration_h: float = 48.0
    max_avg_hr: float = 230.0


def _problems(activity: ActivitySummary, limits: PlausibilityLimits) -> list[str]:
    problems: list[str] = []
    duration_s = activity.moving_s or activity.elapsed_s
    if duration_s > limits.max_duration_h * 3600:
        problems.append(f"it lasted {duration_s / 3600:.1f} h")
    if activity.avg_hr is not None and activity.avg_hr > limits.max_avg_hr:
        problems.append(f"its average heart rate is {activity.avg_hr:.0f} bpm")
    if is_run(activity) and activity.distance_m:
        km = activity.distance_m / 1000
        if km > limits.max_run_km:
            problems.append(f"it is a {km:.1f} km run")
        if duration_s > 0 and km > 1:
            speed = activity.distance_m / duration_s
            if speed > limits.max_run_speed_mps:
                problems.append(f"its average pace is {speed * 3.6:.1f} km/h")
    return problems


def screen(
    activities: Sequence[ActivitySummary], limits: PlausibilityLimits | None = None
) -> tuple[list[ActivitySummary], list[Finding]]:
    """Split activities into those the rules may trust, and findings for the others."""
    limits = limits or PlausibilityLimits()
    trusted: list[ActivitySummary] = []
    flagged: list[Finding] = []
    for activity in activities:
        problems = _problems(activity, limits)
        if not problems:
            trusted.append(activity)
            continue
        flagged.append(
            Finding(
                rule_id="implausible_activity",
                local_date=activity.local_date,
                subject=f"activity:{activity.id}",
                severity="info",
                evidence_grade="D",
                citation=CITATION,
                message=(
                    f"Your {activity.sport} on {activity.local_date.isoformat()} looks wrong: "
                    + " and ".join(problems)
                    + ". Strideguard leaves it out of the load and spike rules until it is fixed."
                ),
                action=(
                    "Check the activity: if it was a ride or the watch kept recording, change "
                    "its sport or delete it, then run `strideguard recompute`."
                ),
                inputs={
                    "distance_m": activity.distance_m,
                    "moving_s": activity.moving_s,
                    "elapsed_s": activity.elapsed_s,
                    "avg_hr": activity.avg_hr,
                },
                thresholds={
                    "max_run_km": limits.max_run_km,
                    "max_run_speed_mps": limits.max_run_speed_mps,
                    "max_duration_h": limits.max_duration_h,
                    "max_avg_hr": limits.max_avg_hr,
                },
            )
        )
    return trusted, flagged
