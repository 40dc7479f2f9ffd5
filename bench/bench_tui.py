"""Console benchmarks: first frame of the real binary, filter latency at 100k operations, and
the events view under 5,000 events/s.

    .venv/bin/python bench/bench_tui.py [--ops 100000] [--rate 5000] [--seconds 5] [--posting]
                                        [--checkout DIR] [--runs 7] [--only first-frame]

First frame: ``apilog`` is started in a tmux pane (120×40) and the pane is polled every 5 ms
until the catalogue's first line is on screen; the time runs from ``tmux new-session``. With
``--posting``, Posting (pip-installed into a throwaway venv under /tmp, never into .venv) is
timed the same way, until its URL bar is drawn. apilog's own modules are byte-compiled first
(``compileall``), as ``pip install`` does for the wheel and for Posting: an editable checkout
under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile them from source at every start.

Filter: the keystroke's whole time through Pilot (which adds a fixed ~85 ms per key), and the
filter work alone: from the view being handed the new filter to the table holding its rows,
in the app as it runs, and the filter function timed over the same keystrokes.

``--checkout DIR`` (repeatable) also times the first frame of another copy of the code
(``git archive REV | tar -x -C DIR``), run by this venv's Python in place of the installed
packages: before and after in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: bench.procs lives beside this file

from bench.procs import cpu_s  # noqa: E402

APILOG = Path(sys.executable).with_name("apilog")


def big_catalogue(operations: int):
    """``operations`` distinct operations (one row each) over many paths, with mixed contracts."""
    from console.catalogue import Catalogue, Contract, Row
    from console.catalogue.vocabulary import ACTIONS, METHODS

    contracts = [
        Contract("retry", {"max_retries": 3}),
        Contract("kafka-event"),
        Contract("rate-limit", {"limit": 1000, "window_s": 60}),
        Contract("json-xml"),
        Contract("latency-sla", {"max_ms": 1000}),
        Contract("restful"),
    ]
    rows = []
    per_path = len(METHODS) * len(ACTIONS)
    for number in range(operations):
        path = f"/service{number // per_path}/resource"
        method = METHODS[number % len(METHODS)]
        action = ACTIONS[(number // len(METHODS)) % len(ACTIONS)]
        rows.append(
            Row(
                number + 1,
                number // 5 + 1,
                path,
                method,
                action,
                contracts[number % 2],
                contracts[2 + number % 4],
            )
        )
    return Catalogue(rows=rows, source="bench", title="bench")


# First frame ---------------------------------------------------------------------------------


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants so far (threads included)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_s(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(int(child) for child in children)
    return total


def first_frame(
    command: str, marker: str, env: dict[str, str], timeout: float = 30.0, then: str = ""
) -> tuple[float, float, float]:
    """Wall seconds from ``tmux new-session`` to ``marker`` on screen, the CPU seconds the
    program had used by then (steadier than the wall time on a loaded machine; 10 ms ticks),
    and the wall seconds until ``then`` is on screen too (NaN without ``then``)."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", name]  # a server of its own: no race with other tmux users
    started = time.perf_counter()
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            f"env -u COLUMNS -u LINES {' '.join(f'{k}={v}' for k, v in env.items())} {command}",
        ],
        check=True,
    )
    pid = None
    wall: float | None = None
    used = later = float("nan")
    try:
        while time.perf_counter() - started < timeout:
            if pid is None:
                shown = subprocess.run(
                    [*tmux, "display-message", "-p", "-t", name, "#{pane_pid}"],
                    capture_output=True, text=True, check=False,
                ).stdout.strip()
                pid = int(shown) if shown.isdigit() else None
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if wall is None and marker in screen:
                wall = time.perf_counter() - started
                used = tree_cpu_s(pid) if pid is not None else float("nan")
            if wall is not None and (not then or then in screen):
                later = time.perf_counter() - started if then else float("nan")
                return wall, used, later
            time.sleep(0.005)
        raise RuntimeError(f"{marker!r} then {then!r} never appeared: {screen}")
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


#: Runs the ``apilog`` entry point from the directory in argv[1] instead of the editable
#: install: ``console.launch`` where the tree has it, else (older trees) ``console.cli``.
CHECKOUT_MAIN = (
    "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
    "sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'apilog'; "
    "import importlib, importlib.util as u; "
    "importlib.import_module('console.launch' if u.find_spec('console.launch') else 'console.cli').main()"
)

#: A one-widget Textual app in the same venv: the floor any Textual app stands on.
MINIMAL_APP = (
    "from textual.app import App\nfrom textual.widgets import Static\n"
    "class Minimal(App):\n    def compose(self):\n"
    "        yield Static('minimal-first-frame')\nMinimal().run()\n"
)


def posting_command() -> Path | None:
    """Posting's executable, pip-installed into a throwaway venv under /tmp on first use."""
    venv = Path("/tmp/apilog-bench-posting")
    posting = venv / "bin" / "posting"
    if not posting.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # tree-sitter 0.26 segfaults under Textual's TextArea (as in apilog's own pin).
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "posting", "tree-sitter<0.26"],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0 or not posting.exists():
            print(done.stderr.strip()[-2000:], file=sys.stderr)
            return None
    return posting


def bench_first_frames(
    runs: int, checkouts: list[Path], posting: bool
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Seconds to the first frame of each program, wall and CPU, and (apilog) to its footer's
    keys, ``runs`` rounds, the programs taking turns within a round so that all of them meet
    the same load on this shared machine.

    apilog runs against a profile whose gateway does not answer: the frame must not wait for it.
    """
    for source in (ROOT, *checkouts):
        for package in ("console", "screens"):
            compileall.compile_dir(str(source / package), quiet=1)
    with tempfile.TemporaryDirectory() as home:
        script = Path(home) / "minimal.py"
        script.write_text(MINIMAL_APP)
        env = {
            "XDG_DATA_HOME": f"{home}/data",
            "XDG_CONFIG_HOME": f"{home}/config",
            "APILOG_BASE_URL": "http://127.0.0.1:9",
            "APILOG_TOKEN_URL": "http://127.0.0.1:9/t",
            "APILOG_CLIENT_ID": "bench",
            "APILOG_CLIENT_SECRET": "bench",
            # English from the locale, as `--lang en` would: `apilog` alone is what is timed.
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
        }
        marker = "operations: 152 shown"
        programs = {
            "minimal Textual app": (f"{sys.executable} {script}", "minimal-first-frame", {}),
            "apilog": (f"{APILOG}", marker, env),
        }
        for checkout in checkouts:
            programs[f"apilog from {checkout}"] = (
                f'{sys.executable} -c "{CHECKOUT_MAIN}" {checkout}', marker, env
            )
        if posting:
            executable = posting_command()
            if executable is None:
                print("first frame, Posting: could not be installed")
            else:
                programs["Posting"] = (
                    f"{executable} --collection {home}",
                    "Send",
                    {"XDG_DATA_HOME": f"{home}/pdata", "XDG_CONFIG_HOME": f"{home}/pconfig",
                     "HOME": home},
                )
        times: dict[str, list[float]] = {name: [] for name in programs}
        cpu: dict[str, list[float]] = {name: [] for name in programs}
        footer: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(runs):
            for name, (command, text, variables) in programs.items():
                then = FOOTER_KEYS if name.startswith("apilog") else ""
                wall, used, keys = first_frame(command, text, variables, then=then)
                times[name].append(wall)
                cpu[name].append(used)
                footer[name].append(keys)
    return times, cpu, footer


#: The footer's way out, drawn once the screen's keys are known (after the first frame).
FOOTER_KEYS = "^q quit"


# Filter latency ------------------------------------------------------------------------------


async def until(pilot, condition, timeout: float = 120.0) -> float:
    """Seconds until ``condition()`` holds, checking every 2 ms while the app runs."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise RuntimeError("timed out")
        await pilot.pause(0.002)
    return time.perf_counter() - started


async def bench_filter(operations: int) -> dict[str, float]:
    """``operations`` 0 times the shipped catalogue: the same keystrokes' fixed cost (Pilot's
    own wait for the screen included), to set the 100k numbers against."""
    from console.catalogue import load_catalogue
    from screens.app import ApilogApp

    started = time.perf_counter()
    catalogue = big_catalogue(operations) if operations else load_catalogue()
    operations = len(catalogue.operations)
    built = time.perf_counter() - started
    app = ApilogApp(catalogue, lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.perf_counter()
        await pilot.pause()
        first_paint = time.perf_counter() - started
        view = app.screen
        indexed = first_paint + await until(pilot, lambda: len(view.shown) == operations)
        linted = indexed + await until(pilot, lambda: view.findings_by_row)
        result = {
            "catalogue build (model, not the console) s": built,
            "first paint s": first_paint,
            "rows on screen s": indexed,
            "lint findings beside rows s": linted,
        }
        all_keys: list[float] = []
        all_work: list[float] = []
        # The filter's own work: from the view being handed a filter to the table holding its
        # rows (the thread, its hand-back to the loop and the table's new source included).
        handed: dict[object, float] = {}
        work: list[float] = []
        apply_filter, show_filtered = view.apply_filter, view._show_filtered

        def timed_apply(flt):
            handed[flt] = time.perf_counter()
            apply_filter(flt)

        def timed_show(flt, shown):
            show_filtered(flt, shown)
            if flt in handed and view.applied is flt:
                work.append(time.perf_counter() - handed.pop(flt))

        view.apply_filter, view._show_filtered = timed_apply, timed_show
        # As an operator types: each key's filter must land on screen before the next one.
        await pilot.press("slash")
        for text in TYPED:
            await pilot.press("ctrl+u")
            await until(pilot, lambda: len(view.shown) == operations)
            work.clear()
            samples = []
            for char in text:
                before = view.current_filter
                t0 = time.perf_counter()
                await pilot.press(char)
                await until(
                    pilot,
                    lambda before=before: (
                        view.current_filter is not before
                        and view.table.row_count == len(view.shown)
                        and view.shown is not None
                        and _settled(view)
                    ),
                )
                samples.append(time.perf_counter() - t0)
            result[f"keystroke to filtered rows, {text!r}: median ms"] = (
                statistics.median(samples) * 1000
            )
            result[f"keystroke to filtered rows, {text!r}: max ms"] = max(samples) * 1000
            all_keys.extend(samples)
            all_work.extend(work)
        result["keystroke to filtered rows (Pilot included), all keys: p95 ms"] = p95(all_keys)
        result[f"filter work in the app, {len(all_work)} keys: median ms"] = (
            statistics.median(all_work) * 1000
        )
        result[f"filter work in the app, {len(all_work)} keys: p95 ms"] = p95(all_work)
        alone_wall, alone_cpu = filter_alone(view)
        result["filter function alone, same keys: p95 ms"] = p95(alone_wall)
        result["filter function alone, same keys: p95 CPU ms"] = p95(alone_cpu)
        view.apply_filter, view._show_filtered = apply_filter, show_filtered
        await pilot.press("enter")
        t0 = time.perf_counter()
        await pilot.press("ctrl+u")
        await pilot.press("end", "home", "pagedown", "pagedown")
        await pilot.pause()
        result["end/home/pgdn×2 s"] = time.perf_counter() - t0
    return result


#: What the filter benchmark types, one character at a time after ctrl+u.
TYPED = ("service4321", "method:delete", "!kafka", '~"^put /service(1|2)0"')


def p95(samples: list[float]) -> float:
    """The 95th percentile in ms (nearest rank)."""
    ordered = sorted(samples)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)] * 1000


def filter_alone(view) -> tuple[list[float], list[float]]:
    """The view's filter function over the same keystrokes as typed (a fresh cache, cleared
    between the texts as ctrl+u clears the bar), wall and CPU seconds per key."""
    from screens.filtering import FilterCache, parse_filter

    wall, cpu = [], []
    for text in TYPED:
        cache = FilterCache(view.haystacks, view.columns)
        for end in range(1, len(text) + 1):
            flt = parse_filter(text[:end], view.FIELDS)
            if flt.error is not None:
                continue  # the view keeps the last good rows: no filter runs
            w0, c0 = time.perf_counter(), time.process_time()
            cache.select(flt)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return wall, cpu


def _settled(view) -> bool:
    """The filter on screen is the one typed last (no filter worker still running)."""
    return not any(w.group == "catalogue-filter" and w.is_running for w in view.app.workers)


# Events view under load ----------------------------------------------------------------------


async def bench_events(rate: int, seconds: float) -> dict[str, float]:
    from datetime import UTC, datetime

    from console.catalogue import load_catalogue
    from console.events.decode import FeedEvent
    from console.session import Session
    from screens.app import ApilogApp
    from screens.runtime import Runtime

    catalogue = big_catalogue(10)
    with tempfile.TemporaryDirectory() as home:
        app = ApilogApp(
            catalogue,
            session=Session(None, load_catalogue(), log_path=Path(home) / "tx.db",
                            origin="console"),
            lang="en",
            start_view="events",
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            runtime: Runtime = app.runtime
            view = app.screen
            frames: list[float] = []
            original = view.tick

            def timed_tick() -> None:
                t0 = time.perf_counter()
                original()
                frames.append((t0, time.perf_counter() - t0))

            view.tick = timed_tick
            view._timers = set()
            view.set_interval(0.1, timed_tick)
            sent = 0
            started = time.perf_counter()
            next_batch = started
            while (now := time.perf_counter()) - started < seconds:
                due = int((now - started) * rate) - sent
                for _ in range(max(due, 0)):
                    n = sent
                    stamp = datetime.now(UTC)
                    runtime.add_event(
                        FeedEvent(
                            topic="gateway.events.bench",
                            partition=0,
                            offset=n,
                            timestamp=stamp,
                            key=str(n),
                            header_names=("ce_id",),
                            header_values=(f"e{n}",),
                            raw_value=b"{}",
                            mode="binary",
                            parsed={"n": n},
                            id=f"e{n}",
                            type="apilog.bench.add-record",
                            subject=f"r{n}",
                            time=stamp,
                        )
                    )
                    sent += 1
                next_batch += 0.005
                await asyncio.sleep(max(0.0, next_batch - time.perf_counter()))
            elapsed = time.perf_counter() - started
    starts = [t for t, _ in frames]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    costs = [c for _, c in frames]
    return {
        "events sent": sent,
        "achieved rate /s": sent / elapsed,
        "ticks": len(frames),
        "tick interval median ms": statistics.median(gaps) * 1000,
        "tick interval p95 ms": sorted(gaps)[int(len(gaps) * 0.95)] * 1000,
        "tick interval max ms": max(gaps) * 1000,
        "tick cost median ms": statistics.median(costs) * 1000,
        "tick cost max ms": max(costs) * 1000,
    }


#: The parts ``--only`` can pick.
PARTS = ("first-frame", "events", "filter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=7, help="first-frame rounds")
    parser.add_argument("--posting", action="store_true", help="also time Posting's first frame")
    parser.add_argument(
        "--checkout", action="append", default=[],
        help="also time the first frame of the code in this folder (repeatable)",
    )
    parser.add_argument(
        "--only", choices=PARTS, action="append",
        help="run only this part (repeatable; default: all of them)",
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    os.chdir(ROOT)
    print(f"# apilog console benchmarks ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    if "first-frame" in parts and not shutil.which("tmux"):
        print("first frame: skipped, tmux is not installed")
    elif "first-frame" in parts:
        checkouts = [Path(folder).resolve() for folder in args.checkout]
        times, cpu, footer = bench_first_frames(args.runs, checkouts, args.posting)
        for name, samples in times.items():
            keys = (
                f"; footer keys drawn: median {statistics.median(footer[name]) * 1000:.0f} ms"
                if name.startswith("apilog") else ""
            )
            print(
                f"first frame, {name} (tmux 120x40, {args.runs} runs): median "
                f"{statistics.median(samples) * 1000:.0f} ms, min {min(samples) * 1000:.0f} ms, "
                f"max {max(samples) * 1000:.0f} ms; CPU by then: median "
                f"{statistics.median(cpu[name]) * 1000:.0f} ms{keys}"
            )
        compared = [("apilog", "minimal Textual app", 1.5), ("apilog", "Posting", 0.4)]
        for checkout in checkouts:
            before = f"apilog from {checkout}"
            compared += [(before, "minimal Textual app", None), ("apilog", before, None)]
        for one, other, goal in compared:
            if other in times:
                # Each round's pair ran back to back: the median of their ratios follows the
                # load less than the ratio of the medians (printed too).
                pairs = [a / b for a, b in zip(times[one], times[other], strict=True)]
                ratio = statistics.median(pairs)
                of_medians = statistics.median(times[one]) / statistics.median(times[other])
                verdict = "" if goal is None else (
                    f"; goal <= {goal}x) {'met' if ratio <= goal else 'NOT met'}"
                )
                cpu_ratio = statistics.median(
                    a / b for a, b in zip(cpu[one], cpu[other], strict=True)
                )
                print(
                    f"first frame ratio, {one} / {other}: {ratio:.2f}x median of "
                    f"{len(pairs)} rounds ({of_medians:.2f}x of the medians{verdict or ')'}; "
                    f"CPU {cpu_ratio:.2f}x"
                )
    # Events first: the 100k catalogue leaves a large heap whose collection would stall them.
    if "events" in parts:
        for name, value in asyncio.run(bench_events(args.rate, args.seconds)).items():
            print(f"events at {args.rate}/s for {args.seconds:g} s: {name}: {value:.1f}")
    gc.collect()
    for operations in (0, args.ops) if "filter" in parts else ():
        label = f"{operations:,} ops" if operations else "shipped catalogue (152 ops)"
        for name, value in asyncio.run(bench_filter(operations)).items():
            print(f"catalogue {label}: {name}: {value:.3f}")
            if operations and name.startswith("filter work in the app") and "p95" in name:
                met = "met" if value <= 50 else "NOT met"
                print(f"filter work p95 at {label}: {value:.1f} ms (goal <= 50 ms) {met}")


if __name__ == "__main__":
    main()
