"""`strideguard demo`, end to end: real FIT files in, every planted situation found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strideguard.cli import cli

PLANTED_RULES = {
    "single_run_spike",
    "intensity_spike",
    "weekly_progression",
    "monotony",
    "missing_strength",
    "hard_surface_share",
    "no_rest_day",
    "run_ceiling",
}


@pytest.fixture
def demo_runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("STRIDEGUARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRIDEGUARD_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.stdout
    return runner


def test_demo_imports_its_history_and_finds_every_planted_situation(
    demo_runner: CliRunner, tmp_path: Path
) -> None:
    activities = json.loads(demo_runner.invoke(cli, ["activities", "--json"]).stdout)
    sub_sports = {a["sub_sport"] for a in activities}
    assert {"street", "trail", "treadmill", "track", "strength_training"} <= sub_sports
    assert not any(a["partial"] for a in activities)

    findings = json.loads(demo_runner.invoke(cli, ["findings", "--json"]).stdout)
    assert {f["rule_id"] for f in findings} >= PLANTED_RULES
    spikes = [f for f in findings if f["rule_id"] == "single_run_spike"]
    assert [s["severity"] for s in spikes] == ["moderate"]
    ratio = spikes[0]["inputs"]["ratio"]
    assert ratio > 1.30
    assert ratio <= 2.00
    strength_weeks = [
        f["inputs"]["sessions"] for f in findings if f["rule_id"] == "missing_strength"
    ]
    assert {0, 1} <= set(strength_weeks)

    digests = sorted((tmp_path / "data" / "demo").glob("digest-*"))
    assert [p.suffix for p in digests] == [".html", ".txt"]
    text = digests[1].read_text()
    assert "single-run ceiling" in text.lower()
    assert "not a diagnosis" in text

    # Running it again starts the demo athlete afresh: same history, nothing doubled.
    again = demo_runner.invoke(cli, ["demo"])
    assert again.exit_code == 0, again.output
    second = json.loads(demo_runner.invoke(cli, ["activities", "--json"]).stdout)
    assert len(second) == len(activities)
    refound = json.loads(demo_runner.invoke(cli, ["findings", "--json"]).stdout)
    assert len(refound) == len(findings)
