"""Event feed throughput beside raw aiokafka, on the same topic in the same run.

    .venv/bin/python bench/bench_events.py [--events 100000] [--payload 300] [--bootstrap HOST:PORT]

Starts an embedded Tansu broker unless ``--bootstrap`` is given, writes ``--events`` binary-mode
CloudEvents shaped like the gateway's (ce_* headers, JSON data of about ``--payload`` bytes, key =
record id) to one fresh topic, then reads them all back five ways:

1. raw ``getmany``: aiokafka alone, no decoding (the ceiling);
2. ``getmany`` + ``json.loads`` of the value (the least any consumer does);
3. ``decode_record`` alone, on records already in memory (CPU cost of decoding);
4. the feed: consume, decode, dedupe, buffer (``EventFeed`` without a transaction log);
5. the feed with correlation: as 4, plus ``TransactionLog.link_event`` for every event, a tenth
   of which match a transaction; linked in the background (the screens: events are shown at
   once and their transaction filled in) and inline (the CLI: linked before printing);
6. ``apilog events --json --no-link`` (the installed entry point) into a pipe, lines counted.

Every feed run and the CLI run count what they received, each (partition, offset) once: a
count that differs from what was produced ends the benchmark with status 1, whatever the rates.

Prints a Markdown table (rates in events per second, best of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.events.broker import EmbeddedBroker  # noqa: E402
from console.events.decode import decode_record  # noqa: E402
from console.events.feed import EventFeed  # noqa: E402


def make_records(count: int, payload: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    filler = "x" * max(0, payload - 60)
    out = []
    for i in range(count):
        record_id = f"r{i}"
        headers = [("ce_specversion", b"1.0"), ("ce_id", f"bench-{i}".encode()),
                   ("ce_source", b"/gateway"), ("ce_type", b"apilog.customer.add-record"),
                   ("ce_time", b"2026-11-26T18:00:00.123Z"), ("ce_subject", record_id.encode()),
                   ("ce_traceparent", f"00-{uuid.uuid4().hex}-00f067aa0ba902b7-01".encode()),
                   ("content-type", b"application/json")]
        value = json.dumps({"id": record_id, "name": "Nguyễn Văn An", "note": filler}).encode()
        out.append((record_id.encode(), value, headers))
    return out


async def produce(bootstrap: str, topic: str, records: list) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10,
                                max_batch_size=512 * 1024)
    await producer.start()
    start = time.perf_counter()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h, partition=0)
                   for k, v, h in records]
        for future in futures:
            await future
    finally:
        await producer.stop()
    return time.perf_counter() - start


async def raw_getmany(bootstrap: str, topic: str, count: int, parse: bool) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=200)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen = 0
        start = time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batch.values():
                seen += len(records)
                if parse:
                    for record in records:
                        json.loads(record.value)
        return time.perf_counter() - start
    finally:
        await consumer.stop()


def decode_only(records: list) -> float:
    start = time.perf_counter()
    for offset, (key, value, headers) in enumerate(records):
        decode_record("t", 0, offset, 1_764_180_000_000, key, value, headers)
    return time.perf_counter() - start


class CountMismatch(Exception):
    """A reader received other than what was produced: the benchmark's numbers mean nothing."""


def check_count(path: str, positions: list[tuple[int, int]], count: int) -> None:
    distinct = len(set(positions))
    if len(positions) != count or distinct != count:
        raise CountMismatch(f"{path}: produced {count:,} events, received {len(positions):,} "
                            f"({distinct:,} distinct offsets)")


async def feed_rate(bootstrap: str, topic: str, count: int, txlog=None,
                    inline: bool = False) -> tuple[float, float]:
    """Seconds until every event was delivered, and until every one was also checked
    against the transaction log (the same when there is no log or linking is inline)."""
    done = asyncio.Event()
    positions: list[tuple[int, int]] = []

    def on_event(event) -> None:
        positions.append((event.partition, event.offset))
        if len(positions) >= count:
            done.set()

    feed = EventFeed(bootstrap, topic_pattern=re.escape(topic), start="earliest",
                     buffer_size=10_000, on_event=on_event, txlog=txlog, link_inline=inline)
    start = time.perf_counter()
    await feed.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
        delivered = time.perf_counter() - start
        while feed.correlator is not None and feed.correlator.checked < count:
            await asyncio.sleep(0.01)
        linked = time.perf_counter() - start
        # The feed has read the whole partition: whatever it delivered is in ``positions``.
        while feed.status.positions.get((topic, 0), 0) < count:
            await asyncio.sleep(0.01)
        check_count("the feed" + (" with correlation" if txlog else ""), positions, count)
        return delivered, linked
    finally:
        await feed.stop()


def cli_rate(bootstrap: str, topic: str, count: int) -> float:
    """Seconds for ``apilog events --json`` to print the topic into a pipe, lines counted."""
    apilog = str(Path(sys.executable).with_name("apilog"))
    start = time.perf_counter()
    process = subprocess.Popen([apilog, "events", "--bootstrap", bootstrap, "--topic",
                                re.escape(topic), "--from", "earliest", "--json", "--no-link"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    positions = []
    for line in process.stdout:
        row = json.loads(line)
        positions.append((row["partition"], row["offset"]))
    code = process.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        raise CountMismatch(f"apilog events exited {code}: {process.stderr.read().decode()}")
    check_count("apilog events --json", positions, count)
    return seconds


def txlog_with_matches(path: Path, count: int):
    """A transaction log where every tenth event id belongs to a finished transaction."""
    from console.txlog import TransactionLog

    log = TransactionLog(path)
    for i in range(0, count, 10):
        tx_id = log.begin(method="POST", path="/customer", action="add-record")
        log.finish(tx_id, SimpleNamespace(
            outcome="committed", status=201, rolled_back=False, event_id=f"bench-{i}",
            elapsed_ms=1.0, sla_ms=None, sla_ok=None, request_id=None, trace_id=None,
            response_headers={}, response_body="", request_headers={}, request_body="",
            error=None, attempts=[1]))
    return log


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--payload", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()

    broker = None if args.bootstrap else EmbeddedBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap
    try:
        topic = f"gateway.events.bench-{uuid.uuid4().hex[:8]}"
        records = make_records(args.events, args.payload)
        size = len(records[0][1]) + sum(len(n) + len(v) for n, v in records[0][2])
        produce_s = await produce(bootstrap, topic, records)
        n = args.events
        rows: list[tuple[str, float]] = []
        best = {}
        for _ in range(args.repeat):
            for name, run in (
                ("raw aiokafka getmany", lambda: raw_getmany(bootstrap, topic, n, parse=False)),
                ("getmany + json.loads", lambda: raw_getmany(bootstrap, topic, n, parse=True)),
            ):
                seconds = await run()
                best[name] = min(best.get(name, seconds), seconds)
            seconds, _ = await feed_rate(bootstrap, topic, n)
            name = "feed: consume + decode + buffer"
            best[name] = min(best.get(name, seconds), seconds)
            seconds = decode_only(records)
            best["decode_record only (in memory)"] = min(
                best.get("decode_record only (in memory)", seconds), seconds)
            seconds = await asyncio.to_thread(cli_rate, bootstrap, topic, n)
            name = "apilog events --json into a pipe (lines counted)"
            best[name] = min(best.get(name, seconds), seconds)
        for inline in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                log = txlog_with_matches(Path(tmp) / "tx.db", n)
                try:
                    delivered, linked = await feed_rate(bootstrap, topic, n, txlog=log,
                                                        inline=inline)
                finally:
                    log.close()
            if inline:
                best["feed + correlate inline (CLI): delivered linked"] = linked
            else:
                best["feed + correlate in background: delivered"] = delivered
                best["feed + correlate in background: all linked"] = linked
        order = ["raw aiokafka getmany", "getmany + json.loads", "decode_record only (in memory)",
                 "feed: consume + decode + buffer", "feed + correlate in background: delivered",
                 "feed + correlate in background: all linked",
                 "feed + correlate inline (CLI): delivered linked",
                 "apilog events --json into a pipe (lines counted)"]
        rows = [(name, n / best[name]) for name in order]
        print(f"{n:,} events, ~{size} bytes each (value + headers), 1 partition, "
              f"Python {platform.python_version()}, {platform.machine()}; "
              f"produced in {produce_s:.1f} s ({n / produce_s:,.0f}/s)\n")
        print("| path | events/s | vs raw getmany |")
        print("|---|---:|---:|")
        raw = rows[0][1]
        for name, rate in rows:
            print(f"| {name} | {rate:,.0f} | {rate / raw:.2f}× |")
        print(f"\nEvery feed run and the CLI received exactly {n:,} events, each offset once.")
    except CountMismatch as exc:
        print(f"bench_events: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
