"""Time a full conformance run: the whole shipped catalogue against the embedded sandbox.

The sandbox (Tansu broker + the reference gateway as a child process, faults on) is started in
a temporary data directory, exactly as ``apilog check`` without a profile would start it; the
run goes through ``console.session.Session.check`` like the CLI. Each run uses a
fresh sandbox so an earlier run's exhausted quota cannot slow the next one down.

Each run also prints the CPU seconds (user + system) each process spent during the checks: the
checking process (this one: the probes, the caller, the transaction log, the feed), the second
checking process a large run hands half of its operations to (``shard``; none with
``--processes 1``), the gateway and the broker. On two cores their sum over two is the floor
under the wall time.

    .venv/bin/python bench/bench_conformance.py --runs 3
    .venv/bin/python bench/bench_conformance.py --concurrency 2 --concurrency 6 --concurrency 12
    .venv/bin/python bench/bench_conformance.py --runs 1 --timeline
    .venv/bin/python bench/bench_conformance.py --processes 1 --processes 2

``--timeline`` prints, every half second of a run, the share of one core the checking process,
its second process and the gateway used and how many verdicts were reached: a stretch where the checking process
is far below 100 % is time the run spends waiting rather than working.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import cpu_s, rusage_cpu_s  # noqa: E402


def _tree(pid: int) -> dict[int, str]:
    """``pid`` and its descendants, with their command names."""
    found = {pid: Path(f"/proc/{pid}/comm").read_text().strip()}
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        found.update(_tree(int(child)))
    return found


TICK_S = 0.5


async def _timeline(gateway_pids: list[int], done: list[object], lines: list[str]) -> None:
    """Every ``TICK_S``: CPU share of this process and the gateway, verdicts reached meanwhile."""
    loop = asyncio.get_running_loop()
    start = last_t = loop.time()
    last_own = rusage_cpu_s(resource.RUSAGE_SELF)
    last_gw = sum(cpu_s(pid) for pid in gateway_pids)
    last_done = 0
    shard: dict[int, float] = {}  # the second checking process: CPU at its first sight
    last_shard = 0.0
    while True:
        await asyncio.sleep(TICK_S)
        now, own = loop.time(), rusage_cpu_s(resource.RUSAGE_SELF)
        gw = sum(cpu_s(pid) for pid in gateway_pids)
        for pid in _shard_pids():
            shard.setdefault(pid, 0.0)
        shard_cpu = 0.0
        for pid in shard:
            with contextlib.suppress(OSError):  # it ended: its last reading stands
                shard[pid] = cpu_s(pid)
            shard_cpu += shard[pid]
        span = now - last_t
        lines.append(f"    {now - start:5.1f} s  check {100 * (own - last_own) / span:4.0f} %  "
                     f"shard {100 * (shard_cpu - last_shard) / span:4.0f} %  "
                     f"gateway {100 * (gw - last_gw) / span:4.0f} %  verdicts +{len(done) - last_done}")
        last_t, last_own, last_gw, last_done, last_shard = now, own, gw, len(done), shard_cpu


def _shard_pids() -> list[int]:
    """This process's children that run ``console.check_process``."""
    found = []
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    for child in children.read_text().split():
        try:
            if b"console.check_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except OSError:
            pass
    return found


async def one_run(concurrency: int | None, thorough: bool, processes: int,
                  timeline: list[str] | None = None
                  ) -> tuple[float, dict[str, int], float, dict[str, float], float]:
    """(seconds for the checks, verdict counts, seconds to start the sandbox, CPU seconds per
    process during the checks, seconds until the last verdict before the quota bursts)."""
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
            tree = _tree(json.loads(sandbox.state_path.read_text())["gateway_pid"])
            async with session:
                before = {pid: cpu_s(pid) for pid in tree}
                own = rusage_cpu_s(resource.RUSAGE_SELF)
                # The sandbox's gateway is reaped after this: the children reaped meanwhile are
                # the second checking process.
                reaped = rusage_cpu_s(resource.RUSAGE_CHILDREN)
                done: list[object] = []
                ticker = None
                if timeline is not None:
                    gateway_pids = [pid for pid, name in tree.items() if "tansu" not in name]
                    ticker = asyncio.create_task(_timeline(gateway_pids, done, timeline))
                started = time.perf_counter()
                at: list[float] = []

                def heard(_n: int, _total: int, verdict: Any) -> None:
                    done.append(verdict)
                    at.append(time.perf_counter() - started)

                verdicts = await session.check(concurrency=concurrency, thorough=thorough,
                                               processes=processes, on_progress=heard)
                elapsed = time.perf_counter() - started
                # When the last verdict that was not a quota burst came: the rest of the run is
                # the bursts, with any wait for a fresh rate-limit window before them.
                before_bursts = max((t for t, v in zip(at, done, strict=True)
                                 if "burst" not in (v.evidence or {})), default=elapsed)
                if ticker is not None:
                    ticker.cancel()
                cpu = {"check": rusage_cpu_s(resource.RUSAGE_SELF) - own,
                       "shard": rusage_cpu_s(resource.RUSAGE_CHILDREN) - reaped}
                for note in session.check_notes:
                    print(f"    note: {note}", flush=True)
                for pid, name in tree.items():
                    role = "broker" if "tansu" in name else "gateway"
                    cpu[role] = cpu.get(role, 0.0) + cpu_s(pid) - before[pid]
        finally:
            sandbox.stop()
    return elapsed, summarise(verdicts), boot, cpu, before_bursts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per concurrency (default 3)")
    parser.add_argument("--concurrency", type=int, action="append",
                        help="operations checked at once (repeatable; default apilog check's: "
                             "12 against the sandbox)")
    parser.add_argument("--thorough", action="store_true", help="exhaust every limit, overrun every deadline")
    parser.add_argument("--processes", type=int, action="append", choices=(1, 2),
                        help="checking processes (repeatable; default 2, apilog check's own)")
    parser.add_argument("--timeline", action="store_true",
                        help="print each run's CPU use and progress every half second")
    args = parser.parse_args()
    print(f"# apilog check, shipped catalogue (152 operations), embedded sandbox, "
          f"{os.cpu_count()} CPUs, thorough={args.thorough}")
    configs = [(c, p) for c in args.concurrency or [None] for p in args.processes or [2]]
    times: dict[tuple[int | None, int], list[float]] = {config: [] for config in configs}
    # Runs alternate between the configurations, so that each sees the same machine.
    for run in range(1, args.runs + 1):
        for concurrency, processes in configs:
            lines: list[str] | None = [] if args.timeline else None
            elapsed, counts, boot, cpu, before = asyncio.run(one_run(concurrency, args.thorough,
                                                                     processes, lines))
            times[concurrency, processes].append(elapsed)
            verdicts = ", ".join(f"{n} {word}" for word, n in counts.items())
            spent = ", ".join(f"{role} {seconds:.1f} s" for role, seconds in cpu.items())
            print(f"concurrency {concurrency or 'default'} processes {processes} run {run}: "
                  f"{elapsed:6.1f} s "
                  f"(sandbox start {boot:.1f} s) — {sum(counts.values())} verdicts: {verdicts}\n"
                  f"    before the bursts {before:.1f} s, bursts (with any wait for a fresh "
                  f"window) {elapsed - before:.1f} s\n"
                  f"    CPU during the checks: {spent}; sum / 2 cores = "
                  f"{sum(cpu.values()) / 2:.1f} s; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
            if lines:
                print("\n".join(lines), flush=True)
    for (concurrency, processes), spans in times.items():
        print(f"concurrency {concurrency or 'default'} processes {processes}: median "
              f"{statistics.median(spans):.1f} s, min {min(spans):.1f} s, max {max(spans):.1f} s "
              f"over {len(spans)} runs")


if __name__ == "__main__":
    main()
