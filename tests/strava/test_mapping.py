"""Strava JSON -> activity model, checked against the payloads' own fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

from analysis.model import SurfaceMethod
from analysis.surfaces import PRIORS
from connector.strava.mapping import map_activity
from connector.strava.testing import stravalib_resource, swagger_example


def test_list_example_maps_every_summary_field() -> None:
    for raw in swagger_example("/athlete/activities"):
        mapped = map_activity(raw, time_zone="America/Los_Angeles")
        d = mapped.decoded
        assert mapped.strava_id == raw["id"]
        assert (d.sport, d.sub_sport) == ("cycling", "mountain")  # MountainBikeRide, not "Ride"
        assert d.start == datetime.fromisoformat(raw["start_date"])
        assert d.local_offset_s == raw["utc_offset"]  # start_date_local - start_date
        assert d.elapsed_s == raw["elapsed_time"]
        assert d.moving_s == raw["moving_time"]
        assert d.distance_m == raw["distance"]
        assert d.ascent_m == raw["total_elevation_gain"]
        assert d.avg_hr == raw["average_heartrate"]
        assert d.max_hr == raw["max_heartrate"]
        assert d.device == raw["device_name"]
        assert mapped.gear == {"id": raw["gear_id"]}
        assert mapped.local_date == d.start.astimezone(UTC).date()  # morning in LA = same day
        assert mapped.derived.surface is None  # not a run


def test_detail_example_carries_gear_distance() -> None:
    raw = swagger_example("/activities/{id}")
    mapped = map_activity(raw, time_zone="UTC")
    assert mapped.gear == {"id": raw["gear"]["id"], "distance_m": raw["gear"]["distance"]}
    assert mapped.decoded.has_gps  # the example has a route


def test_sport_type_wins_over_type() -> None:
    raw = swagger_example("/activities/{id}")
    raw.update(type="Workout", sport_type="TrailRun", distance=12000.0)
    mapped = map_activity(raw, time_zone="UTC")
    assert (mapped.decoded.sport, mapped.decoded.sub_sport) == ("running", "trail")
    surface = mapped.derived.surface
    assert surface is not None
    assert surface.method == SurfaceMethod.PRIOR
    assert surface.soft_m == PRIORS["trail"].soft * 12000.0
    assert abs(surface.total_m - 12000.0) < 1e-6


def test_trainer_and_virtual_runs_are_treadmill() -> None:
    raw = swagger_example("/activities/{id}")
    raw.update(sport_type="Run", trainer=True, distance=10000.0)
    trainer = map_activity(raw, time_zone="UTC")
    raw.update(sport_type="VirtualRun", trainer=False)
    virtual = map_activity(raw, time_zone="UTC")
    assert trainer.decoded.sub_sport == "treadmill"
    assert virtual.decoded.sub_sport == "virtual_activity"
    for mapped in (trainer, virtual):
        assert mapped.derived.surface is not None
        assert mapped.derived.surface.treadmill_m == 10000.0
        assert mapped.derived.surface.method == SurfaceMethod.INDOOR


def test_local_date_from_the_instant_in_the_athletes_zone() -> None:
    raw = swagger_example("/activities/{id}")
    # 23:30 UTC is already the next day in Copenhagen; the activity's own offset says -8 h.
    raw.update(start_date="2026-03-01T23:30:00Z", start_date_local="2026-03-01T15:30:00Z")
    mapped = map_activity(raw, time_zone="Europe/Copenhagen")
    assert mapped.local_date == date(2026, 3, 2)
    assert mapped.decoded.local_offset_s == -8 * 3600


def test_hidden_start_time_uses_the_local_day() -> None:
    raw = swagger_example("/activities/{id}")
    raw.update(start_date="2026-03-01T08:00:01Z", start_date_local="2026-03-01T00:00:01Z")
    mapped = map_activity(raw, time_zone="Pacific/Kiritimati")  # +14 h would say 2 March
    assert mapped.start_time_hidden
    assert mapped.local_date == date(2026, 3, 1)
    assert mapped.derived_json()["start_time_hidden"] is True


def test_legacy_payload_without_sport_type_is_not_guessed_from_type() -> None:
    raw = stravalib_resource("activity.3.json")  # 2013 shape: "type": "Run", no sport_type
    mapped = map_activity(raw, time_zone="America/Los_Angeles")
    assert mapped.decoded.sport == "generic"
    assert mapped.decoded.distance_m == raw["distance"]
    assert mapped.local_date == date(2013, 12, 12)


def test_manual_activity_has_no_gps() -> None:
    raw = stravalib_resource("activity-manual.3.json")
    assert not map_activity(raw, time_zone="UTC").decoded.has_gps
