"""The normalised activity every source (FIT, Strava, manual) is turned into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd

#: Columns of `DecodedActivity.samples`, all in SI-ish units named in the column.
#: The index is a tz-aware UTC `DatetimeIndex` named "timestamp". Missing channels are absent
#: columns (never all-NaN columns), so `"hr_bpm" in samples` tells whether HR was recorded.
SAMPLE_COLUMNS = (
    "distance_m",
    "speed_mps",
    "altitude_m",
    "hr_bpm",
    "cadence_spm",
    "power_w",
    "lat_deg",
    "lon_deg",
    "vertical_oscillation_mm",
    "stance_time_ms",
)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedActivity:
    """One session of a file: its summary, its samples, its laps and its strength sets."""

    sport: str
    """FIT sport name, e.g. ``running``, ``training``, ``cycling`` (``generic`` when unknown)."""
    sub_sport: str | None
    """FIT sub_sport name, e.g. ``treadmill``, ``trail``, ``strength_training``."""
    start: datetime
    """Start instant, timezone-aware UTC."""
    local_offset_s: int
    """Athlete's UTC offset at the start, in seconds (from ``activity.local_timestamp``)."""
    elapsed_s: float
    moving_s: float | None
    distance_m: float | None
    ascent_m: float | None
    avg_hr: float | None
    max_hr: float | None
    has_gps: bool
    device: str | None
    """``manufacturer/product`` as FIT names them, e.g. ``garmin/fr965``."""
    partial: bool
    """True when the file was truncated or repaired and this session may be incomplete."""
    session_index: int = 0
    """Position of the session in its file (0-based, transitions excluded)."""
    samples: pd.DataFrame = field(default_factory=_empty_frame, repr=False, compare=False)
    laps: pd.DataFrame = field(default_factory=_empty_frame, repr=False, compare=False)
    sets: pd.DataFrame = field(default_factory=_empty_frame, repr=False, compare=False)

    @property
    def local_start(self) -> datetime:
        """Start as wall-clock time in the athlete's zone (aware, fixed offset)."""
        tz = timezone(timedelta(seconds=self.local_offset_s))
        return self.start.astimezone(tz)

    @property
    def local_date(self) -> date:
        return self.local_start.date()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedFile:
    """Everything one FIT file yielded."""

    activities: tuple[DecodedActivity, ...]
    partial: bool
    """The file was truncated, had a corrupt tail, or needed its header repaired."""
    warnings: tuple[str, ...] = ()
    """Non-fatal problems (CRC mismatch, repaired header, corrupt tail), for the log."""
