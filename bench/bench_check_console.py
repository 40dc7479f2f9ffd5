"""The same conformance run from the console's ``:check`` view and from ``apilog check``, one run.

Both sides check the whole shipped catalogue against an embedded sandbox of their own (a fresh
data directory each, started with ``apilog sandbox start`` before the clock starts, so that
neither pays for the broker's and gateway's start-up nor finds a quota the other spent):

* CLI: ``apilog check`` as a child process, clock from spawn to exit (Python start-up and
  imports included, ~0.5 s of it);
* console: the real ``apilog`` binary in tmux (120×40), ``:check``, ``ctrl+r``, then the clock
  runs from the ``y`` that confirms the run until the view's summary no longer says ``running``
  (screen read every 100 ms with ``capture-pane``).

Besides the wall time, each side's CPU time (user + system of the ``apilog`` process and of the
children it waited for — the check's second process — read from ``/proc``): the console's
includes drawing, so console CPU / CLI CPU is what drawing costs the
run, and it holds still on a busy machine where wall times wander. Pairs alternate which side
goes first. The ratios console / CLI are printed per pair and as medians. A failed verdict does
not stop the benchmark; it is printed. Needs tmux (``apt-get install -y tmux``).

    .venv/bin/python -m bench.bench_check_console --pairs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.procs import cpu_with_children_s, rusage_cpu_s

APILOG = Path(sys.executable).with_name("apilog")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APILOG_")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    for kind in ("DATA", "CONFIG", "STATE"):
        env[f"XDG_{kind}_HOME"] = str(home / kind.lower())
    env["TERM"] = "xterm-256color"
    return env


def _sandbox(env: dict[str, str], verb: str) -> None:
    subprocess.run([str(APILOG), "sandbox", verb], env=env, check=True, capture_output=True,
                   timeout=120)


def cli_run(home: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, the last progress line) of one ``apilog check``."""
    env = _env(home)
    _sandbox(env, "start")
    try:
        cpu_before = rusage_cpu_s(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([str(APILOG), "check"], env=env, capture_output=True, text=True,
                              timeout=600)
        elapsed = time.perf_counter() - started
        cpu = rusage_cpu_s(resource.RUSAGE_CHILDREN) - cpu_before
    finally:
        _sandbox(env, "stop")
    if done.returncode not in (0, 1):  # 1: a verdict failed, which is printed, not fatal
        raise SystemExit(f"bench_check_console: apilog check exited {done.returncode}:\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    last = next((line.strip() for line in reversed(done.stderr.splitlines()) if "checked" in line),
                "")
    for line in done.stdout.splitlines():
        if " failed " in f" {line} " and "checked" not in line:
            print(f"    apilog check: {line.strip()}", flush=True)
    return elapsed, cpu, last


class Pane:
    def __init__(self, env: dict[str, str]) -> None:
        self.name = f"bench-check-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]
        assignments = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith(("XDG_", "TERM")))
        command = f"env -u COLUMNS -u LINES {assignments} {APILOG} --lang en"
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "120", "-y", "40",
                        command], check=True)

    def pid(self) -> int:
        """The ``apilog`` process in the pane (``env`` execs it)."""
        return int(subprocess.run([*self.tmux, "list-panes", "-t", self.name, "-F", "#{pane_pid}"],
                                  capture_output=True, text=True, check=True).stdout.split()[0])

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def text(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True, check=False).stdout

    def wait_for(self, condition, what: str, timeout: float, every: float = 0.1) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise SystemExit(f"bench_check_console: {what} never appeared:\n{screen}")
            time.sleep(every)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)


def console_run(home: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the console process during the run, the summary line)."""
    env = _env(home)
    _sandbox(env, "start")
    pane = Pane(env)
    try:
        pane.wait_for(lambda s: "gateway ● up" in s, "gateway ● up", 60)
        pane.wait_for(lambda s: "kafka ● connected" in s, "kafka ● connected", 60)
        pane.keys(":", "c", "h", "e", "c", "k", "Enter")
        pane.wait_for(lambda s: "not run yet" in s, "the check view", 30)
        pane.keys("C-r")
        pane.wait_for(lambda s: "probes write and delete" in s, "the confirmation", 30)
        pid = pane.pid()
        cpu_before = cpu_with_children_s(pid)
        started = time.perf_counter()
        pane.keys("y")
        pane.wait_for(lambda s: "running" in s, "running", 30, every=0.02)
        screen = pane.wait_for(lambda s: "running" not in s and "passed" in s, "the end of the run",
                               600)
        elapsed = time.perf_counter() - started
        cpu = cpu_with_children_s(pid) - cpu_before
        summary = next((line.strip() for line in screen.splitlines() if "passed" in line), "")
        pane.keys("C-q")
        return elapsed, cpu, summary
    finally:
        pane.close()
        _sandbox(env, "stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2, help="CLI/console pairs (default 2)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("bench_check_console: needs tmux (apt-get install -y tmux)")
    print(f"# apilog check vs the console's :check, shipped catalogue, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    walls, cpus = [], []
    for pair in range(1, args.pairs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
            homes = Path(tmp) / "cli", Path(tmp) / "console"
            if pair % 2:
                cli = cli_run(homes[0])
                console = console_run(homes[1])
            else:
                console = console_run(homes[1])
                cli = cli_run(homes[0])
        walls.append(console[0] / cli[0])
        cpus.append(console[1] / cli[1])
        print(f"pair {pair}: apilog check {cli[0]:5.1f} s ({cli[1]:.1f} s CPU; {cli[2]}), "
              f"console :check {console[0]:5.1f} s ({console[1]:.1f} s CPU; {console[2]}) → "
              f"console/CLI wall {walls[-1]:.2f}, CPU {cpus[-1]:.2f}", flush=True)
    print(f"console/CLI: wall median {statistics.median(walls):.2f}, CPU median "
          f"{statistics.median(cpus):.2f} over {len(walls)} pairs (goal ≤ 1.10); load average now "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
