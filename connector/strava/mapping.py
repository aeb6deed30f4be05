"""Strava activity JSON -> the same activity model as FIT imports (`DecodedActivity`).

Rules (DESIGN.md section 3):

* The sport comes from ``sport_type`` only, never ``type`` (a TrailRun is "Workout" or "Run" in
  ``type``). A payload without ``sport_type`` is not guessed from ``type``: it becomes
  ``generic``. Names are translated to FIT's (``Run`` -> ``running``...), so analysis rules
  and cross-source duplicate detection treat both sources alike.
* ``trainer`` / ``VirtualRun`` -> sub_sport ``treadmill`` / ``virtual_activity``, surface all
  treadmill; ``TrailRun`` -> sub_sport ``trail`` and the trail prior; an outdoor run with a
  route gets the plain-run prior (the list has no per-point data to map-match).
* ``start_date`` is the instant; the local date is that instant in the athlete's time zone;
  ``start_date_local`` (wall-clock time mislabelled as UTC) only gives the UTC offset.
* A hidden start time comes back as 00:00:01 local: the instant is then meaningless, so the
  local date is taken from ``start_date_local`` and the activity is flagged
  (``derived["start_time_hidden"]``); duplicate detection then matches on the day instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analysis.activity import DecodedActivity
from analysis.codec import derived_to_json
from analysis.derive import STRENGTH_SUB_SPORTS
from analysis.model import ActivityDerived, SurfaceBreakdown, SurfaceMethod
from analysis.surfaces import INDOOR_CONFIDENCE, PRIORS, PriorSplit
from connector.strava.errors import StravaError

__all__ = ["SPORT_TYPES", "MappedActivity", "MappingError", "map_activity"]

HIDDEN_START = time(0, 0, 1)
MAX_OFFSET_S = 14 * 3600

#: Strava ``sport_type`` -> (FIT sport, FIT sub_sport).
SPORT_TYPES: Mapping[str, tuple[str, str | None]] = {
    "Run": ("running", None),
    "TrailRun": ("running", "trail"),
    "VirtualRun": ("running", "virtual_activity"),
    "Walk": ("walking", None),
    "Hike": ("hiking", None),
    "Ride": ("cycling", None),
    "MountainBikeRide": ("cycling", "mountain"),
    "GravelRide": ("cycling", "gravel_cycling"),
    "VirtualRide": ("cycling", "virtual_activity"),
    "EBikeRide": ("e_biking", None),
    "EMountainBikeRide": ("e_biking", "e_bike_mountain"),
    "Handcycle": ("cycling", "hand_cycling"),
    "Velomobile": ("cycling", None),
    "Swim": ("swimming", None),
    "WeightTraining": ("training", "strength_training"),
    "Crossfit": ("training", "cardio_training"),
    "HighIntensityIntervalTraining": ("training", "cardio_training"),
    "Pilates": ("training", "pilates"),
    "Yoga": ("training", "yoga"),
    "Workout": ("training", None),
    "Elliptical": ("fitness_equipment", "elliptical"),
    "StairStepper": ("fitness_equipment", "stair_climbing"),
    "Rowing": ("rowing", None),
    "VirtualRow": ("rowing", "indoor_rowing"),
    "NordicSki": ("cross_country_skiing", None),
    "AlpineSki": ("alpine_skiing", None),
    "BackcountrySki": ("alpine_skiing", "backcountry"),
    "Snowboard": ("snowboarding", None),
    "Snowshoe": ("snowshoeing", None),
    "IceSkate": ("ice_skating", None),
    "InlineSkate": ("inline_skating", None),
    "RockClimbing": ("rock_climbing", None),
    "Kayaking": ("kayaking", None),
    "Canoeing": ("paddling", None),
    "StandUpPaddling": ("stand_up_paddleboarding", None),
    "Surfing": ("surfing", None),
    "Kitesurf": ("kitesurfing", None),
    "Windsurf": ("windsurfing", None),
    "Sail": ("sailing", None),
    "Golf": ("golf", None),
    "Soccer": ("soccer", None),
    "Tennis": ("tennis", None),
}
#: EVIDENCE.md 3.8: Strava "Workout" counts as strength/mobility work.
STRENGTH_SPORT_TYPES = frozenset({"Workout"})
TRAINER_SUB_SPORTS = {"running": "treadmill", "cycling": "indoor_cycling"}


class MappingError(StravaError):
    """The payload lacks what any activity needs (id, start, duration)."""


@dataclass(frozen=True, slots=True)
class MappedActivity:
    """One Strava activity in the FIT model, plus what only Strava knows."""

    strava_id: int
    decoded: DecodedActivity
    local_date: date
    derived: ActivityDerived
    sport_type: str | None
    start_time_hidden: bool
    gear: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def derived_json(self) -> dict[str, Any]:
        """`derived` as stored, with the Strava-only facts beside the metrics."""
        data = derived_to_json(self.derived)
        data["strava"] = {"sport_type": self.sport_type, **self.extra}
        if self.gear is not None:
            data["gear"] = self.gear
        if self.start_time_hidden:
            data["start_time_hidden"] = True
        return data


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _offset_s(raw: Mapping[str, Any], start: datetime, zone: ZoneInfo) -> int:
    """UTC offset at the start: start_date_local - start_date, else utc_offset, else the zone."""
    local = _instant(raw.get("start_date_local"))
    if local is not None:
        seconds = (local.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds()
        minutes = round(seconds / 60)
        if abs(minutes * 60) <= MAX_OFFSET_S:
            return int(minutes * 60)
    utc_offset = _num(raw.get("utc_offset"))
    if utc_offset is not None and abs(utc_offset) <= MAX_OFFSET_S:
        return int(utc_offset)
    offset = start.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _has_gps(raw: Mapping[str, Any]) -> bool:
    if raw.get("manual") is True:
        return False
    route = raw.get("map")
    if isinstance(route, Mapping) and (route.get("summary_polyline") or route.get("polyline")):
        return True
    latlng = raw.get("start_latlng")
    return isinstance(latlng, list) and len(latlng) == 2


def _prior(split: PriorSplit, total: float) -> SurfaceBreakdown:
    return SurfaceBreakdown(
        hard_m=split.hard * total,
        moderate_m=split.moderate * total,
        soft_m=split.soft * total,
        unknown_m=split.unknown * total,
        confidence=split.confidence,
        method=SurfaceMethod.PRIOR,
    )


def surface_of(
    sport: str, sub_sport: str | None, distance_m: float | None, has_gps: bool
) -> SurfaceBreakdown | None:
    """Surface of a Strava run from what the summary says (None for anything but a run)."""
    if sport != "running":
        return None
    total = max(distance_m or 0.0, 0.0)
    if sub_sport in ("treadmill", "virtual_activity"):
        return SurfaceBreakdown(
            treadmill_m=total, confidence=INDOOR_CONFIDENCE, method=SurfaceMethod.INDOOR
        )
    if sub_sport == "trail":
        return _prior(PRIORS["trail"], total)
    if has_gps:
        return _prior(PRIORS["plain"], total)
    return SurfaceBreakdown(unknown_m=total, confidence=0.0, method=SurfaceMethod.NONE)


def map_activity(raw: Mapping[str, Any], *, time_zone: str) -> MappedActivity:
    """Map one summary or detailed activity; raises `MappingError` if unusable."""
    strava_id = raw.get("id")
    if isinstance(strava_id, bool) or not isinstance(strava_id, int):
        raise MappingError("activity without an integer id")
    start = _instant(raw.get("start_date"))
    elapsed = _num(raw.get("elapsed_time"))
    if start is None or elapsed is None or elapsed < 0:
        raise MappingError(f"activity {strava_id}: no usable start_date / elapsed_time")

    sport_type = raw.get("sport_type") if isinstance(raw.get("sport_type"), str) else None
    sport, sub_sport = SPORT_TYPES.get(sport_type or "", ("generic", None))
    if raw.get("trainer") is True and sub_sport is None and sport in TRAINER_SUB_SPORTS:
        sub_sport = TRAINER_SUB_SPORTS[sport]

    zone = _zone(time_zone)
    offset = _offset_s(raw, start, zone)
    local = _instant(raw.get("start_date_local"))
    hidden = local is not None and local.time() == HIDDEN_START
    # Hidden start: the instant is a placeholder, only start_date_local's day is real.
    local_date = local.date() if hidden and local is not None else start.astimezone(zone).date()

    has_hr = raw.get("has_heartrate") is not False
    distance = _num(raw.get("distance"))
    has_gps = _has_gps(raw)
    decoded = DecodedActivity(
        sport=sport,
        sub_sport=sub_sport,
        start=start,
        local_offset_s=offset,
        elapsed_s=elapsed,
        moving_s=_num(raw.get("moving_time")),
        distance_m=distance,
        ascent_m=_num(raw.get("total_elevation_gain")),
        avg_hr=_num(raw.get("average_heartrate")) if has_hr else None,
        max_hr=_num(raw.get("max_heartrate")) if has_hr else None,
        has_gps=has_gps,
        device=str(raw["device_name"])[:128] if raw.get("device_name") else None,
        partial=False,
    )
    is_strength = (sport == "training" and sub_sport in STRENGTH_SUB_SPORTS) or (
        sport_type in STRENGTH_SPORT_TYPES
    )
    derived = ActivityDerived(
        surface=surface_of(sport, sub_sport, distance, has_gps), is_strength=is_strength
    )
    return MappedActivity(
        strava_id=strava_id,
        decoded=decoded,
        local_date=local_date,
        derived=derived,
        sport_type=sport_type,
        start_time_hidden=hidden,
        gear=_gear(raw),
        extra={"trainer": raw.get("trainer") is True, "manual": raw.get("manual") is True},
    )


def _gear(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The gear id; with its total distance when the payload is a detailed activity."""
    gear = raw.get("gear")
    gear_id = raw.get("gear_id")
    if isinstance(gear, Mapping):
        gear_id = gear.get("id", gear_id)
    if not isinstance(gear_id, str) or not gear_id:
        return None
    result: dict[str, Any] = {"id": gear_id}
    if isinstance(gear, Mapping) and _num(gear.get("distance")) is not None:
        result["distance_m"] = _num(gear.get("distance"))
    return result
