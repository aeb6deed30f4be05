"""Baseline child: fitparse 1.2.0 decodes every file's records into a pandas DataFrame."""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

import fitparse
import pandas as pd


def main() -> None:
    corpus, repeat = Path(sys.argv[1]), int(sys.argv[2])
    files = sorted(corpus.glob("*.fit"))
    warnings.simplefilter("ignore")
    records = failed = 0
    started = time.perf_counter()
    for _ in range(repeat):
        for path in files:
            try:
                fit = fitparse.FitFile(str(path))
                rows = [
                    {field.name: field.value for field in message.fields}
                    for message in fit.get_messages("record")
                ]
                records += len(pd.DataFrame(rows))
            except Exception:
                failed += 1
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "peak_mb": peak_mb, "records": records, "failed": failed})
    )


if __name__ == "__main__":
    main()
