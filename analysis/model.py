"""The analysis layer's value types: profile, per-activity derived data, findings.

`analysis` is pure: these types go in and out of functions; nothing here touches a database, a
file or the clock (callers pass `as_of`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal


class Sex(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True, kw_only=True)
class AthleteProfile:
    """What the athlete told us (None = not given; the analysis estimates and says so)."""

    sex: Sex = Sex.UNSPECIFIED
    hr_max: float | None = None
    hr_rest: float | None = None
    zone_floors_pct: tuple[float, float, float, float, float] | None = None
    """Own HR zones: lower bounds of Z1..Z5 as % of HR max; None = 50/60/70/80/90."""
    time_zone: str = "UTC"
    strength_goal_per_week: int = 2
    units: Literal["km", "mi"] = "km"
    muted_rules: frozenset[str] = frozenset()
    threshold_speed_mps: float | None = None
    """For the pace-based load estimate; None = estimated from the runs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartRateBasis:
    """The HR max / rest the load is computed with, and whether each was estimated."""

    hr_max: float
    hr_rest: float
    hr_max_estimated: bool
    hr_rest_estimated: bool


class SurfaceMethod(enum.StrEnum):
    """The strongest evidence a surface breakdown rests on (EVIDENCE.md 3.7 layers)."""

    INDOOR = "indoor"  # treadmill / indoor / virtual sub_sport, or no GPS with steady pace
    TRACK = "track"  # sub_sport track or 400 m oval geometry
    MAP = "map"  # OpenStreetMap surface/highway/tracktype tags
    PRIOR = "prior"  # sub_sport trail/street or a plain road run: low confidence
    NONE = "none"  # nothing known: all unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class SurfaceBreakdown:
    """Metres of one run in each surface bucket; always sums to the run's distance."""

    hard_m: float = 0.0
    moderate_m: float = 0.0
    soft_m: float = 0.0
    treadmill_m: float = 0.0
    unknown_m: float = 0.0
    confidence: float = 0.0
    """0..1: how far the classified (non-unknown) metres can be trusted."""
    method: SurfaceMethod = SurfaceMethod.NONE

    @property
    def total_m(self) -> float:
        return self.hard_m + self.moderate_m + self.soft_m + self.treadmill_m + self.unknown_m


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningDynamics:
    """Averages over a run, and the change from its first to its last third ("form fade")."""

    cadence_spm: float | None = None
    stance_time_ms: float | None = None
    vertical_oscillation_mm: float | None = None
    cadence_change_pct: float | None = None
    stance_time_change_pct: float | None = None
    vertical_oscillation_change_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityDerived:
    """What is computed once from an activity's samples, independent of the athlete profile.

    The HR histogram makes TRIMP and zone minutes recomputable after a profile change without
    decoding the raw file again: both are sums over samples of a function of HR.
    """

    hr_seconds_by_bpm: dict[int, float] = field(default_factory=dict)
    """Seconds spent at each integer bpm; gaps over 10 s are pauses and count nothing."""
    surface: SurfaceBreakdown | None = None
    """Runs only."""
    dynamics: RunningDynamics | None = None
    is_strength: bool = False
    strength_sets: int = 0


LoadMethod = Literal["trimp_samples", "trimp_avg_hr", "session_rpe", "pace", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivitySummary:
    """One stored activity as the history analysis sees it."""

    id: int
    local_date: date
    start: datetime
    """Aware instant."""
    sport: str
    sub_sport: str | None
    elapsed_s: float
    moving_s: float | None = None
    distance_m: float | None = None
    avg_hr: float | None = None
    max_hr: float | None = None
    rpe: float | None = None
    derived: ActivityDerived | None = None
    gear_km: float | None = None
    """Total distance on the shoes used, where known (Strava gear)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityLoad:
    """An activity's training load and zone minutes under a given HR basis."""

    load: float
    method: LoadMethod
    zone_minutes: tuple[float, float, float, float, float, float] = (0, 0, 0, 0, 0, 0)
    """Minutes in Z0..Z5."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrengthLog:
    local_date: date
    minutes: float
    note: str | None = None


PainArea = Literal["upper_back", "neck", "lower_back", "hip", "knee", "shin", "ankle", "foot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PainLog:
    local_date: date
    area: PainArea
    score: int


Severity = Literal["info", "low", "moderate", "high"]
EvidenceGrade = Literal["A", "B", "C", "D"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One explained observation. (rule_id, local_date, subject) identifies it across re-runs."""

    rule_id: str
    local_date: date
    subject: str
    """What it is about, e.g. "activity:42" or "week:2026-W47", so re-runs never duplicate it."""
    severity: Severity
    evidence_grade: EvidenceGrade
    citation: str
    message: str
    """Plain language, with numbers and units."""
    action: str
    inputs: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    exercises: tuple[str, ...] = ()
    """Ids from the exercise library recommended with this finding."""
    push: bool = False
    """True when the finding warrants a prompt nudge; otherwise it waits for the digest."""
