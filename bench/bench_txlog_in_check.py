"""CPU the transaction log's writes take during a full ``apilog check`` (bench_conformance's run).

    .venv/bin/python bench/bench_txlog_in_check.py --runs 1
    BENCH_SOURCE=/tmp/txw-base .venv/bin/python bench/bench_txlog_in_check.py --runs 1  # older tree

Wraps each write method of :class:`TransactionLog` (``begin``, ``record_attempt``, ``finish``,
``link_event(s)``, ``mark_cancelled``) to add up the CPU of the thread that runs it
(``time.thread_time``: the log's own thread, not time spent waiting for the interpreter lock),
then runs ``bench/bench_conformance.py`` with the remaining arguments and prints the totals.
``BENCH_SOURCE`` puts another source tree (with its own ``bench/``) first on the path.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("BENCH_SOURCE") or str(Path(__file__).resolve().parent.parent))

from bench import bench_conformance  # noqa: E402
from console.txlog import TransactionLog  # noqa: E402

WRITES = ("begin", "record_attempt", "finish", "link_event", "link_events", "mark_cancelled")
spent: dict[str, float] = defaultdict(float)
calls: dict[str, int] = defaultdict(int)
lock = threading.Lock()


def counted(name: str, method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            with lock:
                spent[name] += time.thread_time() - start
                calls[name] += 1
    return wrapper


def main() -> None:
    for name in WRITES:
        setattr(TransactionLog, name, counted(name, getattr(TransactionLog, name)))
    bench_conformance.main()
    print(f"# transaction log writes over all runs ({os.environ.get('BENCH_SOURCE') or 'this tree'}):")
    for name in WRITES:
        if calls[name]:
            print(f"  {name:<15} {calls[name]:>7,} calls  {spent[name]:6.2f} s CPU  "
                  f"{spent[name] / calls[name] * 1e6:6.0f} µs each")
    print(f"  total           {sum(spent.values()):6.2f} s CPU; per call begun "
          f"{sum(spent.values()) / max(1, calls['begin']) * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
