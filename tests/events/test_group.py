"""``apilog events --group``: a real member of the consumer group (Tansu: joins take 5-18 s)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import uuid
from collections import Counter

import pytest

from tests.events.test_backpressure import (
    APILOG,
    PARTITIONS,
    create_topic,
    environment,
    produce_spread,
    records,
)
from tests.support.broker import wait_until
from tests.support.gateway import interrupt, restore_ctrl_c

pytestmark = pytest.mark.slow


class Member:
    """One ``apilog events --group G --follow --json`` process, its lines and its stderr."""

    def __init__(self, bootstrap: str, topic: str, group: str, tmp_path) -> None:
        self.process = subprocess.Popen(
            [APILOG, "events", "--bootstrap", bootstrap, "--topic", re.escape(topic), "--group",
             group, "--from", "earliest", "--follow", "--json", "--no-link"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=environment(tmp_path), preexec_fn=restore_ctrl_c)
        self.rows: list[dict] = []
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(self.process.stdout, True),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, False),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, rows: bool) -> None:
        for line in stream:
            if rows:
                self.rows.append(json.loads(line))
            else:
                self.errors.append(line.rstrip("\n"))

    @property
    def assigned(self) -> set[int] | None:
        """The partitions of the latest "assigned" line on stderr (None before the first)."""
        lines = [line for line in self.errors if " assigned " in line]
        return {int(p) for p in re.findall(r"\[(\d+)\]", lines[-1])} if lines else None

    def stop(self) -> int:
        code = interrupt(self.process, timeout=30)
        for thread in self._threads:
            thread.join(5)
        return code


def test_two_members_share_the_partitions_and_one_that_leaves_loses_nothing(
        kafka_broker, topic, tmp_path):
    group = f"apilog-test-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topic(kafka_broker.bootstrap, topic))
    everything = set(range(PARTITIONS))
    first = Member(kafka_broker.bootstrap, topic, group, tmp_path / "a")
    second = None
    try:
        wait_until(lambda: first.assigned == everything, 60, message="the first member's share")
        second = Member(kafka_broker.bootstrap, topic, group, tmp_path / "b")
        wait_until(lambda: first.assigned and second.assigned
                   and first.assigned | second.assigned == everything
                   and not first.assigned & second.assigned, 90,
                   message="the group's partitions split between the two members")
        shares = {id(first): first.assigned, id(second): second.assigned}
        asyncio.run(produce_spread(kafka_broker.bootstrap, topic, records("g", 2000)))
        wait_until(lambda: len(first.rows) + len(second.rows) >= 2000, 60,
                   message="the first 2,000 records, read by the two members")
        for member in (first, second):
            assert {row["partition"] for row in member.rows} <= shares[id(member)]
        assert first.stop() == 130  # leaves the group, having committed what it printed
        wait_until(lambda: second.assigned == everything, 90,
                   message="the second member taking every partition")
        asyncio.run(produce_spread(kafka_broker.bootstrap, topic, records("g", 2000, 2000)))
        wait_until(lambda: len(first.rows) + len(second.rows) >= 4000, 60,
                   message="the next 2,000 records, read by the member that stayed")
    finally:
        for member in (first, second):
            if member is not None and member.process.poll() is None:
                member.stop()
    seen = Counter((row["partition"], row["offset"]) for row in first.rows + second.rows)
    assert len(seen) == 4000 and max(seen.values()) == 1  # each record once, none lost
    assert {row["id"] for row in first.rows + second.rows} == {f"g-{i}" for i in range(4000)}


def test_a_member_that_leaves_with_events_unprinted_leaves_them_to_the_group(
        kafka_broker, topic, tmp_path):
    """Its output blocked (nobody reading), the member has read far more than it printed when
    Ctrl-C comes: it commits only what it printed, so the next member reads the rest."""
    from tests.events.test_backpressure import pipe_size, unread

    group = f"apilog-test-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topic(kafka_broker.bootstrap, topic))
    stuck = subprocess.Popen(
        [APILOG, "events", "--bootstrap", kafka_broker.bootstrap, "--topic", re.escape(topic),
         "--group", group, "--from", "earliest", "--follow", "--json", "--no-link"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(tmp_path / "a"),
        preexec_fn=restore_ctrl_c)
    try:
        wait_until(lambda: b" assigned " in stuck.stderr.peek(), 60, message="the first join")
        asyncio.run(produce_spread(kafka_broker.bootstrap, topic, records("u", 2000)))
        # The operator reads a while (whole batches printed), then stops reading.
        printed = [json.loads(stuck.stdout.readline()) for _ in range(1200)]
        wait_until(lambda: unread(stuck.stdout) >= pipe_size(stuck.stdout), 60,
                   message="its output to fill up")
        assert interrupt(stuck, timeout=30) == 130
    finally:
        if stuck.poll() is None:
            stuck.kill()
    printed += [json.loads(line) for line in stuck.stdout.read().split(b"\n")[:-1]]
    assert len(printed) < 2000
    stayed = Member(kafka_broker.bootstrap, topic, group, tmp_path / "b")
    try:
        wait_until(lambda: {(r["partition"], r["offset"]) for r in printed + stayed.rows}
                   == {(p, o) for p in range(PARTITIONS) for o in range(2000 // PARTITIONS)},
                   90, message="the next member reading every record the first did not print")
    finally:
        stayed.stop()
    assert len(stayed.rows) < 2000  # it resumed from the commit, not from the start
