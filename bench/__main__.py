"""Import benchmark: Strideguard's full import versus fitparse 1.2.0 decoding the same files.

Each measurement runs in a fresh child process so that peak memory (ru_maxrss) is its own.

    ./dev bench                 # the shared corpus, once
    ./dev bench --repeat 4      # four distinct copies of it: memory must not grow with volume
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "fit-samples" / "files"


def _child(kind: str, corpus: Path, repeat: int, workers: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{kind}", str(corpus), str(repeat), str(workers)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1, help="import N distinct copies")
    parser.add_argument("--runs", type=int, default=3, help="runs per side; medians reported")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    files = sorted(args.corpus.glob("*.fit"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"corpus: {len(files)} files, {size_mb:.1f} MB, x{args.repeat}; {args.workers} workers")

    def median(kind: str, workers: int) -> dict[str, float]:
        runs = [_child(kind, args.corpus, args.repeat, workers) for _ in range(args.runs)]
        runs.sort(key=lambda r: r["seconds"])
        return runs[len(runs) // 2]

    base = median("fitparse_baseline", 1)
    ours = median("import_run", args.workers)
    print(
        f"fitparse 1.2.0 -> records DataFrame : {base['seconds']:7.2f} s  "
        f"peak {base['peak_mb']:6.0f} MB  ({base['records']:.0f} records, "
        f"{base['failed']:.0f} files failed)"
    )
    print(
        f"strideguard import (decode+store)   : {ours['seconds']:7.2f} s  "
        f"peak {ours['peak_mb']:6.0f} MB main process, {ours['tree_peak_mb']:.0f} MB with its "
        f"workers ({ours['activities']:.0f} activities, {ours['failed']:.0f} files failed)"
    )
    print(f"speed-up: {base['seconds'] / ours['seconds']:.2f}x   (target >= 3x)")
    print(f"peak memory, all processes: {ours['tree_peak_mb']:.0f} MB   (target < 400 MB)")


if __name__ == "__main__":
    main()
