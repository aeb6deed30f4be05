"""The command line, end to end: real files in, JSON out, exit codes as documented."""

from __future__ import annotations

import json
from datetime import datetime
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
