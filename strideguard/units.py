"""How numbers are shown to people: always with their unit."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any


def km(metres: float | None) -> str:
    return "—" if metres is None else f"{metres / 1000:.2f} km"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d} h" if hours else f"{minutes}:{secs:02d} min"


def bpm(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} bpm"


def size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, dates ISO 8601, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
