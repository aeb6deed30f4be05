"""Import child: Strideguard imports the corpus into a fresh SQLite store, the way the CLI does."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.memory import PeakSampler
from store.athletes import resolve_athlete
from store.models import Activity
from strideguard.app import App
from strideguard.settings import Settings


def _distinct_copies(corpus: Path, repeat: int, into: Path) -> list[Path]:
    """Copy k > 0 differs in its file CRC: new content hashes, so every copy is decoded again."""
    if repeat == 1:
        return [corpus]
    for k in range(repeat):
        folder = into / f"copy{k}"
        folder.mkdir()
        for path in sorted(corpus.glob("*.fit")):
            data = path.read_bytes()
            if k and len(data) > 14:
                data = data[:-1] + bytes([(data[-1] + k) % 256])
            (folder / path.name).write_bytes(data)
    return [into]


def main() -> None:
    corpus, repeat, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
        inputs = _distinct_copies(corpus, repeat, Path(tmp))
        app = App(Settings(data_dir=Path(tmp) / "data", import_workers=workers))
        with app.sessions.begin() as session:
            athlete_id = resolve_athlete(session, "bench", create=True).id
        started = time.perf_counter()
        with PeakSampler() as sampler:
            report = app.importer().import_paths(athlete_id, inputs)
        seconds = time.perf_counter() - started
        with app.sessions() as session:
            activities = session.scalar(select(func.count()).select_from(Activity)) or 0
        app.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_mb,
                "tree_peak_mb": sampler.peak_mb,
                "activities": activities,
                "failed": report.count("failed"),
            }
        )
    )


if __name__ == "__main__":
    main()
