"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _samples_dir() -> Path:
    override = os.environ.get("STRIDEGUARD_FIT_SAMPLES")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "fit-samples" / "files"


SAMPLES_DIR = _samples_dir()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The shared corpus of real device FIT files (read in place, never copied)."""
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"shared FIT samples not found at {SAMPLES_DIR} (set STRIDEGUARD_FIT_SAMPLES)")
    return SAMPLES_DIR
