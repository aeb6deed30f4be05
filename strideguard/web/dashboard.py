"""The dashboard: a page of server-rendered SVG charts, and the JSON behind each chart.

Caching: the chart data needs the full analysis (fitness and fatigue are exponentially
weighted over the whole history), which takes long for years of data. So each worker process
keeps the computed chart data per athlete, keyed by a *data version*: a handful of aggregates
that change whenever anything the charts depend on changes (activity count, max id, sums of RPE
and load; strength-log count and max id; findings count and max id; the profile fields; the
athlete's local today). Checking the version is one cheap query; only a changed version runs
the analysis again (which also stores fresh findings, as the home page does).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analysis.history import is_run
from analysis.plausibility import screen
from connector.errors import ConnectorError
from connector.fit import decode_fit
from store import models
from store.summaries import activity_summary
from strideguard.analysis_service import analyse_athlete, local_today
from strideguard.app import App
from strideguard.web import charts
from strideguard.web.auth import AthleteDep, core_app
from strideguard.web.charts import (
    CeilingPoint,
    Chart,
    DayPoint,
    RunPoint,
    StrengthWeek,
    SurfaceWeek,
    TracePoint,
)
from strideguard.web.common import (
    DB,
    IdPath,
    athlete_row,
    current_findings,
    finding_dict,
    own_activity,
    render,
    responses,
)

router = APIRouter(tags=["dashboard"])

DAYS = 182
"""The charts' window: the last 6 months."""
MAX_DAYS = 366
WEEKS = 26
MAX_WEEKS = 53
CEILING_WINDOW_DAYS = 30
CEILING_FACTOR = 1.10
SPIKE_BANDS = ("small", "moderate", "large")
TRACE_POINTS = 600


# -- the data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DashboardData:
    as_of: date
    goal: int
    days: list[DayPoint]
    surfaces: list[SurfaceWeek]
    runs: list[RunPoint]
    ceiling: list[CeilingPoint]
    strength: list[StrengthWeek]
    rendered: dict[str, Any] = field(default_factory=dict)
    """Charts rendered once per version (by units)."""


def _f(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def data_version(session: Session, athlete: models.Athlete, today: date) -> tuple[Hashable, ...]:
    """Changes whenever anything the charts show may have changed (see the module doc)."""
    a, s, f = models.Activity, models.StrengthLog, models.Finding
    row = session.execute(
        select(
            select(func.count(a.id)).where(a.athlete_id == athlete.id).scalar_subquery(),
            select(func.max(a.id)).where(a.athlete_id == athlete.id).scalar_subquery(),
            select(func.sum(a.rpe)).where(a.athlete_id == athlete.id).scalar_subquery(),
            select(func.sum(a.load)).where(a.athlete_id == athlete.id).scalar_subquery(),
            select(func.count(s.id)).where(s.athlete_id == athlete.id).scalar_subquery(),
            select(func.max(s.id)).where(s.athlete_id == athlete.id).scalar_subquery(),
            select(func.count(f.id)).where(f.athlete_id == athlete.id).scalar_subquery(),
            select(func.max(f.id)).where(f.athlete_id == athlete.id).scalar_subquery(),
        )
    ).one()
    profile = (
        athlete.sex,
        athlete.hr_max,
        athlete.hr_rest,
        tuple(athlete.zone_floors_pct or ()),
        athlete.time_zone,
        athlete.strength_goal_per_week,
        athlete.units,
        tuple(sorted(athlete.muted_rules or ())),
        athlete.threshold_speed_mps,
    )
    return (*tuple(row), profile, today)


def compute(session: Session, athlete: models.Athlete, today: date) -> DashboardData:
    """Run the analysis (storing its findings) and derive every chart's data from it."""
    try:
        result = analyse_athlete(session, athlete, as_of=today)
        session.commit()
    except IntegrityError:  # another worker stored the same new finding first: redo once
        session.rollback()
        result = analyse_athlete(session, athlete, as_of=today)
        session.commit()
    analysis = result.analysis
    daily = analysis.daily.tail(MAX_DAYS)
    days = [
        DayPoint(
            day=stamp.date(),
            load=_f(rec.get("load")),
            ctl=_f(rec.get("ctl")),
            atl=_f(rec.get("atl")),
            tsb=_f(rec.get("tsb")),
        )
        for stamp, rec in zip(pd.DatetimeIndex(daily.index), daily.to_dict("records"), strict=True)
    ]
    goal = athlete.strength_goal_per_week
    weekly = analysis.weekly.tail(MAX_WEEKS)
    mondays = [stamp.date() for stamp in pd.DatetimeIndex(weekly.index)]
    strength = [
        StrengthWeek(week=monday, sessions=int(_f(n) or 0), goal=goal)
        for monday, n in zip(mondays, weekly["strength_sessions"].to_list(), strict=True)
    ]

    first_day = today - timedelta(days=MAX_DAYS - 1)
    since = min([first_day - timedelta(days=CEILING_WINDOW_DAYS), *mondays])
    rows = session.scalars(
        select(models.Activity)
        .where(
            models.Activity.athlete_id == athlete.id,
            models.Activity.local_date >= since,
            models.Activity.local_date <= today,
        )
        .order_by(models.Activity.start_utc, models.Activity.id)
    ).all()
    summaries, _flagged = screen([activity_summary(r) for r in rows])
    runs = [s for s in summaries if is_run(s)]

    buckets = {m: dict.fromkeys(charts.SURFACES, 0.0) for m in mondays}
    for run in runs:
        week = buckets.get(run.local_date - timedelta(days=run.local_date.weekday()))
        if week is None:
            continue
        surface = run.derived.surface if run.derived is not None else None
        if surface is None:
            week["unknown"] += max(run.distance_m or 0.0, 0.0)
        else:
            for bucket in charts.SURFACES:
                week[bucket] += getattr(surface, f"{bucket}_m")
    surfaces = [
        SurfaceWeek(
            week=m,
            hard_m=b["hard"],
            moderate_m=b["moderate"],
            soft_m=b["soft"],
            treadmill_m=b["treadmill"],
            unknown_m=b["unknown"],
        )
        for m, b in buckets.items()
    ]

    bands: dict[int, str] = {}
    for finding in session.scalars(
        select(models.Finding).where(
            models.Finding.athlete_id == athlete.id,
            models.Finding.rule_id == "single_run_spike",
        )
    ):
        band = (finding.inputs or {}).get("band")
        kind, _, ident = finding.subject.partition(":")
        if kind == "activity" and ident.isdigit() and band in SPIKE_BANDS:
            bands[int(ident)] = str(band)
    measured = [r for r in runs if (r.distance_m or 0.0) > 0]
    points = [
        RunPoint(
            activity_id=r.id,
            day=r.local_date,
            km=(r.distance_m or 0.0) / 1000,
            band=bands.get(r.id, "none"),
        )
        for r in measured
        if r.local_date >= first_day
    ]
    ceiling: list[CeilingPoint] = []
    lo = 0
    window: list[tuple[date, float]] = [
        (r.local_date, (r.distance_m or 0.0) / 1000) for r in measured
    ]
    for offset in range(MAX_DAYS):
        day = first_day + timedelta(days=offset)
        start = day - timedelta(days=CEILING_WINDOW_DAYS - 1)
        while lo < len(window) and window[lo][0] < start:
            lo += 1
        best = max((km for d, km in window[lo:] if d <= day), default=None)
        ceiling.append(
            CeilingPoint(
                day=day,
                longest_km=best,
                ceiling_km=None if best is None else best * CEILING_FACTOR,
            )
        )
    return DashboardData(
        as_of=today,
        goal=goal,
        days=days,
        surfaces=surfaces,
        runs=points,
        ceiling=ceiling,
        strength=strength,
    )


class _Cache:
    """Per process: athlete id -> (data version, data); least recently used dropped first."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[tuple[Hashable, ...], DashboardData]] = OrderedDict()
        self._lock = threading.Lock()
        self._compute_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _get(self, athlete_id: int, version: tuple[Hashable, ...]) -> DashboardData | None:
        with self._lock:
            item = self._items.get(athlete_id)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(athlete_id)
            return item[1]

    def get(self, session: Session, athlete: models.Athlete) -> DashboardData:
        today = local_today(athlete)
        found = self._get(athlete.id, data_version(session, athlete, today))
        if found is not None:
            self.hits += 1
            return found
        # One computation at a time per process: two at once for one athlete would race on
        # storing the same findings, and would only slow each other down on a small server.
        with self._compute_lock:
            session.rollback()  # see what was committed meanwhile
            athlete = athlete_row_by_id(session, athlete.id)
            version = data_version(session, athlete, today)
            found = self._get(athlete.id, version)
            if found is not None:
                self.hits += 1
                return found
            self.misses += 1
            data = compute(session, athlete, today)
            version = data_version(session, athlete, today)
            with self._lock:
                self._items[athlete.id] = (version, data)
                self._items.move_to_end(athlete.id)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def athlete_row_by_id(session: Session, athlete_id: int) -> models.Athlete:
    return session.get_one(models.Athlete, athlete_id)


CACHE = _Cache()


def dashboard_data(session: Session, athlete: models.Athlete) -> DashboardData:
    return CACHE.get(session, athlete)


def dashboard_charts(data: DashboardData, units: str) -> list[Chart]:
    key = f"charts:{units}"
    cached: list[Chart] | None = data.rendered.get(key)
    if cached is None:
        cached = [
            charts.fitness_chart(data.days[-DAYS:]),
            charts.surface_chart(data.surfaces[-WEEKS:], units),
            charts.runs_chart(
                [r for r in data.runs if r.day > data.as_of - timedelta(days=DAYS)],
                data.ceiling[-DAYS:],
                units,
            ),
            charts.strength_chart(data.strength[-WEEKS:]),
        ]
        data.rendered[key] = cached
    return cached


# -- the activity page's charts -----------------------------------------------------------------


class _TraceCache:
    """Decoded, downsampled traces by (activity id, file hash): decoding costs ~0.1-0.5 s."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str], list[TracePoint]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, app: App, session: Session, row: models.Activity) -> list[TracePoint]:
        raw = session.get(models.RawFile, row.raw_file_id) if row.raw_file_id else None
        if raw is None or raw.athlete_id != row.athlete_id:
            return []
        key = (row.id, raw.sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        points = _decode_trace(app, raw.sha256, row)
        with self._lock:
            self._items[key] = points
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return points


def _decode_trace(app: App, sha256: str, row: models.Activity) -> list[TracePoint]:
    try:
        data = app.blobs.get(sha256)
        decoded = decode_fit(data)
    except (OSError, ValueError, ConnectorError):
        return []
    _, _, index_text = row.source_id.rpartition(":")
    index = int(index_text) if index_text.isdigit() else 0
    chosen = next((a for a in decoded.activities if a.session_index == index), None)
    if chosen is None:
        return []
    samples = chosen.samples
    if samples.empty:
        return []
    stamps = pd.DatetimeIndex(samples.index)
    t_s = ((stamps - stamps[0]).total_seconds()).to_list()

    def column(name: str) -> list[float | None]:
        if name not in samples:
            return [None] * len(t_s)
        return [None if v != v else float(v) for v in samples[name].to_list()]

    return charts.downsample(t_s, column("hr_bpm"), column("speed_mps"), TRACE_POINTS)


TRACES = _TraceCache()


@dataclass(frozen=True, slots=True)
class ActivityCharts:
    trace: Chart
    zones: Chart
    surface: Chart
    fade_summary: str
    fade_table: Any


def activity_charts(app: App, session: Session, row: models.Activity, units: str) -> ActivityCharts:
    """The activity page's charts (the FIT file is decoded on demand, then cached)."""
    derived = row.derived or {}
    fade_summary, fade_table = charts.form_fade(derived.get("dynamics"))
    return ActivityCharts(
        trace=charts.trace_chart(TRACES.get(app, session, row), units),
        zones=charts.zones_chart(row.zone_minutes),
        surface=charts.surface_bar(derived.get("surface"), units),
        fade_summary=fade_summary,
        fade_table=fade_table,
    )


# -- JSON models ---------------------------------------------------------------------------------


class FitnessDay(BaseModel):
    date: date
    load: float | None
    ctl: float | None
    atl: float | None
    tsb: float | None


class SurfaceWeekOut(BaseModel):
    week: date
    hard_m: float
    moderate_m: float
    soft_m: float
    treadmill_m: float
    unknown_m: float


class RunOut(BaseModel):
    activity_id: int
    date: date
    distance_km: float
    spike: str
    """none, small, moderate or large (from the stored single_run_spike finding)."""


class CeilingDay(BaseModel):
    date: date
    longest_km: float | None
    ceiling_km: float | None


class RunsOut(BaseModel):
    runs: list[RunOut]
    ceiling: list[CeilingDay]
    """Per day: the longest run of the 30 days ending that day, and 1.10 x it."""


class StrengthWeekOut(BaseModel):
    week: date
    sessions: int
    goal: int


class TracePointOut(BaseModel):
    t_s: float
    hr_bpm: float | None
    speed_mps: float | None


class ActivityChartsOut(BaseModel):
    activity_id: int
    trace: list[TracePointOut]
    """At most 600 points, averaged over equal stretches of time."""
    zone_minutes: list[float] | None
    surface: dict[str, Any] | None
    dynamics: dict[str, Any] | None


Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="How many days up to today.")]
Weeks = Annotated[int, Query(ge=1, le=MAX_WEEKS, description="How many weeks up to this one.")]


def _data(session: Session, account: AthleteDep) -> DashboardData:
    return dashboard_data(session, athlete_row(session, account))


def _cached_json(data: DashboardData, key: str, build: Callable[[], bytes]) -> Response:
    """The encoded body, once per data version and query: a cache hit encodes nothing."""
    body: bytes | None = data.rendered.get(key)
    if body is None:
        body = data.rendered[key] = build()
    return Response(content=body, media_type="application/json")


_FITNESS = TypeAdapter(list[FitnessDay])
_SURFACES = TypeAdapter(list[SurfaceWeekOut])
_STRENGTH = TypeAdapter(list[StrengthWeekOut])


# -- routes --------------------------------------------------------------------------------------


@router.get(
    "/api/dashboard/fitness",
    response_model=list[FitnessDay],
    responses=responses(401, 422),
)
def fitness(account: AthleteDep, session: DB, days: Days = DAYS) -> Response:
    """Daily load, fitness (CTL), fatigue (ATL) and form (TSB)."""
    data = _data(session, account)
    return _cached_json(
        data,
        f"fitness:{days}",
        lambda: _FITNESS.dump_json(
            [
                FitnessDay(date=d.day, load=d.load, ctl=d.ctl, atl=d.atl, tsb=d.tsb)
                for d in data.days[-days:]
            ]
        ),
    )


@router.get(
    "/api/dashboard/surfaces",
    response_model=list[SurfaceWeekOut],
    responses=responses(401, 422),
)
def surfaces(account: AthleteDep, session: DB, weeks: Weeks = WEEKS) -> Response:
    """Running metres per local Monday-to-Sunday week in each surface bucket."""
    data = _data(session, account)
    return _cached_json(
        data, f"surfaces:{weeks}", lambda: _SURFACES.dump_json(_surfaces(data, weeks))
    )


def _surfaces(data: DashboardData, weeks: int) -> list[SurfaceWeekOut]:
    return [
        SurfaceWeekOut(
            week=w.week,
            hard_m=round(w.hard_m, 1),
            moderate_m=round(w.moderate_m, 1),
            soft_m=round(w.soft_m, 1),
            treadmill_m=round(w.treadmill_m, 1),
            unknown_m=round(w.unknown_m, 1),
        )
        for w in data.surfaces[-weeks:]
    ]


@router.get("/api/dashboard/runs", response_model=RunsOut, responses=responses(401, 422))
def runs(account: AthleteDep, session: DB, days: Days = DAYS) -> Response:
    """Runs by distance with their spike class, and the rolling 30-day longest and ceiling."""
    data = _data(session, account)
    return _cached_json(data, f"runs:{days}", lambda: _runs(data, days).model_dump_json().encode())


def _runs(data: DashboardData, days: int) -> RunsOut:
    first = data.as_of - timedelta(days=days - 1)
    return RunsOut(
        runs=[
            RunOut(activity_id=r.activity_id, date=r.day, distance_km=round(r.km, 3), spike=r.band)
            for r in data.runs
            if r.day >= first
        ],
        ceiling=[
            CeilingDay(date=c.day, longest_km=c.longest_km, ceiling_km=c.ceiling_km)
            for c in data.ceiling[-days:]
        ],
    )


@router.get(
    "/api/dashboard/strength",
    response_model=list[StrengthWeekOut],
    responses=responses(401, 422),
)
def strength(account: AthleteDep, session: DB, weeks: Weeks = WEEKS) -> Response:
    """Strength and mobility sessions per week, with the weekly goal."""
    data = _data(session, account)
    return _cached_json(
        data,
        f"strength:{weeks}",
        lambda: _STRENGTH.dump_json(
            [
                StrengthWeekOut(week=w.week, sessions=w.sessions, goal=w.goal)
                for w in data.strength[-weeks:]
            ]
        ),
    )


@router.get(
    "/api/dashboard/activities/{activity_id}",
    response_model=ActivityChartsOut,
    responses=responses(401, 404, 422),
)
def activity_data(
    request: Request, activity_id: IdPath, account: AthleteDep, session: DB
) -> ActivityChartsOut:
    """The activity page's chart data: HR and speed trace, zones, surfaces, form fade."""
    row = own_activity(session, account, activity_id)
    derived = row.derived or {}
    return ActivityChartsOut(
        activity_id=row.id,
        trace=[
            TracePointOut(t_s=p.t_s, hr_bpm=p.hr_bpm, speed_mps=p.speed_mps)
            for p in TRACES.get(core_app(request), session, row)
        ],
        zone_minutes=row.zone_minutes,
        surface=derived.get("surface"),
        dynamics=derived.get("dynamics"),
    )


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, account: AthleteDep, session: DB) -> Response:
    athlete = athlete_row(session, account)
    data = dashboard_data(session, athlete)
    findings = [finding_dict(f) for f in current_findings(session, athlete.id, limit=20)]
    return render(
        request,
        "dashboard.html",
        account,
        athlete=athlete,
        charts=dashboard_charts(data, athlete.units),
        findings=findings,
    )
