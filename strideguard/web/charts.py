"""Server-side SVG charts in plain Python: no JavaScript, nothing fetched from a CDN.

Every chart is a `Chart`: an SVG (``viewBox`` + ``width="100%"``, so it scales to a phone
screen) with a ``<title>`` and ``<desc>``, plus a text equivalent: one sentence and a small
table of the numbers. Every piece of text that goes into the markup is escaped here; colours
are SVG presentation attributes (the CSP forbids inline styles), the stylesheet may refine them
through the class names.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

KM_PER_MILE = 1.609344

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 26, 30

SURFACES = ("hard", "moderate", "soft", "treadmill", "unknown")
SURFACE_COLOURS = {
    "hard": "#5b6670",
    "moderate": "#c25e00",
    "soft": "#2f8f46",
    "treadmill": "#2a6f97",
    "unknown": "#c9ced3",
}
BAND_COLOURS = {"none": "#0b6bcb", "small": "#8a6d00", "moderate": "#c25e00", "large": "#b3261e"}
ZONE_COLOURS = ("#c9ced3", "#8fb8de", "#2f8f46", "#e0b000", "#c25e00", "#b3261e")


# -- data the charts draw (also what the JSON routes return) ----------------------------------


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    load: float | None
    ctl: float | None
    atl: float | None
    tsb: float | None


@dataclass(frozen=True, slots=True)
class SurfaceWeek:
    week: date
    hard_m: float
    moderate_m: float
    soft_m: float
    treadmill_m: float
    unknown_m: float

    def metres(self, bucket: str) -> float:
        value: float = getattr(self, f"{bucket}_m")
        return value

    @property
    def total_m(self) -> float:
        return sum(self.metres(b) for b in SURFACES)


@dataclass(frozen=True, slots=True)
class RunPoint:
    activity_id: int
    day: date
    km: float
    band: str
    """Spike class from the stored `single_run_spike` finding: none/small/moderate/large."""


@dataclass(frozen=True, slots=True)
class CeilingPoint:
    day: date
    longest_km: float | None
    """Longest run with local date in the 30 days ending on `day` (inclusive)."""
    ceiling_km: float | None


@dataclass(frozen=True, slots=True)
class StrengthWeek:
    week: date
    sessions: int
    goal: int


@dataclass(frozen=True, slots=True)
class TracePoint:
    t_s: float
    hr_bpm: float | None
    speed_mps: float | None


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its SVG and its text equivalent (a sentence and a table)."""

    key: str
    title: str
    svg: Markup
    summary: str
    table: Markup


# -- small helpers ------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Text for markup (element content and attribute values)."""
    return html.escape(str(value), quote=True)


def _n(x: float) -> str:
    return f"{x:.1f}"


def _unit_km(km: float, units: str) -> float:
    return km / KM_PER_MILE if units == "mi" else km


def _dist(km: float | None, units: str, digits: int = 1) -> str:
    if km is None:
        return "—"
    return f"{_unit_km(km, units):.{digits}f} {'mi' if units == 'mi' else 'km'}"


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 x 10^n)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _svg(key: str, title: str, desc: str, body: Iterable[str], height: int = HEIGHT) -> Markup:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" id="svg-{esc(key)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-labelledby="svg-{esc(key)}-title svg-{esc(key)}-desc" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="svg-{esc(key)}-title">{esc(title)}</title>',
        f'<desc id="svg-{esc(key)}-desc">{esc(desc)}</desc>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))


def _empty(key: str, title: str, sentence: str) -> Chart:
    body = [
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'fill="#5b6670">{esc(sentence)}</text>'
    ]
    return Chart(key, title, _svg(key, title, sentence, body), sentence, Markup(""))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str) -> Markup:
    out = [f'<table class="chart-table"><caption>{esc(caption)}</caption><thead><tr>']
    out += [f'<th scope="col">{esc(h)}</th>' for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<th scope="row">{esc(row[0])}</th>']
        cells += [f'<td class="num">{esc(v)}</td>' for v in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return Markup("".join(out))


def _y_axis(lo: float, hi: float, top: float, bottom: float, label: str, ticks: int = 4) -> str:
    parts = []
    for i in range(ticks + 1):
        value = lo + (hi - lo) * i / ticks
        y = bottom - (bottom - top) * i / ticks
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" y2="{_n(y)}" '
            'stroke="#e6e9ec" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{_n(y + 4)}" text-anchor="end" fill="#5b6670">'
            f"{esc(_tick(value))}</text>"
        )
    parts.append(
        f'<text x="4" y="{_n(top - 10)}" fill="#5b6670" class="axis-label">{esc(label)}</text>'
    )
    return "".join(parts)


def _tick(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"


def _x_labels(days: Sequence[date], x_of: dict[int, float], y: float, every: int) -> str:
    parts = []
    for i, day in enumerate(days):
        if i % every == 0:
            parts.append(
                f'<text x="{_n(x_of[i])}" y="{_n(y)}" text-anchor="middle" fill="#5b6670">'
                f"{esc(day.strftime('%d %b'))}</text>"
            )
    return "".join(parts)


def _legend(items: Sequence[tuple[str, str, str]], y: float = 14) -> str:
    """(label, colour, shape 'line'|'box') from the right edge of the plot leftwards."""
    parts = []
    x = float(LEFT + 40)
    for label, colour, shape in items:
        if shape == "line":
            parts.append(
                f'<line x1="{_n(x)}" x2="{_n(x + 14)}" y1="{_n(y - 4)}" y2="{_n(y - 4)}" '
                f'stroke="{colour}" stroke-width="2.5"/>'
            )
        else:
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="10" height="10" fill="{colour}"/>'
            )
        parts.append(f'<text x="{_n(x + 18)}" y="{_n(y)}" fill="#1d2329">{esc(label)}</text>')
        x += 26 + 7 * len(label)
    return '<g class="legend">' + "".join(parts) + "</g>"


def _polyline(
    points: Sequence[tuple[float, float] | None], colour: str, cls: str, **extra: str
) -> str:
    """One ``<polyline>`` per run of points without a gap (None)."""
    attrs = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in extra.items())
    out: list[str] = []
    run: list[tuple[float, float]] = []
    for point in [*points, None]:
        if point is None:
            if len(run) >= 2:
                coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in run)
                out.append(
                    f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" stroke-linejoin="round"{attrs}/>'
                )
            elif len(run) == 1:
                x, y = run[0]
                out.append(
                    f'<circle class="{cls}" cx="{_n(x)}" cy="{_n(y)}" r="1.5" fill="{colour}"/>'
                )
            run = []
        else:
            run.append(point)
    return "".join(out)


def _scale(lo: float, hi: float, top: float, bottom: float) -> tuple[float, float]:
    """(a, b) with y = a * value + b mapping [lo, hi] onto [bottom, top]."""
    span = hi - lo or 1.0
    a = -(bottom - top) / span
    return a, bottom - a * lo


# -- 1. fitness / fatigue / form with daily load bars ----------------------------------------


def fitness_chart(days: Sequence[DayPoint]) -> Chart:
    key, title = "fitness", "Fitness, fatigue and form (last 6 months)"
    if not days or all(d.ctl is None for d in days):
        return _empty(key, title, "No training load yet: upload some activities.")
    n = len(days)
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / n
    x_of = {i: LEFT + (i + 0.5) * step for i in range(n)}
    lines_top, lines_bottom = TOP, 150.0
    bars_top, bars_bottom = 168.0, HEIGHT - BOTTOM
    values = [v for d in days for v in (d.ctl, d.atl, d.tsb) if v is not None]
    lo = -nice_max(-min(values)) if min(values) < 0 else 0.0
    hi = nice_max(max(values))
    a, b = _scale(lo, hi, lines_top, lines_bottom)
    body = [_y_axis(lo, hi, lines_top, lines_bottom, "CTL / ATL / TSB")]
    zero = a * 0 + b
    body.append(
        f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(zero)}" y2="{_n(zero)}" '
        'stroke="#9aa3ab" stroke-width="1"/>'
    )
    for name, colour, label in (
        ("ctl", "#0b6bcb", "fitness"),
        ("atl", "#c25e00", "fatigue"),
        ("tsb", "#2f8f46", "form"),
    ):
        points = [
            None if (v := getattr(d, name)) is None else (x_of[i], a * v + b)
            for i, d in enumerate(days)
        ]
        body.append(_polyline(points, colour, f"line line-{name}", data_series=label))
    loads = [d.load or 0.0 for d in days]
    top_load = nice_max(max(loads))
    la, lb = _scale(0, top_load, bars_top, bars_bottom)
    body.append(
        f'<text x="{LEFT - 4}" y="{_n(bars_top + 4)}" text-anchor="end" fill="#5b6670">'
        f"{esc(_tick(top_load))}</text>"
        f'<text x="{LEFT - 4}" y="{_n(bars_bottom)}" text-anchor="end" fill="#5b6670">0</text>'
    )
    bar_w = max(step * 0.8, 0.5)
    for i, load in enumerate(loads):
        if load > 0:
            y = la * load + lb
            body.append(
                f'<rect class="bar load" x="{_n(x_of[i] - bar_w / 2)}" y="{_n(y)}" '
                f'width="{_n(bar_w)}" height="{_n(bars_bottom - y)}" fill="#8fb8de">'
                f"<title>{esc(days[i].day.isoformat())}: load {load:.0f}</title></rect>"
            )
    body.append(_x_labels([d.day for d in days], x_of, HEIGHT - 10, max(1, n // 6)))
    body.append(
        _legend(
            [
                ("fitness (CTL)", "#0b6bcb", "line"),
                ("fatigue (ATL)", "#c25e00", "line"),
                ("form (TSB)", "#2f8f46", "line"),
                ("daily load", "#8fb8de", "box"),
            ]
        )
    )
    last = days[-1]
    first = next(d for d in days if d.ctl is not None)
    busiest = max(days, key=lambda d: d.load or 0.0)
    summary = (
        f"Fitness (CTL) went from {_num(first.ctl)} on {first.day} to {_num(last.ctl)} on "
        f"{last.day}; today fatigue (ATL) is {_num(last.atl)} and form (TSB) {_num(last.tsb)}. "
        f"The highest daily load was {_num(busiest.load)} on {busiest.day}."
    )
    weekly = [d for i, d in enumerate(days) if (n - 1 - i) % 7 == 0]
    table = _table(
        ["Day", "Load", "Fitness (CTL)", "Fatigue (ATL)", "Form (TSB)"],
        ((d.day, _num(d.load), _num(d.ctl), _num(d.atl), _num(d.tsb)) for d in weekly),
        "Every 7th day up to today",
    )
    return Chart(key, title, _svg(key, title, summary, body), summary, table)


# -- 2. weekly distance by surface --------------------------------------------------------------


def surface_chart(weeks: Sequence[SurfaceWeek], units: str = "km") -> Chart:
    key, title = "surfaces", "Weekly running distance by surface"
    if not weeks or all(w.total_m == 0 for w in weeks):
        return _empty(key, title, "No running in these weeks yet.")
    unit = "mi" if units == "mi" else "km"
    n = len(weeks)
    step = (WIDTH - LEFT - RIGHT) / n
    bottom = HEIGHT - BOTTOM
    hi = nice_max(max(_unit_km(w.total_m / 1000, units) for w in weeks))
    a, b = _scale(0, hi, TOP, bottom)
    body = [_y_axis(0, hi, TOP, bottom, unit)]
    bar_w = step * 0.75
    for i, w in enumerate(weeks):
        x = LEFT + i * step + (step - bar_w) / 2
        base = 0.0
        for bucket in SURFACES:
            value = _unit_km(w.metres(bucket) / 1000, units)
            if value <= 0:
                continue
            y0, y1 = a * base + b, a * (base + value) + b
            body.append(
                f'<rect class="bar surface-{bucket}" x="{_n(x)}" y="{_n(y1)}" '
                f'width="{_n(bar_w)}" height="{_n(max(y0 - y1, 0.0))}" '
                f'fill="{SURFACE_COLOURS[bucket]}"><title>Week of {esc(w.week.isoformat())}: '
                f"{value:.1f} {unit} {bucket}</title></rect>"
            )
            base += value
    x_of = {i: LEFT + (i + 0.5) * step for i in range(n)}
    body.append(_x_labels([w.week for w in weeks], x_of, HEIGHT - 10, max(1, n // 6)))
    body.append(_legend([(s, SURFACE_COLOURS[s], "box") for s in SURFACES]))
    total = sum(w.total_m for w in weeks) / 1000
    shares = {s: sum(w.metres(s) for w in weeks) / 1000 for s in SURFACES}
    biggest = max(SURFACES, key=lambda s: shares[s])
    last = weeks[-1]
    summary = (
        f"{_dist(total, units)} of running over {n} weeks, most of it {biggest} "
        f"({shares[biggest] / total:.0%}). This week so far: {_dist(last.total_m / 1000, units)}."
    )
    table = _table(
        ["Week of", *SURFACES, "total"],
        (
            (
                w.week,
                *(f"{_unit_km(w.metres(s) / 1000, units):.1f}" for s in SURFACES),
                f"{_unit_km(w.total_m / 1000, units):.1f}",
            )
            for w in weeks
        ),
        f"Distance per surface ({unit})",
    )
    return Chart(key, title, _svg(key, title, summary, body), summary, table)


# -- 3. runs by distance with the 30-day longest and the ceiling --------------------------------


def runs_chart(
    runs: Sequence[RunPoint], ceiling: Sequence[CeilingPoint], units: str = "km"
) -> Chart:
    key, title = "runs", "Runs by distance, 30-day longest run and +10 % ceiling"
    if not runs or not ceiling:
        return _empty(key, title, "No runs in the last 6 months yet.")
    unit = "mi" if units == "mi" else "km"
    first_day = ceiling[0].day
    n = len(ceiling)
    step = (WIDTH - LEFT - RIGHT) / n
    bottom = HEIGHT - BOTTOM

    def x_at(day: date) -> float:
        return LEFT + ((day - first_day).days + 0.5) * step

    tops = [r.km for r in runs] + [c.ceiling_km for c in ceiling if c.ceiling_km is not None]
    hi = nice_max(_unit_km(max(tops), units))
    a, b = _scale(0, hi, TOP, bottom)
    body = [_y_axis(0, hi, TOP, bottom, unit)]
    longest = [
        None if c.longest_km is None else (x_at(c.day), a * _unit_km(c.longest_km, units) + b)
        for c in ceiling
    ]
    limit = [
        None if c.ceiling_km is None else (x_at(c.day), a * _unit_km(c.ceiling_km, units) + b)
        for c in ceiling
    ]
    body.append(_polyline(longest, "#5b6670", "line line-longest"))
    body.append(_polyline(limit, "#b3261e", "line line-ceiling", stroke_dasharray="5 4"))
    for r in runs:
        radius = 4 if r.band == "none" else 6
        body.append(
            f'<circle class="run spike-{esc(r.band)}" data-activity="{r.activity_id}" '
            f'cx="{_n(x_at(r.day))}" cy="{_n(a * _unit_km(r.km, units) + b)}" r="{radius}" '
            f'fill="{BAND_COLOURS.get(r.band, BAND_COLOURS["none"])}" stroke="#fff">'
            f"<title>{esc(r.day.isoformat())}: {esc(_dist(r.km, units))}"
            f"{'' if r.band == 'none' else ', ' + esc(r.band) + ' spike'}</title></circle>"
        )
    x_of = {i: x_at(c.day) for i, c in enumerate(ceiling)}
    body.append(_x_labels([c.day for c in ceiling], x_of, HEIGHT - 10, max(1, n // 6)))
    body.append(
        _legend(
            [
                ("run", BAND_COLOURS["none"], "box"),
                ("spike", BAND_COLOURS["large"], "box"),
                ("30-day longest", "#5b6670", "line"),
                ("ceiling (+10 %)", "#b3261e", "line"),
            ]
        )
    )
    spikes = [r for r in runs if r.band != "none"]
    today = ceiling[-1]
    summary = f"{len(runs)} runs in the last {n} days, {len(spikes)} of them spikes" + (
        " (" + ", ".join(f"{r.day} {r.band}" for r in spikes[-5:]) + ")" if spikes else ""
    )
    summary += (
        f". Today's ceiling is {_dist(today.ceiling_km, units)} "
        f"(1.10 x the 30-day longest, {_dist(today.longest_km, units)})."
        if today.ceiling_km is not None
        else ". No run in the last 30 days, so no ceiling today."
    )
    table = _table(
        ["Day", f"Distance ({unit})", "Spike"],
        ((r.day, f"{_unit_km(r.km, units):.2f}", r.band) for r in runs),
        "Runs",
    )
    return Chart(key, title, _svg(key, title, summary, body), summary, table)


# -- 4. strength / mobility sessions per week ------------------------------------------------


def strength_chart(weeks: Sequence[StrengthWeek]) -> Chart:
    key, title = "strength", "Strength and mobility sessions per week"
    if not weeks:
        return _empty(key, title, "No weeks to show yet.")
    n = len(weeks)
    goal = weeks[-1].goal
    step = (WIDTH - LEFT - RIGHT) / n
    bottom = HEIGHT - BOTTOM
    hi = nice_max(max([w.sessions for w in weeks] + [goal, 1]))
    a, b = _scale(0, hi, TOP, bottom)
    body = [_y_axis(0, hi, TOP, bottom, "sessions")]
    bar_w = step * 0.7
    for i, w in enumerate(weeks):
        if w.sessions <= 0:
            continue
        x = LEFT + i * step + (step - bar_w) / 2
        y = a * w.sessions + b
        met = w.goal > 0 and w.sessions >= w.goal
        body.append(
            f'<rect class="bar {"met" if met else "below"}" x="{_n(x)}" y="{_n(y)}" '
            f'width="{_n(bar_w)}" height="{_n(bottom - y)}" '
            f'fill="{"#2f8f46" if met else "#e0b000"}"><title>Week of '
            f"{esc(w.week.isoformat())}: {w.sessions} of {w.goal}</title></rect>"
        )
    if goal > 0:
        y = a * goal + b
        body.append(
            f'<line class="goal" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" y2="{_n(y)}" '
            'stroke="#b3261e" stroke-width="2" stroke-dasharray="6 4"/>'
        )
    x_of = {i: LEFT + (i + 0.5) * step for i in range(n)}
    body.append(_x_labels([w.week for w in weeks], x_of, HEIGHT - 10, max(1, n // 6)))
    body.append(
        _legend(
            [
                ("goal met", "#2f8f46", "box"),
                ("below goal", "#e0b000", "box"),
                ("goal", "#b3261e", "line"),
            ]
        )
    )
    met_weeks = sum(1 for w in weeks if w.goal > 0 and w.sessions >= w.goal)
    summary = (
        f"The goal of {goal} sessions a week was met in {met_weeks} of the last {n} weeks; "
        f"this week so far: {weeks[-1].sessions}."
        if goal > 0
        else f"No weekly goal set; {sum(w.sessions for w in weeks)} sessions in {n} weeks."
    )
    table = _table(
        ["Week of", "Sessions", "Goal"], ((w.week, w.sessions, w.goal) for w in weeks), "Sessions"
    )
    return Chart(key, title, _svg(key, title, summary, body), summary, table)


# -- 5. the activity page ---------------------------------------------------------------------


def downsample(
    t_s: Sequence[float],
    hr: Sequence[float | None],
    speed: Sequence[float | None],
    max_points: int = 600,
) -> list[TracePoint]:
    """Average into at most `max_points` equal-time buckets (gaps stay gaps)."""
    if not t_s:
        return []
    start, end = t_s[0], t_s[-1]
    buckets = min(max_points, len(t_s))
    width = (end - start) / buckets if end > start else 1.0
    sums: dict[int, list[float]] = {}
    for t, h, s in zip(t_s, hr, speed, strict=True):
        i = min(int((t - start) / width), buckets - 1)
        acc = sums.setdefault(i, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        acc[0] += t
        acc[1] += 1
        if h is not None and math.isfinite(h):
            acc[2] += h
            acc[3] += 1
        if s is not None and math.isfinite(s):
            acc[4] += s
            acc[5] += 1
    points = []
    for i in sorted(sums):
        acc = sums[i]
        speed_n = acc[5]
        points.append(
            TracePoint(
                t_s=round(acc[0] / acc[1] - start, 1),
                hr_bpm=round(acc[2] / acc[3], 1) if acc[3] else None,
                speed_mps=round(acc[4] / speed_n, 3) if speed_n else None,
            )
        )
    return points


def _pace(speed_mps: float | None, units: str) -> float | None:
    """Minutes per km (or mile); None when standing (slower than 20 min/km)."""
    if speed_mps is None or speed_mps < 1000 / 1200:
        return None
    per_km = 1000 / speed_mps / 60
    return per_km * KM_PER_MILE if units == "mi" else per_km


def _clock(minutes: float) -> str:
    whole = int(minutes)
    return f"{whole}:{round((minutes - whole) * 60) % 60:02d}"


def trace_chart(points: Sequence[TracePoint], units: str = "km") -> Chart:
    key, title = "trace", "Heart rate and pace over time"
    if not points or all(p.hr_bpm is None and p.speed_mps is None for p in points):
        return _empty(key, title, "No heart rate or speed recorded (or the file is unavailable).")
    unit = "min/mi" if units == "mi" else "min/km"
    end = points[-1].t_s or 1.0
    plot_w = WIDTH - LEFT - RIGHT

    def x_at(t: float) -> float:
        return LEFT + t / end * plot_w

    body: list[str] = []
    hrs = [p.hr_bpm for p in points if p.hr_bpm is not None]
    hr_top, hr_bottom = float(TOP), 125.0
    pace_top, pace_bottom = 150.0, float(HEIGHT - BOTTOM)
    if hrs:
        lo, hi = 10 * math.floor(min(hrs) / 10), 10 * math.ceil(max(hrs) / 10)
        a, b = _scale(lo, hi or 1, hr_top, hr_bottom)
        body.append(_y_axis(lo, hi, hr_top, hr_bottom, "HR (bpm)", ticks=2))
        body.append(
            _polyline(
                [None if p.hr_bpm is None else (x_at(p.t_s), a * p.hr_bpm + b) for p in points],
                "#b3261e",
                "line line-hr",
            )
        )
    paces = [_pace(p.speed_mps, units) for p in points]
    known = sorted(v for v in paces if v is not None)
    if known:
        # Faster is up; the axis spans the 2nd..98th percentile so one GPS glitch does not
        # flatten the rest.
        fast = known[int(0.02 * (len(known) - 1))]
        slow = known[int(0.98 * (len(known) - 1))]
        fast, slow = math.floor(fast), math.ceil(slow + 0.01)
        a = (pace_bottom - pace_top) / (slow - fast)
        b = pace_top - a * fast
        for i, value in enumerate((fast, (fast + slow) / 2, slow)):
            y = a * value + b
            body.append(
                f'<text x="{LEFT - 4}" y="{_n(y + 4)}" text-anchor="end" fill="#5b6670">'
                f"{esc(_clock(value))}</text>"
                + (
                    f'<text x="4" y="{_n(pace_top - 8)}" fill="#5b6670">{esc(unit)}</text>'
                    if i == 0
                    else ""
                )
            )
        body.append(
            _polyline(
                [
                    None if v is None else (x_at(p.t_s), a * min(max(v, fast), slow) + b)
                    for p, v in zip(points, paces, strict=True)
                ],
                "#0b6bcb",
                "line line-pace",
            )
        )
    minutes = int(end // 60)
    for m in range(0, minutes + 1, max(5, 5 * math.ceil(minutes / 40))):
        body.append(
            f'<text x="{_n(x_at(m * 60))}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'fill="#5b6670">{m} min</text>'
        )
    body.append(_legend([("heart rate", "#b3261e", "line"), ("pace", "#0b6bcb", "line")]))
    avg_hr = sum(hrs) / len(hrs) if hrs else None
    summary = f"{len(points)} points over {_clock(end / 60)} (min:s)"
    if hrs:
        summary += f"; heart rate {min(hrs):.0f} to {max(hrs):.0f} bpm, average {avg_hr:.0f}"
    if known:
        summary += f"; pace mostly between {_clock(known[int(0.1 * (len(known) - 1))])} and "
        summary += f"{_clock(known[int(0.9 * (len(known) - 1))])} {unit}"
    summary += "."
    every = max(1, len(points) // 12)
    table = _table(
        ["Minute", "HR (bpm)", f"Pace ({unit})"],
        (
            (f"{p.t_s / 60:.0f}", _num(p.hr_bpm), "—" if v is None else _clock(v))
            for i, (p, v) in enumerate(zip(points, paces, strict=True))
            if i % every == 0
        ),
        "Every few minutes",
    )
    return Chart(key, title, _svg(key, title, summary, body), summary, table)


def _hbar_chart(
    key: str, title: str, summary: str, rows: Sequence[tuple[str, float, str, str]], unit: str
) -> Markup:
    """Horizontal bars: (label, value, colour, class)."""
    height = TOP + 26 * len(rows) + 10
    hi = nice_max(max([v for _, v, _, _ in rows] + [1e-9]))
    left = 110
    plot_w = WIDTH - left - 70
    body = []
    for i, (label, value, colour, cls) in enumerate(rows):
        y = TOP + 26 * i
        w = plot_w * value / hi
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="#1d2329">'
            f"{esc(label)}</text>"
            f'<rect class="bar {esc(cls)}" x="{left}" y="{y}" width="{_n(w)}" height="18" '
            f'fill="{colour}"/>'
            f'<text x="{_n(left + w + 4)}" y="{y + 14}" fill="#1d2329">'
            f"{value:.1f} {esc(unit)}</text>"
        )
    return _svg(key, title, summary, body, height=height)


def zones_chart(zone_minutes: Sequence[float] | None) -> Chart:
    key, title = "zones", "Time in heart-rate zones"
    if not zone_minutes or sum(zone_minutes) <= 0:
        return _empty(key, title, "No heart-rate zones for this activity.")
    rows = [
        (f"Zone {i}" if i else "Below zone 1", float(m), ZONE_COLOURS[i % 6], f"zone-{i}")
        for i, m in enumerate(zone_minutes)
    ]
    total = sum(zone_minutes)
    top = max(range(len(zone_minutes)), key=lambda i: zone_minutes[i])
    summary = (
        f"{total:.0f} minutes with heart rate, most in {rows[top][0].lower()} "
        f"({zone_minutes[top]:.0f} min)."
    )
    table = _table(["Zone", "Minutes"], ((r[0], f"{r[1]:.1f}") for r in rows), "Time in zones")
    return Chart(key, title, _hbar_chart(key, title, summary, rows, "min"), summary, table)


def surface_bar(surface: dict[str, object] | None, units: str = "km") -> Chart:
    key, title = "surface", "Surface breakdown"
    metres = {s: _float((surface or {}).get(f"{s}_m")) for s in SURFACES}
    total = sum(metres.values())
    if total <= 0:
        return _empty(key, title, "No surface breakdown for this activity.")
    unit = "mi" if units == "mi" else "km"
    rows = [
        (s, _unit_km(metres[s] / 1000, units), SURFACE_COLOURS[s], f"surface-{s}") for s in SURFACES
    ]
    confidence = _float((surface or {}).get("confidence"))
    method = str((surface or {}).get("method", "none"))
    parts = [f"{metres[s] / total:.0%} {s}" for s in SURFACES if metres[s] > 0]
    summary = f"{', '.join(parts)} (method: {method}, confidence {confidence:.0%})."
    table = _table(
        ["Surface", f"Distance ({unit})", "Share"],
        (
            (s, f"{_unit_km(metres[s] / 1000, units):.2f}", f"{metres[s] / total:.0%}")
            for s in SURFACES
        ),
        "Surface breakdown",
    )
    return Chart(key, title, _hbar_chart(key, title, summary, rows, unit), summary, table)


def _float(value: object) -> float:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return 0.0


DYNAMICS = (
    ("Cadence", "cadence_spm", "cadence_change_pct", "spm"),
    ("Ground contact time", "stance_time_ms", "stance_time_change_pct", "ms"),
    ("Vertical oscillation", "vertical_oscillation_mm", "vertical_oscillation_change_pct", "mm"),
)


def form_fade(dynamics: dict[str, object] | None) -> tuple[str, Markup]:
    """Form fade as a sentence and a table (numbers, not a chart)."""
    rows = []
    for label, avg_key, change_key, unit in DYNAMICS:
        avg = (dynamics or {}).get(avg_key)
        change = (dynamics or {}).get(change_key)
        if avg is None and change is None:
            continue
        rows.append(
            (
                label,
                f"{_float(avg):.0f} {unit}" if avg is not None else "—",
                f"{_float(change):+.1f} %" if change is not None else "—",
            )
        )
    if not rows:
        return "No running dynamics recorded.", Markup("")
    summary = (
        "From the first to the last third of the run: "
        + "; ".join(f"{label.lower()} {change}" for label, _, change in rows)
        + "."
    )
    table = _table(["Measure", "Average", "Change first → last third"], rows, "Form fade")
    return summary, table
