"""Digest and nudge texts: Jinja2 templates (autoescaped HTML, plain text) and unit filters.

Every number leaves here with its unit, in the athlete's units (km or mi).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alerts.digest import Digest
from alerts.links import LinkAction, LinkSigner

KM_PER_MI = 1.609344
_SEVERITY_COLOUR = {"high": "#c62828", "moderate": "#ef6c00", "low": "#f9a825", "info": "#90a4ae"}


def dist(km: float | None, units: str = "km") -> str:
    if km is None:
        return "-"
    if units == "mi":
        return f"{km / KM_PER_MI:.1f} mi"
    return f"{km:.1f} km"


def minutes(value: float) -> str:
    total = round(value)
    hours, mins = divmod(total, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def load(value: float) -> str:
    return f"{value:.0f} load units"


def pct(fraction: float | None) -> str:
    return "0 %" if fraction is None else f"{fraction * 100:.0f} %"


def ratio(value: float) -> str:
    return f"{value:.2f} x"


def day(value: date | None) -> str:
    return "-" if value is None else value.strftime("%a %d %b %Y")


def bar_pct(value: float, top: float) -> int:
    """Width of a chart bar in percent of the widest (0 for nothing, at least 1 otherwise)."""
    if top <= 0 or value <= 0:
        return 0
    return max(1, round(value / top * 80))


def bar(value: float, top: float) -> str:
    """A text bar of up to 30 characters."""
    width = round(value / top * 30) if top > 0 else 0
    return ("#" * width).ljust(30)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("alerts", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        dist=dist,
        minutes=minutes,
        load=load,
        pct=pct,
        ratio=ratio,
        day=day,
        bar=bar,
        bar_pct=bar_pct,
        severity_colour=lambda s: _SEVERITY_COLOUR.get(str(s), "#90a4ae"),
    )
    return env


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestLinks:
    log_strength: str
    pain_checkin: str
    unsubscribe: str
    mute: dict[str, str]
    """rule_id -> mute link, for the rules listed in the digest."""


def digest_links(signer: LinkSigner, digest: Digest, *, now: datetime) -> DigestLinks:
    athlete = digest.athlete_id
    return DigestLinks(
        log_strength=signer.url(LinkAction.LOG_STRENGTH, athlete, now=now),
        pain_checkin=signer.url(LinkAction.PAIN_CHECKIN, athlete, now=now),
        unsubscribe=signer.url(LinkAction.UNSUBSCRIBE, athlete, now=now),
        mute={
            f.rule_id: signer.url(LinkAction.MUTE_RULE, athlete, now=now, rule_id=f.rule_id)
            for f in digest.findings
        },
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedDigest:
    subject: str
    text: str
    html: str


def subject(digest: Digest) -> str:
    w = digest.week
    n = len(digest.findings)
    things = f", {n} thing{'s' if n != 1 else ''} to look at" if n else ""
    runs = f"{w.runs} run{'s' if w.runs != 1 else ''}"
    return f"Your running week {digest.week_label}: {runs}, {dist(w.run_km, digest.units)}{things}"


def _context(digest: Digest, links: DigestLinks) -> dict[str, Any]:
    return {
        "d": digest,
        "links": links,
        "mute_urls": links.mute,
        "chart_max": max((w.run_km for w in digest.chart), default=0.0),
    }


def render_text(digest: Digest, links: DigestLinks) -> str:
    return environment().get_template("digest.txt").render(_context(digest, links))


def render_html(digest: Digest, links: DigestLinks) -> str:
    return environment().get_template("digest.html").render(_context(digest, links))


def render_digest(digest: Digest, links: DigestLinks) -> RenderedDigest:
    return RenderedDigest(
        subject=subject(digest),
        text=render_text(digest, links),
        html=render_html(digest, links),
    )


def render_json(digest: Digest, links: DigestLinks) -> str:
    data = digest.to_json()
    data["links"] = {
        "log_strength": links.log_strength,
        "pain_checkin": links.pain_checkin,
        "unsubscribe": links.unsubscribe,
        "mute": links.mute,
    }
    return json.dumps(data, indent=2, default=str)


def digest_push_text(digest: Digest, links: DigestLinks) -> str:
    """The digest squeezed into a push for athletes without e-mail."""
    top = digest.findings[0].message if digest.findings else "Nothing stood out."
    ceiling = (
        f"Next week's single-run ceiling: {dist(digest.ceiling_km, digest.units)}."
        if digest.ceiling_km is not None
        else "No run in 30 days: start short and easy."
    )
    return (
        f"{digest.week.runs} runs, {dist(digest.week.run_km, digest.units)}, "
        f"{minutes(digest.week.run_minutes)}; strength {digest.week.strength_sessions} of "
        f"{digest.strength_goal} sessions. {top} {ceiling} Guidance, not a diagnosis. "
        f"Pain check-in: {links.pain_checkin}"
    )
