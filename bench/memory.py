"""Peak memory (PSS) of a process tree (this process, its workers and their children).

ru_maxrss misses forkserver workers (they are grandchildren, never waited for by us), so a
thread samples /proc every 20 ms and keeps the largest total PSS it saw.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (libraries, forked memory) split among sharers,
    so the sum over processes is the memory the tree really uses."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root: int) -> float:
    tree = _children()
    todo, total = [root], 0
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo.extend(tree.get(pid, []))
    return total / 1024


class PeakSampler:
    """Context manager: ``.peak_mb`` is the largest tree PSS seen while it was active."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.peak_mb = 0.0
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        root = os.getpid()
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_pss_mb(root))
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
