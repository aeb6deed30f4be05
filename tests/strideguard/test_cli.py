"""The command line, end to end: real files in, JSON out, exit codes as documented."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strideguard.cli import cli

RUN = "thomaschampagne__elevate__kaiteriteri.fit"
EMPTY = "thomaschampagne__elevate__empty.fit"


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("STRIDEGUARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRIDEGUARD_DATABASE_URL", db_url)
    monkeypatch.setenv("STRIDEGUARD_IMPORT_WORKERS", "1")
    return CliRunner()


def test_import_json_and_exit_status(runner: CliRunner, samples_dir: Path) -> None:
    result = runner.invoke(cli, ["import", "--json", str(samples_dir / RUN)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("imported", "duplicates", "failed", "skipped")} == {
        "imported": 1,
        "duplicates": 0,
        "failed": 0,
        "skipped": 0,
    }
    (file,) = report["files"]
    assert set(file) == {"path", "status", "activity_ids", "partial", "error"}
    assert file["status"] == "imported"
    assert len(file["activity_ids"]) == 1

    again = runner.invoke(cli, ["import", "--json", str(samples_dir / RUN)])
    assert again.exit_code == 0
    assert json.loads(again.stdout)["duplicates"] == 1


def test_a_failed_file_gives_exit_status_1_and_the_rest_is_imported(
    runner: CliRunner, samples_dir: Path
) -> None:
    result = runner.invoke(
        cli, ["import", "--json", str(samples_dir / EMPTY), str(samples_dir / RUN)]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["imported"], report["failed"]) == (1, 1)
    failed = next(f for f in report["files"] if f["status"] == "failed")
    assert failed["error"]


def test_usage_errors_give_exit_status_2(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(cli, ["import", str(tmp_path / "missing.fit")]).exit_code == 2
    assert runner.invoke(cli, ["import"]).exit_code == 2
    assert runner.invoke(cli, ["import", "--workers", "0", str(tmp_path)]).exit_code == 2


def test_activities_lists_local_times_with_offsets(runner: CliRunner, samples_dir: Path) -> None:
    assert runner.invoke(cli, ["import", str(samples_dir / RUN)]).exit_code == 0
    result = runner.invoke(cli, ["activities", "--json"])
    assert result.exit_code == 0, result.output
    (activity,) = json.loads(result.stdout)
    assert set(activity) == {
        "id", "source", "sport", "sub_sport", "start", "local_date",
        "distance_m", "moving_s", "elapsed_s", "avg_hr", "partial",
    }  # fmt: skip
    start = datetime.fromisoformat(activity["start"])
    assert start.utcoffset() is not None
    assert start.date().isoformat() == activity["local_date"]
    assert activity["sport"] == "running"
    assert activity["source"] == "fit"

    table = runner.invoke(cli, ["activities"])
    assert table.exit_code == 0
    assert " km" in table.stdout
    assert "bpm" in table.stdout


def test_activities_without_any_athlete_says_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["activities"])
    assert result.exit_code == 1
    assert "strideguard demo" in result.output


FINDING_KEYS = {
    "rule_id", "date", "severity", "evidence_grade", "message", "action",
    "inputs", "thresholds", "citation", "exercises",
}  # fmt: skip
LOAD_KEYS = {
    "date", "load", "ctl", "atl", "tsb", "acwr_ewma", "acwr_uncoupled", "monotony", "strain",
    "run_km",
}  # fmt: skip


@pytest.fixture
def imported(runner: CliRunner, samples_dir: Path) -> CliRunner:
    assert runner.invoke(cli, ["import", str(samples_dir / RUN)]).exit_code == 0
    return runner


def test_findings_and_load_json(imported: CliRunner) -> None:
    logged = imported.invoke(cli, ["log", "pain", "--area", "upper_back", "--score", "4"])
    assert logged.exit_code == 0, logged.output
    result = imported.invoke(cli, ["findings", "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert items
    assert all(set(item) == FINDING_KEYS for item in items)
    later = imported.invoke(cli, ["findings", "--json", "--since", "2100-01-01"])
    assert json.loads(later.stdout) == []
    assert imported.invoke(cli, ["findings", "--since", "yesterday"]).exit_code == 2

    load = imported.invoke(cli, ["load", "--json", "--days", "7"])
    assert load.exit_code == 0, load.output
    days = json.loads(load.stdout)
    assert len(days) == 7
    assert all(set(day) == LOAD_KEYS for day in days)
    dates = [date.fromisoformat(d["date"]) for d in days]
    assert dates == sorted(dates)
    assert (dates[-1] - dates[0]).days == 6


def test_persistent_pain_is_escalated_to_a_professional(imported: CliRunner) -> None:
    for day in ("2026-11-20", "2026-11-22", "2026-11-24"):
        result = imported.invoke(
            cli, ["log", "pain", "--area", "upper_back", "--score", "4", "--date", day]
        )
        assert result.exit_code == 0, result.output
    assert "physiotherapist" in result.stdout
    items = json.loads(imported.invoke(cli, ["findings", "--json"]).stdout)
    pain = [i for i in items if i["rule_id"] == "persistent_pain"]
    assert len(pain) == 1
    assert "diagnose" in pain[0]["message"]


def test_log_commands_validate_their_input(imported: CliRunner) -> None:
    assert imported.invoke(cli, ["log", "pain", "--area", "elbow", "--score", "3"]).exit_code == 2
    assert imported.invoke(cli, ["log", "pain", "--area", "knee", "--score", "11"]).exit_code == 2
    assert imported.invoke(cli, ["log", "strength", "--minutes", "20"]).exit_code == 0
    assert imported.invoke(cli, ["log", "rpe", "999", "5"]).exit_code == 1
    (activity,) = json.loads(imported.invoke(cli, ["activities", "--json"]).stdout)
    rpe = imported.invoke(cli, ["log", "rpe", str(activity["id"]), "7"])
    assert rpe.exit_code == 0, rpe.output
    assert "RPE 7/10" in rpe.stdout


def test_profile_changes_and_validation(imported: CliRunner) -> None:
    result = imported.invoke(
        cli, ["profile", "--hr-max", "185", "--hr-rest", "48", "--sex", "female", "--json"]
    )
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert (profile["hr_max_used"], profile["hr_max_estimated"]) == (185, False)
    assert profile["sex"] == "female"
    muted = json.loads(imported.invoke(cli, ["profile", "--mute", "acwr", "--json"]).stdout)
    assert muted["muted_rules"] == ["acwr"]
    items = json.loads(imported.invoke(cli, ["findings", "--json"]).stdout)
    assert all(i["rule_id"] != "acwr" for i in items)
    zoned = imported.invoke(cli, ["profile", "--zones", "55,65,75,85,92", "--json"])
    assert json.loads(zoned.stdout)["zone_floors_pct"] == [55, 65, 75, 85, 92]
    reset = imported.invoke(cli, ["profile", "--zones", "", "--json"])
    assert json.loads(reset.stdout)["zone_floors_pct"] is None
    assert imported.invoke(cli, ["profile", "--zones", "50,40,70,80,90"]).exit_code == 2
    assert imported.invoke(cli, ["profile", "--mute", "nonsense"]).exit_code == 2
    assert imported.invoke(cli, ["profile", "--tz", "Mars/Olympus"]).exit_code == 2
    assert imported.invoke(cli, ["profile", "--hr-max", "110", "--hr-rest", "95"]).exit_code == 1


def test_report_and_recompute(imported: CliRunner) -> None:
    report = imported.invoke(cli, ["report", "--weeks", "4"])
    assert report.exit_code == 0, report.output
    text = " ".join(report.stdout.split())
    assert "it does not diagnose" in text
    assert "km" in text
    recompute = imported.invoke(cli, ["recompute"])
    assert recompute.exit_code == 0, recompute.output
    assert "Recomputed 1 activities" in recompute.stdout
