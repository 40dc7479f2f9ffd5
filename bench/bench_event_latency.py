"""Commit → event line, black box: a gateway 2xx (its ``X-Event-Id``) to the line that
``apilog events --follow --json`` prints for that event, on a real Tansu broker.

One process tree: the broker, the gateway (``apilog gateway`` as a child process), the
``apilog events --follow --json`` child whose stdout lines are timestamped here as they arrive,
and beside it raw aiokafka consumers in this process reading the same events with different
``fetch_max_wait_ms`` — so the consumer's share of the latency shows in the same run. Calls are
sequential (one in flight), ``--gap-ms`` apart, each timed from its response's arrival.

The Kafka record's CreateTime (stamped by the gateway's producer when the relay sends it) splits
the raw consumers' latency into "response → sent by the relay" and "sent → consumed"
(millisecond resolution, same clock: one machine).

    .venv/bin/python -m bench.bench_event_latency [--calls 200] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_gateway import BODY, PATH, wait_healthy, write_catalogue

#: fetch_max_wait_ms of the raw consumers read beside the CLI (500 is aiokafka's default).
RAW_WAITS = (500, 10)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class LineReader(threading.Thread):
    """Timestamps each ``apilog events --json`` line by the event id it carries."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.seen: dict[str, float] = {}

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            at = time.perf_counter()
            with contextlib.suppress(ValueError):
                self.seen.setdefault(json.loads(line).get("id"), at)


class RawConsumer(threading.Thread):
    """An aiokafka consumer on its own loop: arrival time and CreateTime per event id."""

    def __init__(self, bootstrap: str, topic: str, fetch_max_wait_ms: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.wait_ms = bootstrap, topic, fetch_max_wait_ms
        self.seen: dict[str, tuple[float, float]] = {}
        self.ready = threading.Event()
        self.stop = False

    def run(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, auto_offset_reset="latest",
                                    enable_auto_commit=False, fetch_max_wait_ms=self.wait_ms)
        await consumer.start()
        try:
            while not self.stop:
                batches = await consumer.getmany(timeout_ms=100)
                if not self.ready.is_set() and consumer.assignment():
                    self.ready.set()
                for records in batches.values():
                    at, wall = time.perf_counter(), time.time()
                    for record in records:
                        event_id = dict(record.headers).get("ce_id", b"").decode()
                        # CreateTime in perf_counter terms: same machine, same clock, ms resolution.
                        self.seen.setdefault(event_id, (at, at - (wall - record.timestamp / 1000)))
        finally:
            await consumer.stop()


def put(conn: http.client.HTTPConnection, token: str) -> tuple[str, float]:
    conn.request("PUT", f"{PATH}?action=add-record", body=BODY,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    at = time.perf_counter()
    if response.status >= 300:
        raise SystemExit(f"gateway answered {response.status}")
    return response.headers["X-Event-Id"], at


def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def row(name: str, latencies: list[float], expected: int) -> str:
    ms = [x * 1000 for x in latencies]
    if not ms:
        return f"| {name} | - | - | - | 0/{expected} |"
    return (f"| {name} | {statistics.median(ms):.1f} | {percentile(ms, 99):.1f} | {max(ms):.1f} "
            f"| {len(ms)}/{expected} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=20)
    args = parser.parse_args()

    import httpx2

    from console.events.broker import EmbeddedBroker, free_port

    tmp = Path(tempfile.mkdtemp(prefix="apilog-bench-latency-"))
    catalogue = tmp / "bench.jsonl"
    write_catalogue(catalogue)
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    port = free_port()
    env = {**os.environ, "APILOG_SANDBOX_CLIENT_SECRET": "bench-secret", "APILOG_DATA_DIR": str(tmp),
           "HOME": str(tmp)}
    gateway = subprocess.Popen([sys.executable, "-m", "console.cli", "--catalogue", str(catalogue), "gateway",
                                "--port", str(port), "--kafka", broker.bootstrap, "--db", str(tmp / "g.db")],
                               env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))  # noqa: SIM115
    children: list[subprocess.Popen[bytes]] = [gateway]
    raws: list[RawConsumer] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/healthz", gateway)
        token = httpx2.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("apilog-sandbox", "bench-secret")).json()["access_token"]
        conn = http.client.HTTPConnection("127.0.0.1", port)
        put(conn, token)  # creates the topic
        wait_for(lambda: httpx2.get(f"{base}/healthz").json()["kafka"]["delivered"] >= 1, 30, "the first event")
        cli = subprocess.Popen([sys.executable, "-m", "console.cli", "events", "--follow", "--json", "--no-link",
                                "--bootstrap", broker.bootstrap], env=env, stdout=subprocess.PIPE,
                               stderr=open(tmp / "events.log", "wb"))  # noqa: SIM115
        children.append(cli)
        reader = LineReader(cli)
        reader.start()
        raws = [RawConsumer(broker.bootstrap, "gateway.events.customer", wait) for wait in RAW_WAITS]
        for raw in raws:
            raw.start()
        for raw in raws:
            wait_for(raw.ready.is_set, 30, "the raw consumers")
        # Warm up until every reader prints what was just written: all are positioned.
        warm: list[str] = []
        deadline = time.monotonic() + 30
        while not warm or not all(warm[-1] in r.seen for r in [reader, *raws]):
            if time.monotonic() > deadline:
                raise SystemExit(f"`apilog events --follow` printed nothing in 30 s (see {tmp}/events.log)")
            warm.append(put(conn, token)[0])
            time.sleep(0.2)
        answered: dict[str, float] = {}
        for _ in range(args.calls):
            event_id, at = put(conn, token)
            answered[event_id] = at
            time.sleep(args.gap_ms / 1000)
        wait_for(lambda: all(e in r.seen for r in [reader, *raws] for e in answered), 30, "every event")
    finally:
        for raw in raws:
            raw.stop = True
        for child in children:
            child.terminate()
            child.wait(10)
        broker.stop()
    n = len(answered)
    print(f"{n} sequential PUT add-record calls, {args.gap_ms:g} ms apart; latency from the 2xx to the event")
    print("| reader | p50 ms | p99 ms | max ms | events |")
    print("|---|---:|---:|---:|---:|")
    print(row("`apilog events --follow --json` line", [reader.seen[e] - t for e, t in answered.items()
                                                     if e in reader.seen], n))
    for raw in raws:
        got = [(raw.seen[e], t) for e, t in answered.items() if e in raw.seen]
        print(row(f"raw aiokafka consumer, fetch_max_wait_ms={raw.wait_ms}", [a - t for (a, _c), t in got], n))
    first = raws[-1]
    got = [(first.seen[e], t) for e, t in answered.items() if e in first.seen]
    print(row("  of which 2xx → record CreateTime (the relay)", [c - t for (_a, c), t in got], n))
    print(row("  of which CreateTime → consumed (broker + fetch)", [a - c for (a, c), _t in got], n))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
