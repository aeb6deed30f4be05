"""The digest's numbers and its rendering: units everywhere, well-formed HTML, working links."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import html5lib
import pytest

from alerts.digest import DigestInputs, FindingView, build_digest
from alerts.email import build_message, message_id
from alerts.render import digest_links, render_digest, render_json
from analysis.model import ActivityDerived, ActivitySummary, PainLog, SurfaceBreakdown

from .conftest import SmtpServer, signer

MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)
VOID = {"meta", "br", "img", "hr", "link", "input"}


def inputs(*, pain: bool = True, units: str = "km") -> DigestInputs:
    acts: list[ActivitySummary] = []
    for week in range(5):
        for offset in (0, 2, 4, 6):
            day = MONDAY - timedelta(days=7 * (4 - week) - offset)
            km = 8 + week + offset / 2
            acts.append(
                ActivitySummary(
                    id=len(acts) + 1,
                    local_date=day,
                    start=datetime(day.year, day.month, day.day, 6, tzinfo=UTC),
                    sport="running",
                    sub_sport=None,
                    elapsed_s=km * 330,
                    moving_s=km * 320,
                    distance_m=km * 1000,
                    derived=ActivityDerived(
                        surface=SurfaceBreakdown(
                            hard_m=km * 700, soft_m=km * 200, unknown_m=km * 100, confidence=0.9
                        )
                    ),
                )
            )
    findings = [
        FindingView(
            rule_id="monotony",
            subject="day:x",
            local_date=MONDAY,
            severity="high",
            evidence_grade="D",
            message="Monotony 2.4 (threshold 2.0).",
            action="Vary.",
            citation="Foster 1998",
        ),
        FindingView(
            rule_id="single_run_spike",
            subject="activity:20",
            local_date=MONDAY,
            severity="moderate",
            evidence_grade="B",
            message="A <run> of 14.0 km & more.",
            action="Easy days.",
            citation="Frandsen",
        ),
        FindingView(
            rule_id="missing_strength",
            subject="week:x",
            local_date=MONDAY,
            severity="low",
            evidence_grade="A",
            message="1 of 2 sessions.",
            action="Do the routine.",
            citation="Lauersen",
        ),
        FindingView(
            rule_id="run_ceiling",
            subject="day:y",
            local_date=MONDAY,
            severity="info",
            evidence_grade="B",
            message="ceiling",
            action="",
            citation="",
        ),
    ]
    return DigestInputs(
        athlete_id=1,
        handle="ann",
        display_name="Ann <Runner>",
        units=units,
        strength_goal=2,
        muted_rules=frozenset({"monotony"}),
        week_monday=MONDAY,
        activities=acts,
        loads={a.id: 40.0 + a.id for a in acts},
        strength_log_dates=[MONDAY + timedelta(days=1)],
        pain_logs=[
            PainLog(local_date=MONDAY + timedelta(days=d), area="upper_back", score=4)
            for d in (1, 3, 5)
        ]
        if pain
        else [],
        findings=findings,
    )


def test_digest_numbers() -> None:
    d = build_digest(inputs())
    assert d.week_label == "2026-W47"
    assert d.week.runs == 4
    assert d.week.run_km == pytest.approx(12 + 13 + 14 + 15)
    assert [w.label for w in d.previous] == ["2026-W43", "2026-W44", "2026-W45", "2026-W46"]
    assert d.previous_mean_km == pytest.approx((38 + 42 + 46 + 50) / 4)
    assert d.load_ratio is not None
    assert d.load_ratio > 1
    assert d.rest_days == 3
    assert d.hard_share == pytest.approx(0.7 / 0.9)
    assert d.surface_coverage == pytest.approx(0.9 * 0.9)
    assert d.ceiling_km == pytest.approx(15 * 1.1)
    assert d.week.strength_sessions == 1
    assert not d.strength_met
    # Ranked by evidence grade, then severity; the ceiling is shown apart, muted rules hidden.
    assert [f.rule_id for f in d.findings] == ["missing_strength", "single_run_spike"]
    assert d.persistent_pain_areas == ["upper back"]
    assert 9 <= d.routine_minutes <= 11


def _check_balanced(html: str) -> None:
    """Strict: every non-void element is closed, in order."""
    stack: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in VOID:
                stack.append(tag)

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            assert tag in VOID, tag

        def handle_endtag(self, tag: str) -> None:
            assert stack, tag
            assert stack[-1] == tag, (tag, stack[-5:])
            stack.pop()

    checker = Checker()
    checker.feed(html)
    checker.close()
    assert stack == []


def test_html_is_well_formed_and_escaped() -> None:
    d = build_digest(inputs())
    rendered = render_digest(d, digest_links(signer(), d, now=NOW))
    _check_balanced(rendered.html)
    # The WHATWG parsing algorithm in strict mode (html5lib): any parse error is a failure.
    validator = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    validator.parse(rendered.html)
    assert validator.errors == []
    root = ET.fromstring(re.sub(r"^<!DOCTYPE html>", "", rendered.html))
    assert root.tag == "html"
    assert "Ann &lt;Runner&gt;" in rendered.html
    assert "<Runner>" not in rendered.html
    assert "A &lt;run&gt; of 14.0 km &amp; more." in rendered.html
    hrefs = [a.get("href") for a in root.iter("a")]
    assert len(hrefs) == 5  # mute x 2 (strength, spike), log strength, pain, unsubscribe
    for href in hrefs:
        assert href is not None
        assert href.startswith("https://strideguard.test/l/")
        signer().verify(href.rsplit("/", 1)[1], now=NOW + timedelta(days=1))
    assert rendered.html.count('width="') >= 5  # the bar chart


def test_text_has_every_number_with_its_unit() -> None:
    d = build_digest(inputs(units="mi"))
    text = render_digest(d, digest_links(signer(), d, now=NOW)).text
    for needle in (
        "33.6 mi",
        "h ",
        "load units",
        "1.",
        " x the mean",
        "%",
        "of 7 days",
        "7-9 h",
        "4/10",
        "physiotherapist",
        "not a diagnosis",
        "1 of 2 sessions",
        "10-minute upper-back routine",
        "Single-run ceiling: 10.3 mi",
    ):
        assert needle in text, needle
    assert " km" not in text.replace("14.0 km & more", "")  # only the finding's own text
    # Bare numbers without a unit: none on the stats lines.
    stats = text.split("WHAT STOOD OUT")[0]
    for line in stats.splitlines():
        if line.startswith("- "):
            assert not re.search(r"\d\.\d(?![\d ]*(mi|min|h|%|x|load|of|days))", line), line


def test_no_pain_no_physio_line() -> None:
    d = build_digest(inputs(pain=False))
    text = render_digest(d, digest_links(signer(), d, now=NOW)).text
    assert "No pain reported this week." in text
    assert "physiotherapist" not in text


def test_json_output_is_plain() -> None:
    d = build_digest(inputs())
    data = render_json(d, digest_links(signer(), d, now=NOW))
    assert '"week_label": "2026-W47"' in data
    assert '"unsubscribe"' in data


def test_email_headers(smtp_server: SmtpServer) -> None:
    d = build_digest(inputs())
    links = digest_links(signer(), d, now=NOW)
    rendered = render_digest(d, links)
    msg = build_message(
        config=smtp_server.config,
        to="ann@example.test",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        delivery_key="1/digest/2026-W47",
        unsubscribe_url=links.unsubscribe,
        date=NOW,
    )
    assert msg["Message-ID"] == message_id("1/digest/2026-W47", "strideguard.test")
    assert (
        msg["Message-ID"]
        == build_message(
            config=smtp_server.config,
            to="x@example.test",
            subject="",
            text="",
            html=None,
            delivery_key="1/digest/2026-W47",
            unsubscribe_url=None,
            date=NOW,
        )["Message-ID"]
    )
    assert msg["List-Unsubscribe"] == f"<{links.unsubscribe}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # On the wire too: an RFC 2047-encoded header is not recognised by mail clients.
    wire = msg.as_bytes()
    assert f"List-Unsubscribe: <{links.unsubscribe}>".encode() in wire
    assert b"=?utf-8?" not in wire.split(b"\n\n", 1)[0]
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    d = build_digest(inputs())
    page = tmp_path / "digest.html"
    page.write_text(render_digest(d, digest_links(signer(), d, now=NOW)).html, encoding="utf-8")
    shot = tmp_path / "digest.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=640,2400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
