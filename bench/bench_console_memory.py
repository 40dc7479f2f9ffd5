"""The console's memory over a long session, with the collector's thresholds it ships and with
Python's defaults.

    .venv/bin/python bench/bench_console_memory.py [--minutes 6] [--rate 500] [--every 2]
                                                   [--thresholds shipped,default] [--rotate N]

While a feed reads, the console runs the collector's young pass every 20,000 allocations, its
middle pass every ten young ones and its full pass every fifty middle ones
(``console.collector.FEED``) instead of Python's (700, 10, 10): cyclic garbage that reached the
oldest generation (the screens' and widgets' cycles) waits longer to be freed. This measures
what that costs an operator's session: the real app (``ApilogApp`` under Textual's Pilot,
120×40) on a real gateway and broker (child processes), its live feed reading gateway-shaped
events that a producer (a third child) writes at ``--rate`` a second, and an operator who every
``--every`` seconds does one of: go to the events view, open the event under the cursor and come
back, go to the transaction log, filter the catalogue and clear it, send a call from the
composer, look at the overview.

Each setting runs in a console process of its own, one after the other on the same gateway,
broker and producer. The console's bounded stores fill as it runs (10,000 events buffered,
100,000 event ids remembered for de-duplication and correlation: 200 s at 500 events/s), so
growth is measured over the second half, and runs shorter than seven minutes at that rate still
count some of the filling as growth. Printed per setting: the events the console received, its
resident memory at half-time, at the end and at most, the growth per hour over the second half
(least squares over a sample every five seconds), what one ``gc.collect()`` at the end finds
unreachable, the collector's passes per generation with the longest of each (the console's own
full passes while the operator is idle among them, ``console.collector.sweep``; ``+nosweep``
turns those off), and how late the event loop woke a 50 ms sleep (p99.9 and the longest: what
a key pressed then would have waited for). At the end, what the collector walks then, by type.
The producer moves to a new topic every ``--rotate`` events, which the feed picks up by its
pattern, so that the embedded broker keeps up for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: bench.* lives beside this file

SECRET = "bench-memory-secret"
TOPIC = "gateway.events.customer"
#: Python's own thresholds, for the comparison (``gc.get_threshold()`` of a fresh interpreter).
PYTHON_DEFAULTS = (700, 10, 10)
#: What the operator does, in turn, one step every ``--every`` seconds.
STEPS: tuple[tuple[str, ...], ...] = (
    ("colon", *"ev", "enter"),
    ("enter",),  # the event under the cursor
    ("escape",),
    ("colon", *"tx", "enter"),
    ("colon", *"cat", "enter"),
    ("slash", *"customer", "enter"),
    ("slash", "escape"),
    ("enter",),  # the composer of the operation under the cursor
    ("ctrl+s",),  # send it
    ("escape",),
    ("colon", *"ov", "enter"),
)


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the producer (a child process) ---------------------------------------------------------

async def produce(bootstrap: str, topic: str, rate: int, tally: Path, rotate: int) -> None:
    """Gateway-shaped events at ``rate`` a second, each with its own ``ce_id``, until killed;
    how many so far in ``tally``, every second. Every ``rotate`` events go to a new topic
    (``topic.1``, ``topic.2``...), which the console's feed picks up by its pattern: the
    embedded broker (Tansu, in-memory store) reads a topic of 200,000+ records ever slower, and a
    feed it starves is not a steady session."""
    from aiokafka import AIOKafkaProducer

    from bench.bench_events import make_records

    templates = make_records(100, 300, "gateway")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    sent, started = 0, time.monotonic()
    told = started
    try:
        while True:
            if time.monotonic() - told >= 1:
                tally.write_text(str(sent))
                told = time.monotonic()
            due = int((time.monotonic() - started) * rate) - sent
            for _ in range(max(due, 0)):
                key, value, headers = templates[sent % len(templates)]
                headers = [("ce_id", f"mem-{sent}".encode()) if name == "ce_id" else (name, raw)
                           for name, raw in headers]
                await producer.send(f"{topic}.{sent // rotate}", value=value, key=key,
                                    headers=headers)
                sent += 1
            await asyncio.sleep(0.01)
    finally:
        await producer.stop()


# --- the console (a child process per setting) -----------------------------------------------

async def console(base_url: str, bootstrap: str, thresholds: str, seconds: float, every: float,
                  home: Path) -> dict[str, object]:
    from console import collector
    from console.catalogue import load_catalogue
    from console.config import Profile
    from console.session import Session
    from screens.app import ApilogApp

    setting, *options = thresholds.split("+")
    if setting == "default":
        wanted = PYTHON_DEFAULTS
    elif setting == "shipped":
        wanted = collector.FEED
    else:
        wanted = tuple(int(n) for n in setting.split("/"))
    gc.set_threshold(*wanted)
    collector.FEED = wanted  # what the feed's hold asks for
    if "nosweep" in options:  # no full pass of the console's own while the operator is idle
        collector.sweep = lambda idle: False
    if "unfrozen" in options:  # the feed's hold without its freeze
        hold, release = collector.hold, collector.release
        collector.hold = lambda t, *, freeze=False: hold(t)
        collector.release = lambda t, *, freeze=False: release(t)
    passes: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            passes[info["generation"]].append(time.perf_counter() - began[0])

    catalogue = load_catalogue()
    profile = Profile(name="bench", base_url=base_url, token_url=f"{base_url}/oauth/token",
                      client_id="apilog-sandbox", client_secret=SECRET, kafka_bootstrap=bootstrap)
    app = ApilogApp(catalogue, session=Session(profile, catalogue, log_path=home / "tx.db",
                                               origin="console"), lang="en")
    samples: list[tuple[float, float]] = []
    stalls: list[float] = []  # how late the loop woke a 50 ms sleep: what a key would wait

    async def probe() -> None:
        while True:
            asleep = time.perf_counter()
            await asyncio.sleep(0.05)
            stalls.append(time.perf_counter() - asleep - 0.05)

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gc.callbacks.append(timed)
        prober = asyncio.create_task(probe())
        started = time.monotonic()
        step = 0
        next_sample = started
        while (now := time.monotonic()) - started < seconds:
            if now >= next_sample:
                samples.append((now - started, rss_mib()))
                next_sample += 5
            await pilot.press(*STEPS[step % len(STEPS)])
            step += 1
            await pilot.pause(every)
        samples.append((time.monotonic() - started, rss_mib()))
        prober.cancel()
        feed = app.runtime.feed
        received = feed.status.received if feed is not None else 0
        in_force = gc.get_threshold()
        gc.callbacks.remove(timed)
        census = _census()
        collecting = time.perf_counter()
        unreachable = gc.collect()
        full_at_end = time.perf_counter() - collecting
    late = [(t, m) for t, m in samples if t >= seconds / 2] or samples
    return {
        "thresholds": thresholds, "in_force": in_force, "seconds": seconds, "steps": step,
        "events": received, "rss_half": late[0][1], "rss_end": samples[-1][1],
        "rss_max": max(m for _, m in samples), "mib_per_hour": _slope(late) * 3600,
        "unreachable_at_end": unreachable, "full_pass_at_end_ms": full_at_end * 1000,
        "tracked_at_end": census[0], "census": census[1], "frozen": gc.get_freeze_count(),
        "passes": [len(passes[g]) for g in range(3)],
        "longest_ms": [max(passes[g], default=0.0) * 1000 for g in range(3)],
        "stalls_ms": [statistics.quantiles(stalls, n=1000)[998] * 1000, max(stalls) * 1000],
    }


def _census(top: int = 12) -> tuple[int, list[tuple[str, int]]]:
    """The objects the collector walks (its three generations, not what ``gc.freeze()`` put out
    of its sight): how many, and the most common types (module.qualname) with their counts."""
    counts: dict[str, int] = {}
    objects = gc.get_objects()
    for obj in objects:
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        counts[name] = counts.get(name, 0) + 1
    total = len(objects)
    del objects
    return total, sorted(counts.items(), key=lambda item: -item[1])[:top]


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares MiB a second."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_m = statistics.fmean(m for _, m in points)
    num = sum((t - mean_t) * (m - mean_m) for t, m in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return num / den if den else 0.0


# --- the run -----------------------------------------------------------------------------------

def start_gateway(bootstrap: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    out = tmp / "gateway.out"
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp), "APILOG_SANDBOX_CLIENT_SECRET": SECRET}
    with open(out, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "console.cli", "gateway", "--port", "0",
                                    "--kafka", bootstrap, "--db", str(tmp / "gateway.db")],
                                   stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway ended: {out.read_text()}")
        found = re.search(r"apilog gateway on (http://\S+)", out.read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.1)
    raise SystemExit("the gateway did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="per setting (default 6)")
    parser.add_argument("--rate", type=int, default=500, help="events a second (default 500)")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between operator steps")
    parser.add_argument("--thresholds", default="shipped,default",
                        help="settings to run, in order: shipped (console.collector.FEED), default "
                             "(Python's), or A/B/C; +unfrozen: the feed's hold without gc.freeze(); "
                             "+nosweep: no full pass while the operator is idle "
                             "(console.collector.sweep)")
    parser.add_argument("--rotate", type=int, default=50_000,
                        help="events per topic before the producer moves to a new one "
                             "(default 50,000)")
    parser.add_argument("--produce", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--console", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        asyncio.run(produce(args.produce[0], args.produce[1], args.rate, Path(args.produce[2]),
                            args.rotate))
        return
    if args.console:
        base_url, bootstrap, thresholds, home = args.console
        result = asyncio.run(console(base_url, bootstrap, thresholds, args.minutes * 60, args.every,
                                     Path(home)))
        print(json.dumps(result))
        return

    from console.events.broker import EmbeddedBroker

    tmp = Path(tempfile.mkdtemp(prefix="apilog-bench-memory-"))
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    children: list[subprocess.Popen[bytes]] = []
    results = []
    try:
        gateway, base_url = start_gateway(broker.bootstrap, tmp)
        children.append(gateway)
        for number, setting in enumerate(args.thresholds.split(",")):
            home = tmp / setting.replace("/", "-")
            home.mkdir()
            print(f"{setting}: {args.minutes:g} min ...", file=sys.stderr, flush=True)
            # Topics of its own per setting, each of --rotate events: Tansu read a topic of
            # 200,000+ records ever slower (a console reading the second setting's events from
            # one topic got none; a 50-minute run on one topic starved).
            tally = home / "produced"
            producer = subprocess.Popen([sys.executable, __file__, "--produce", broker.bootstrap,
                                         f"{TOPIC}-{number}", str(tally), "--rate", str(args.rate),
                                         "--rotate", str(args.rotate)],
                                        cwd=ROOT)
            children.append(producer)
            while not tally.exists():
                if producer.poll() is not None:
                    raise SystemExit("the producer ended before it produced")
                time.sleep(0.2)
            produced = int(tally.read_text())
            began = time.monotonic()
            done = subprocess.run([sys.executable, __file__, "--console", base_url, broker.bootstrap,
                                   setting, str(home), "--minutes", str(args.minutes),
                                   "--every", str(args.every)],
                                  capture_output=True, text=True, cwd=ROOT,
                                  env={**os.environ, "APILOG_DATA_DIR": str(home)})
            if done.returncode != 0:
                raise SystemExit(f"the console run ({setting}) failed:\n{done.stderr[-4000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            results[-1]["produced_per_s"] = (int(tally.read_text()) - produced) / (time.monotonic() - began)
            producer.terminate()
            producer.wait(10)
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        broker.stop()
    print(f"console under Pilot 120x40, {args.rate} gateway-shaped events/s, an operator step every "
          f"{args.every:g} s, {args.minutes:g} min per setting; load average {os.getloadavg()[0]:.1f}")
    print("| thresholds (in force) | produced /s | events received | operator steps | RSS at half-time MiB | at end | max | "
          "MiB/h, second half | unreachable objects at end | passes gen 0/1/2 | longest ms gen 0/1/2 | "
          "loop stalls ms, p99.9 / max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in results:
        print(f"| {r['thresholds']} {tuple(r['in_force'])} | {r['produced_per_s']:.0f} | {r['events']:,} | "
              f"{r['steps']} | "
              f"{r['rss_half']:.1f} | {r['rss_end']:.1f} | {r['rss_max']:.1f} | "
              f"{r['mib_per_hour']:+.1f} | {r['unreachable_at_end']:,} | "
              f"{'/'.join(map(str, r['passes']))} | "
              f"{'/'.join(f'{ms:.1f}' for ms in r['longest_ms'])} | "
              f"{r['stalls_ms'][0]:.0f} / {r['stalls_ms'][1]:.0f} |")
    for r in results:
        print(f"\n{r['thresholds']}: {r['tracked_at_end']:,} objects the collector walks at the "
              f"end ({r['frozen']:,} more frozen at start-up), a full pass over them "
              f"{r['full_pass_at_end_ms']:.0f} ms; most common:")
        for name, count in r["census"]:
            print(f"  {count:>9,}  {name}")


if __name__ == "__main__":
    main()
