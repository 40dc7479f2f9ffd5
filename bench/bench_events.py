"""Event feed throughput beside raw aiokafka, on the same topic in the same run.

    .venv/bin/python bench/bench_events.py [--events 100000] [--payload 300] [--repeat 2]
                                           [--data small|gateway] [--bootstrap HOST:PORT]

Starts an embedded Tansu broker unless ``--bootstrap`` is given, writes ``--events`` binary-mode
CloudEvents shaped like the gateway's (ce_* headers, JSON data of about ``--payload`` bytes, key =
record id) to one fresh topic, then reads them all back these ways, each once per round. The
data is one flat object of three members (``--data small``, the default, as in every run
recorded before 6 December) or what the gateway writes for ``add-record``
(``--data gateway``: the operation's nine members and the record, its fields nested in it):

1. raw ``getmany``: aiokafka alone, no decoding (the ceiling);
2. ``getmany`` + ``json.loads`` of the value (the least any consumer does);
3. the feed: consume, decode, dedupe, buffer (``EventFeed`` without a transaction log); and
   again reading every event's data as it is delivered (the feed leaves a gateway event's
   JSON data in its value until it is read: this is what reading all of it costs);
4. the feed with correlation: as 3, plus ``TransactionLog.link_events`` for every fetched
   slice, a tenth of the events matching a transaction; linked in the background (the
   screens: events are shown at once and their transaction filled in) and inline (the CLI:
   linked before printing); and in the background again with a call under way in the log,
   which makes the log keep every unmatched event too;
5. ``apilog events --json --no-link`` (the installed entry point) into a pipe, lines counted;
6. ``decode_records`` alone, on records already in memory (the CPU cost of decoding).

Every reader is timed the same way, twice: from asking it to start (aiokafka's consumer
created and started, or ``EventFeed.start``) to the last event, and from the first event it
handed over to the last (the steady rate). The ratios of the goals are printed at the end:
feed / (getmany + json.loads), and correlated / feed alone.

Every feed run and the CLI run count what they received, each (partition, offset) once: a
count that differs from what was produced ends the benchmark with status 1, whatever the rates.

Rates are events per second, best of ``--repeat`` rounds. Each ratio is given twice: of the
best rates, and round by round with its median. On a machine whose speed wanders (this
project's moves by a quarter within minutes) the rounds' ratios are the steadier measure:
both sides of one ratio ran within the same minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.events.broker import EmbeddedBroker  # noqa: E402
from console.events.decode import decode_records  # noqa: E402
from console.events.feed import EventFeed  # noqa: E402


def make_records(count: int, payload: int,
                 data: str = "small") -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    filler = "x" * max(0, payload - (60 if data == "small" else 560))
    out = []
    for i in range(count):
        record_id = f"r{i}"
        headers = [("ce_specversion", b"1.0"), ("ce_id", f"bench-{i}".encode()),
                   ("ce_source", b"/gateway"), ("ce_type", b"apilog.customer.add-record"),
                   ("ce_time", b"2026-11-26T18:00:00.123Z"), ("ce_subject", record_id.encode()),
                   ("ce_traceparent", f"00-{uuid.uuid4().hex}-00f067aa0ba902b7-01".encode()),
                   ("content-type", b"application/json")]
        if data == "small":
            value = json.dumps({"id": record_id, "name": "Nguyễn Văn An", "note": filler})
        else:  # as console.gateway.handler and domains.add_record write it
            value = json.dumps({
                "operation": "POST /customer add-record", "domain": "customer",
                "action": "add-record", "method": "POST", "path": "/customer", "version": "v1",
                "request_id": f"req-{uuid.uuid4().hex}", "client_id": "ops-console",
                "transaction_id": f"tx-{uuid.uuid4().hex}",
                "record": {"id": record_id, "domain": "customer",
                           "fields": {"name": "Nguyễn Văn An", "msisdn": "84900000000",
                                      "plan": "postpaid", "note": filler},
                           "status": "active", "created_at": "2026-11-26T18:00:00.123456Z",
                           "updated_at": "2026-11-26T18:00:00.123456Z"}}, ensure_ascii=False)
        value = value.encode()
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


async def raw_getmany(bootstrap: str, topic: str, count: int, parse: bool) -> Timing:
    """aiokafka alone: ``getmany`` until ``count`` records, optionally ``json.loads`` of each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    start = time.perf_counter()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=200)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen = 0
        first = None
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batch.values():
                if records and first is None:
                    first = time.perf_counter()
                seen += len(records)
                if parse:
                    for record in records:
                        json.loads(record.value)
        end = time.perf_counter()
        return Timing(end - start, end - first)
    finally:
        await consumer.stop()


def decode_only(records: list) -> float:
    """``decode_records`` (what the feed runs) on records already in memory, 500 at a time."""
    batch = [SimpleNamespace(topic="t", partition=0, offset=offset, timestamp=1_764_180_000_000,
                             key=key, value=value, headers=headers)
             for offset, (key, value, headers) in enumerate(records)]
    start = time.perf_counter()
    for at in range(0, len(batch), 500):
        decode_records(batch[at:at + 500])
    return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    """Seconds to read every event: from asking the reader to start, and from the first event
    it handed over (the steady rate, without connecting and finding the partitions)."""

    from_start: float
    from_first: float


class CountMismatch(Exception):
    """A reader received other than what was produced: the benchmark's numbers mean nothing."""


def check_count(path: str, positions: list[tuple[int, int]], count: int) -> None:
    distinct = len(set(positions))
    if len(positions) != count or distinct != count:
        raise CountMismatch(f"{path}: produced {count:,} events, received {len(positions):,} "
                            f"({distinct:,} distinct offsets)")


async def feed_rate(bootstrap: str, topic: str, count: int, txlog=None,
                    inline: bool = False, read: bool = False) -> tuple[Timing, float]:
    """Until every event was delivered (from the start, and from the first event), and seconds
    from the start until every one was also checked against the transaction log (the same
    when there is no log or linking is inline). With ``read``, each event's data is read as
    it is delivered (parsed and redacted: what a filter over every event, or ``--json``
    output, costs beyond the feed)."""
    done = asyncio.Event()
    positions: list[tuple[int, int]] = []
    first: list[float] = []

    def on_event(event) -> None:
        if not positions:
            first.append(time.perf_counter())
        positions.append((event.partition, event.offset))
        if read:
            event.data  # noqa: B018 - parsed and redacted when read
        if len(positions) >= count:
            done.set()

    start = time.perf_counter()
    feed = EventFeed(bootstrap, topic_pattern=re.escape(topic), start="earliest",
                     buffer_size=10_000, on_event=on_event, txlog=txlog, link_inline=inline)
    await feed.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
        end = time.perf_counter()
        while feed.correlator is not None and feed.correlator.checked < count:
            await asyncio.sleep(0.001)
        linked = time.perf_counter() - start
        # The feed has read the whole partition: whatever it delivered is in ``positions``.
        while feed.status.positions.get((topic, 0), 0) < count:
            await asyncio.sleep(0.01)
        check_count("the feed" + (" with correlation" if txlog else ""), positions, count)
        return Timing(end - start, end - first[0]), linked
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


def txlog_with_matches(path: Path, count: int, under_way: bool = False):
    """A transaction log where every tenth event id belongs to a finished transaction; with
    ``under_way``, one call is still pending, so the log keeps every unmatched event too (for
    that call to claim when it finishes)."""
    from console.txlog import TransactionLog

    log = TransactionLog(path)
    if under_way:
        log.begin(method="POST", path="/customer", action="add-record")
    for i in range(0, count, 10):
        tx_id = log.begin(method="POST", path="/customer", action="add-record")
        log.finish(tx_id, SimpleNamespace(
            outcome="committed", status=201, rolled_back=False, event_id=f"bench-{i}",
            elapsed_ms=1.0, sla_ms=None, sla_ok=None, request_id=None, trace_id=None,
            response_headers={}, response_body="", request_headers={}, request_body="",
            error=None, attempts=[1]))
    return log


FEED = "feed: consume + decode + dedupe + buffer"
FEED_READ = "feed, every event's data read (parsed, redacted)"
DELIVERED = "feed + correlation in the background: delivered"
BACKGROUND = "feed + correlation in the background: all linked"
INLINE = "feed + correlation inline (the CLI): delivered, linked"
UNDER_WAY = "feed + correlation in the background, a call under way: all linked"
ORDER = ["raw aiokafka getmany", "getmany + json.loads", FEED, FEED_READ,
         DELIVERED, BACKGROUND, INLINE, UNDER_WAY,
         "apilog events --json into a pipe (lines counted)"]


def keep_best(best: dict[str, Timing], name: str, timing: Timing,
              rounds: dict[str, list[Timing]] | None = None) -> None:
    if rounds is not None:
        rounds.setdefault(name, []).append(timing)
    old = best.get(name)
    best[name] = timing if old is None else Timing(min(old.from_start, timing.from_start),
                                                   min(old.from_first, timing.from_first))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--payload", type=int, default=300)
    parser.add_argument("--data", choices=("small", "gateway"), default="small")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()

    broker = None if args.bootstrap else EmbeddedBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap
    try:
        topic = f"gateway.events.bench-{uuid.uuid4().hex[:8]}"
        records = make_records(args.events, args.payload, args.data)
        size = len(records[0][1]) + sum(len(n) + len(v) for n, v in records[0][2])
        produce_s = await produce(bootstrap, topic, records)
        n = args.events
        best: dict[str, Timing] = {}
        rounds: dict[str, list[Timing]] = {}  # every round's, in order: ratios within a round
        decode_s = None
        with tempfile.TemporaryDirectory() as tmp:
            # Every path once per round, in the same order: each round sees the same load.
            for round_ in range(args.repeat):
                keep_best(best, ORDER[0], await raw_getmany(bootstrap, topic, n, parse=False),
                          rounds)
                keep_best(best, ORDER[1], await raw_getmany(bootstrap, topic, n, parse=True),
                          rounds)
                keep_best(best, FEED, (await feed_rate(bootstrap, topic, n))[0], rounds)
                keep_best(best, FEED_READ, (await feed_rate(bootstrap, topic, n, read=True))[0],
                          rounds)
                for inline, under_way in ((False, False), (True, False), (False, True)):
                    log = txlog_with_matches(Path(tmp) / f"tx-{round_}-{inline}-{under_way}.db",
                                             n, under_way)
                    try:
                        delivered, linked = await feed_rate(bootstrap, topic, n, txlog=log,
                                                            inline=inline)
                    finally:
                        log.close()
                    # linked is counted from the start; from the first event, the same
                    # start-up is taken off
                    all_linked = Timing(linked, linked - (delivered.from_start
                                                          - delivered.from_first))
                    if inline:
                        keep_best(best, INLINE, delivered, rounds)
                    elif under_way:
                        keep_best(best, UNDER_WAY, all_linked, rounds)
                    else:
                        keep_best(best, DELIVERED, delivered, rounds)
                        keep_best(best, BACKGROUND, all_linked, rounds)
                seconds = await asyncio.to_thread(cli_rate, bootstrap, topic, n)
                keep_best(best, ORDER[-1], Timing(seconds, seconds))
                decode_s = min(decode_s or seconds, decode_only(records))
        print(f"{n:,} events, ~{size} bytes each (value + headers, data {args.data}), 1 partition, "
              f"Python {platform.python_version()}, {platform.machine()}; "
              f"produced in {produce_s:.1f} s ({n / produce_s:,.0f}/s); best of {args.repeat}\n")
        print("| path | events/s, first event to last | events/s, from start | "
              "vs getmany + json.loads (first to last) |")
        print("|---|---:|---:|---:|")
        base = n / best[ORDER[1]].from_first
        for name in ORDER:
            timing = best[name]
            steady = "" if name == ORDER[-1] else f"{n / timing.from_first:,.0f}"
            ratio = "" if name == ORDER[-1] else f"{n / timing.from_first / base:.2f}×"
            print(f"| {name} | {steady} | {n / timing.from_start:,.0f} | {ratio} |")
        print(f"| decode_records alone, records in memory | {n / decode_s:,.0f} | | "
              f"{n / decode_s / base:.2f}× |")
        print()
        for label, over, under in (
                ("feed / (getmany + json.loads)", FEED, ORDER[1]),
                ("feed, every event's data read / (getmany + json.loads)", FEED_READ, ORDER[1]),
                ("correlated (background, all linked) / feed alone", BACKGROUND, FEED),
                ("correlated (inline, the CLI) / feed alone", INLINE, FEED),
                ("correlated (background, a call under way) / feed alone", UNDER_WAY, FEED)):
            per_round = [u.from_first / o.from_first
                         for u, o in zip(rounds[under], rounds[over], strict=True)]
            print(f"{label}: {best[under].from_first / best[over].from_first:.2f}× "
                  f"first event to last, {best[under].from_start / best[over].from_start:.2f}× "
                  f"from start; round by round (first event to last) "
                  f"{', '.join(f'{r:.2f}' for r in per_round)}: median "
                  f"{statistics.median(per_round):.2f}×")
        print(f"\nEvery feed run and the CLI received exactly {n:,} events, each offset once.")
    except CountMismatch as exc:
        print(f"bench_events: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
