"""Time a full conformance run: the whole shipped catalogue against the embedded sandbox.

The sandbox (Tansu broker + the reference gateway as a child process, faults on) is started in
a temporary data directory, exactly as ``apilog check`` without a profile would start it; the
run goes through ``console.session.Session.check`` like the CLI. Each run uses a
fresh sandbox so an earlier run's exhausted quota cannot slow the next one down.

    .venv/bin/python bench/bench_conformance.py --runs 3
    .venv/bin/python bench/bench_conformance.py --concurrency 2 --concurrency 6 --concurrency 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def one_run(concurrency: int, thorough: bool) -> tuple[float, dict[str, int], float]:
    """(seconds for the checks, verdict counts, seconds to start the sandbox)."""
    from console.catalogue import load_catalogue
    from console.config import SANDBOX_PROFILE
    from console.conformance.verdict import summarise
    from console.sandbox import Sandbox
    from console.session import Session

    catalogue = load_catalogue()
    with tempfile.TemporaryDirectory(prefix="bench-conformance-") as tmp:
        os.environ["APILOG_DATA_DIR"] = tmp
        sandbox = Sandbox(Path(tmp))
        started = time.perf_counter()
        info = sandbox.start()
        boot = time.perf_counter() - started
        try:
            session = Session(SANDBOX_PROFILE.with_sandbox(info), catalogue, origin="check",
                              log_path=Path(tmp) / "transactions.db")
            async with session:
                started = time.perf_counter()
                verdicts = await session.check(concurrency=concurrency, thorough=thorough)
                elapsed = time.perf_counter() - started
        finally:
            sandbox.stop()
    return elapsed, summarise(verdicts), boot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per concurrency (default 3)")
    parser.add_argument("--concurrency", type=int, action="append",
                        help="operations checked at once (repeatable; default 6)")
    parser.add_argument("--thorough", action="store_true", help="exhaust every limit, overrun every deadline")
    args = parser.parse_args()
    print(f"# apilog check, shipped catalogue (152 operations), embedded sandbox, "
          f"{os.cpu_count()} CPUs, thorough={args.thorough}")
    for concurrency in args.concurrency or [6]:
        times = []
        for run in range(1, args.runs + 1):
            elapsed, counts, boot = asyncio.run(one_run(concurrency, args.thorough))
            times.append(elapsed)
            verdicts = ", ".join(f"{n} {word}" for word, n in counts.items())
            print(f"concurrency {concurrency:>2} run {run}: {elapsed:6.1f} s "
                  f"(sandbox start {boot:.1f} s) — {sum(counts.values())} verdicts: {verdicts}")
        print(f"concurrency {concurrency:>2}: median {statistics.median(times):.1f} s, "
              f"min {min(times):.1f} s, max {max(times):.1f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
