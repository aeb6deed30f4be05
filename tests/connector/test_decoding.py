"""Worker-side decoding: one bad file fails alone, even when it kills its worker process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import connector.decoding
from connector.decoding import DECODER_DIED, DecodedResult, DecoderPool, SurfaceConfig, decode_job


def die_on_poison(data: bytes) -> str:
    """A job whose worker dies (as if killed for memory) on one particular input."""
    if data == b"poison":
        os._exit(1)
    return data.decode().upper()


def test_a_worker_that_dies_fails_only_its_own_file() -> None:
    inputs = [b"a", b"b", b"poison", b"c", b"d", b"e"]
    with DecoderPool(die_on_poison, workers=2) as pool:
        tickets = [pool.submit(data) for data in inputs]
        results = [pool.result(ticket) for ticket in tickets]
        after = pool.result(pool.submit(b"f"))
    assert results == ["A", "B", DECODER_DIED, "C", "D", "E"]
    assert after == "F"


def test_inline_mode_runs_the_job_in_process() -> None:
    with DecoderPool(die_on_poison, workers=1) as pool:
        assert pool.result(pool.submit(b"x")) == "X"


def test_decode_job_explains_bad_input_and_survives_decoder_bugs(
    samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert decode_job(b"hello" * 50, SurfaceConfig()) == "not a FIT file (bad header signature)"
    good = decode_job(
        (samples_dir / "thomaschampagne__elevate__treadmill.fit").read_bytes(), SurfaceConfig()
    )
    assert isinstance(good, DecodedResult)
    (activity,) = good.file.activities
    assert activity.samples.empty  # samples stay in the raw file, not in the result
    (derived,) = good.derived
    assert derived.surface is not None
    assert derived.surface.treadmill_m == pytest.approx(activity.distance_m)

    def broken(data: bytes) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(connector.decoding, "decode_fit", broken)
    assert decode_job(b"anything", SurfaceConfig()) == "decoder error: ZeroDivisionError: bug"
