"""``apilog events`` into a reader slower than the broker: every record, or a loud skip.

The real entry point in a subprocess, its output piped (or on a pseudo-terminal) to a reader
that deliberately takes its time; the reader's queue is made small (``APILOG_EVENTS_QUEUE``)
so that a few thousand records are several times every bound the feed has.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.events.conftest import binary_event, produce
from tests.support.broker import wait_until
from tests.support.gateway import interrupt, restore_ctrl_c

pytestmark = pytest.mark.slow

APILOG = str(Path(sys.executable).with_name("apilog"))
QUEUE = 500  # events the CLI may read ahead of its output
PARTITIONS = 4
N = 5 * QUEUE * 2  # 5 000: ten times the queue, and ten batches of the feed (500) per partition


def records(prefix: str, count: int, start: int = 0) -> list[dict]:
    filler = "x" * 400  # ~500-byte values, as in the issue
    return [binary_event(f"{prefix}-{i}", {"id": f"r{i}", "note": filler}, subject=f"r{i}")
            for i in range(start, start + count)]


async def produce_spread(bootstrap: str, topic: str, items: list[dict]) -> None:
    """Round-robin over the topic's partitions (created with ``PARTITIONS`` first)."""
    per = defaultdict(list)
    for index, record in enumerate(items):
        per[index % PARTITIONS].append(record)
    for partition, chunk in per.items():
        await produce(bootstrap, topic, chunk, partition=partition)


async def create_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def full_topic(kafka_broker) -> str:
    """A four-partition topic holding N records, shared by the tests that only read it."""
    import uuid

    topic = f"gateway.events.flood-{uuid.uuid4().hex[:8]}"

    async def fill() -> None:
        await create_topic(kafka_broker.bootstrap, topic)
        await produce_spread(kafka_broker.bootstrap, topic, records("flood", N))

    asyncio.run(fill())
    return topic


def command(bootstrap: str, topic: str, *extra: str) -> list[str]:
    return [APILOG, "events", "--bootstrap", bootstrap, "--topic", re.escape(topic),
            "--from", "earliest", "--json", "--no-link", *extra]


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
            "APILOG_EVENTS_QUEUE": str(QUEUE)}


def slow_lines(stream, lines: list[str], stop_after: int | None = None) -> None:
    """Read like a slow consumer: a pause every 20 lines (about 4,000 lines/s at best)."""
    for line in stream:
        lines.append(line)
        if len(lines) % 20 == 0:
            time.sleep(0.005)
        if stop_after is not None and len(lines) >= stop_after:
            return


def assert_complete(rows: list[dict], count: int) -> None:
    """Exactly ``count`` rows, each (partition, offset) once, offsets rising per partition."""
    assert len(rows) == count
    seen = [(r["partition"], r["offset"]) for r in rows]
    assert len(set(seen)) == count
    by_partition = defaultdict(list)
    for partition, offset in seen:
        by_partition[partition].append(offset)
    assert sorted(by_partition) == list(range(PARTITIONS))
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))  # in order, none missing


def test_a_slow_pipe_gets_every_record_once_and_in_order(kafka_broker, full_topic, tmp_path):
    process = subprocess.Popen(command(kafka_broker.bootstrap, full_topic),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(tmp_path))
    lines: list[str] = []
    slow_lines(process.stdout, lines)
    code = process.wait(60)
    stderr = process.stderr.read()
    assert (code, stderr) == (0, "")
    assert_complete([json.loads(line) for line in lines], N)


def test_follow_gets_every_record_while_the_producer_is_still_writing(kafka_broker, topic,
                                                                       tmp_path):
    asyncio.run(create_topic(kafka_broker.bootstrap, topic))
    process = subprocess.Popen(command(kafka_broker.bootstrap, topic, "--follow"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(tmp_path), preexec_fn=restore_ctrl_c)
    lines: list[str] = []
    reader = threading.Thread(target=slow_lines, args=(process.stdout, lines, N), daemon=True)
    reader.start()
    try:
        for start in range(0, N, N // 10):  # ten bursts, the reader behind all the while
            asyncio.run(produce_spread(kafka_broker.bootstrap, topic,
                                       records("live", N // 10, start)))
        wait_until(lambda: len(lines) >= N, 60, message=f"{N} followed events")
    finally:
        code = interrupt(process)
        reader.join(5)
    assert code == 130
    assert "not" not in process.stderr.read()  # no "were not shown/delivered" line
    assert_complete([json.loads(line) for line in lines[:N]], N)


def test_an_output_that_goes_away_ends_with_status_1_and_says_what_was_lost(
        kafka_broker, full_topic, tmp_path):
    process = subprocess.Popen(command(kafka_broker.bootstrap, full_topic),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(tmp_path))
    for _ in range(10):
        process.stdout.readline()
    process.stdout.close()
    code = process.wait(60)
    stderr = process.stderr.read().splitlines()
    assert code == 1
    assert len(stderr) == 1, stderr
    assert re.fullmatch(rf"apilog events: could not write to the output \(Broken pipe\); the "
                        rf"events from {re.escape(full_topic)}\[\d\]@\d+ on were read but not "
                        r"delivered", stderr[0])


def test_a_terminal_that_falls_behind_is_told_what_it_skipped_and_can_load_it(
        kafka_broker, full_topic, tmp_path):
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(command(kafka_broker.bootstrap, full_topic, "--follow"),
                               stdout=secondary, stderr=subprocess.PIPE, text=True,
                               env=environment(tmp_path), preexec_fn=restore_ctrl_c)
    os.close(secondary)
    output = b""
    shown: dict[int, set[int]] = defaultdict(set)
    skipped: list[tuple[int, int, int, int]] = []
    try:
        time.sleep(1.0)  # the operator scrolls back: the terminal takes nothing for a while

        def drain() -> bool:
            nonlocal output
            while True:
                import select

                ready, _, _ = select.select([primary], [], [], 0.1)
                if not ready:
                    break
                output += os.read(primary, 65536)
            *complete, output = output.split(b"\n")
            for raw in complete:
                text = raw.decode().strip()
                if text.startswith("{"):
                    row = json.loads(text)
                    shown[row["partition"]].add(row["offset"])
                elif text:
                    found = re.fullmatch(
                        rf"skipped (\d+) events? \(offsets? (\d+)(?:–(\d+))? of "
                        rf"{re.escape(full_topic)}\[(\d)\]\); load them with: apilog events "
                        rf"--load '{re.escape(full_topic)}\[\d\]@\d+-\d+'", text)
                    assert found, text
                    count, first, last, partition = found.groups()
                    skipped.append((int(partition), int(first), int(last or first), int(count)))
            return sum(map(len, shown.values())) + sum(s[3] for s in skipped) >= N

        wait_until(drain, 60, message="every record shown or reported skipped")
    finally:
        code = interrupt(process)
        os.close(primary)
    assert skipped, "the terminal was slow; something should have been skipped"
    for partition, first, last, count in skipped:
        assert count == last - first + 1
        missed = set(range(first, last + 1))
        assert not missed & shown[partition]
        shown[partition] |= missed
    assert {p: sorted(o) for p, o in shown.items()} == {
        p: list(range(N // PARTITIONS)) for p in range(PARTITIONS)}
    assert code == 130
    total = sum(s[3] for s in skipped)
    stderr = process.stderr.read().splitlines()
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith(f"apilog events: {total} events read were not shown (the "
                                f"terminal fell behind): {full_topic}[")
    partition, first, last, count = skipped[0]
    loaded = subprocess.run([APILOG, "events", "--bootstrap", kafka_broker.bootstrap, "--json",
                             "--no-link", "--load", f"{full_topic}[{partition}]@{first}-{last}"],
                            capture_output=True, text=True, env=environment(tmp_path), timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert [(r["partition"], r["offset"]) for r in map(json.loads, loaded.stdout.splitlines())] \
        == [(partition, offset) for offset in range(first, last + 1)]


def test_ctrl_c_ends_the_command_while_its_output_is_blocked(kafka_broker, full_topic, tmp_path):
    # `apilog events -f | less`, the operator not paging: the pipe is full, the writes wait.
    process = subprocess.Popen(command(kafka_broker.bootstrap, full_topic, "--follow"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment(tmp_path), preexec_fn=restore_ctrl_c)
    try:
        first = process.stdout.readline()  # it is writing; nobody reads any more
        assert json.loads(first)["offset"] == 0
        wait_until(lambda: unread(process.stdout) >= pipe_size(process.stdout), 30,
                   message="the pipe to fill (the command's writes then wait)")
        code = interrupt(process, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130
    assert "Traceback" not in process.stderr.read().decode()


def unread(stream) -> int:
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(stream.fileno(), termios.FIONREAD, b"\0" * 4), "little")


def pipe_size(stream) -> int:
    import fcntl

    return fcntl.fcntl(stream.fileno(), 1032)  # F_GETPIPE_SZ (Linux)
