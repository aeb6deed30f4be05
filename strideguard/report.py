"""Terminal rendering of findings, the load table and the weekly report (rich)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from strideguard.analysis_service import AthleteAnalysis

SEVERITY_STYLE = {"info": "cyan", "low": "yellow", "moderate": "dark_orange", "high": "red"}
BARS = "▁▂▃▄▅▆▇█"
KM_PER_MILE = 1.609344


def sparkline(values: Sequence[float]) -> str:
    """One character per value, scaled to the largest; rest days show as the lowest bar."""
    finite = [v if math.isfinite(v) else 0.0 for v in values]
    top = max(finite, default=0.0)
    if top <= 0:
        return BARS[0] * len(finite)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in finite)


def _num(value: Any, fmt: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:{fmt}}{unit}"


def render_findings(console: Console, items: Sequence[dict[str, Any]]) -> None:
    if not items:
        console.print("No findings: nothing in the history trips a rule.")
        return
    for item in items:
        style = SEVERITY_STYLE.get(item["severity"], "white")
        title = Text.assemble(
            (f"{item['date']}  ", "bold"),
            (item["rule_id"], style),
            (f"  {item['severity']} · evidence {item['evidence_grade']}", "dim"),
        )
        body = Group(
            Text(item["message"]),
            Text(f"→ {item['action']}", style="green"),
            Text(item["citation"], style="dim italic"),
        )
        console.print(Panel(body, title=title, title_align="left", border_style=style))


def render_findings_table(console: Console, items: Sequence[dict[str, Any]], *, title: str) -> None:
    """One line per finding (its first sentence): for long lists such as the demo's."""
    table = Table(title=title, show_lines=False)
    table.add_column("date", no_wrap=True)
    table.add_column("rule · severity · evidence")
    table.add_column("what", overflow="fold", ratio=1)
    for item in items:
        first_sentence = item["message"].split(". ")[0].rstrip(".") + "."
        style = SEVERITY_STYLE.get(item["severity"], "white")
        table.add_row(
            item["date"],
            Text.assemble(
                (item["rule_id"], style), f"\n{item['severity']} · {item['evidence_grade']}"
            ),
            first_sentence,
        )
    console.print(table)


def render_load(console: Console, items: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Training load (TRIMP-based; CTL 42 d, ATL 7 d)")
    for column in ("date", "load", "CTL", "ATL", "TSB", "ACWR ewma", "monotony", "run"):
        table.add_column(column, justify="left" if column == "date" else "right")
    for item in items:
        table.add_row(
            item["date"],
            _num(item["load"], ".0f"),
            _num(item["ctl"], ".1f"),
            _num(item["atl"], ".1f"),
            _num(item["tsb"], "+.1f"),
            _num(item["acwr_ewma"], ".2f"),
            _num(item["monotony"], ".2f"),
            _num(item["run_km"], ".1f", " km"),
        )
    console.print(table)
    console.print("load " + sparkline([float(i["load"]) for i in items]))


def render_report(
    console: Console,
    *,
    name: str,
    result: AthleteAnalysis,
    findings: Sequence[dict[str, Any]],
    weeks: int,
    units: str = "km",
) -> None:
    analysis = result.analysis
    daily = analysis.daily
    per_unit = KM_PER_MILE if units == "mi" else 1.0
    console.rule(f"[bold]{name}[/] · report to {analysis.as_of.isoformat()}")
    basis = result.basis
    console.print(
        f"HR max {basis.hr_max:.0f} bpm{' (estimated)' if basis.hr_max_estimated else ''}, "
        f"HR rest {basis.hr_rest:.0f} bpm{' (estimated)' if basis.hr_rest_estimated else ''}"
    )
    if not daily.empty:
        last = daily.iloc[-1]
        console.print(
            f"Fitness (CTL) {_num(last['ctl'], '.1f')} · fatigue (ATL) {_num(last['atl'], '.1f')}"
            f" · form (TSB) {_num(last['tsb'], '+.1f')} · "
            f"ACWR {_num(last['acwr_ewma'], '.2f')} (context only, not a risk score)"
        )
        recent = daily.tail(weeks * 7)
        console.print(f"daily load, last {len(recent)} days: " + sparkline(list(recent["load"])))
    longest, ceiling = analysis.ceiling.longest_km, analysis.ceiling.ceiling_km
    if longest is not None and ceiling is not None:
        console.print(
            f"Longest run of the last 30 days: {longest / per_unit:.1f} {units}; "
            f"today's single-run ceiling: [bold]{ceiling / per_unit:.1f} {units}[/]"
        )

    table = Table(title=f"Last {weeks} weeks (Monday to Sunday, local time)")
    for column in ("week of", "run", "runs", "longest", "load", "Z4-5", "hard surface", "strength"):
        table.add_column(column, justify="left" if column == "week of" else "right")
    for monday, row in analysis.weekly.tail(weeks).iterrows():
        share, coverage = row["surface_hard_share"], row["surface_coverage"]
        surface = (
            "—"
            if share is None or not math.isfinite(share)
            else f"{share:.0%} ({coverage:.0%} known)"
        )
        table.add_row(
            monday.date().isoformat() if hasattr(monday, "date") else str(monday),
            f"{row['run_km'] / per_unit:.1f} {units}",
            f"{int(row['run_count'])}",
            f"{row['longest_run_km'] / per_unit:.1f} {units}",
            f"{row['load']:.0f}",
            f"{row['hard_minutes']:.0f} min",
            surface,
            f"{int(row['strength_sessions'])}",
        )
    console.print(table)
    console.print(f"[bold]Findings, last {weeks} weeks[/] ({len(findings)})")
    render_findings(console, findings)
    console.print(
        "[dim]Strideguard points out patterns linked with overuse injuries; it does not "
        "diagnose. Pain that persists or worsens: see a physiotherapist or doctor.[/]"
    )
