"""Helpers for tests of the outbox relay: what reached Kafka (with duplicates), what is parked."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import httpx2
import pytest
from aiokafka import AIOKafkaConsumer

from tests.support.broker import wait_until


async def event_id_counts(bootstrap: str, topics: Iterable[str], wanted: Iterable[str],
                          timeout: float = 30.0) -> Counter[str]:
    """How many times each ``ce_id`` is in ``topics``: read from the start until every id in
    ``wanted`` was seen and then to the end of each partition (so duplicates are counted too).

    Fails the test at the deadline naming the ids still missing. No consumer group (fast).
    """
    wanted = set(wanted)
    counts: Counter[str] = Counter()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                metadata_max_age_ms=500, fetch_max_bytes=64 * 1_048_576,
                                max_partition_fetch_bytes=16 * 1_048_576)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                pytest.fail(f"events never reached {sorted(topics)}: {sorted(wanted - counts.keys())}")
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    counts[dict(record.headers).get("ce_id", b"").decode()] += 1
            if wanted <= counts.keys() and not batch:
                assigned = consumer.assignment()
                ends = await consumer.end_offsets(list(assigned))
                positions = {tp: await consumer.position(tp) for tp in ends}
                if all(positions[tp] >= end for tp, end in ends.items()):
                    return counts
            await asyncio.sleep(0)
    finally:
        await consumer.stop()


def _query(db_path: Path, sql: str, *args: object) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


def parked_ids(db_path: Path) -> set[str]:
    """Event ids of the outbox rows the relay parked (dead letter)."""
    return {r[0] for r in _query(db_path, "SELECT event_id FROM outbox WHERE parked_at IS NOT NULL")}


def waiting_ids(db_path: Path) -> set[str]:
    """Event ids still queued: neither delivered nor parked."""
    return {r[0] for r in _query(db_path, "SELECT event_id FROM outbox "
                                          "WHERE delivered_at IS NULL AND parked_at IS NULL")}


def committed_ids(db_path: Path) -> set[str]:
    """Every event id the gateway committed (delivered, waiting or parked)."""
    return {r[0] for r in _query(db_path, "SELECT event_id FROM outbox")}


def insert_row(db_path: Path, *, event_id: str, topic: str, headers: str, value: bytes) -> None:
    """Put a row straight into the outbox, as a damaged or foreign writer could."""
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO outbox (event_id, topic, key, headers, value, created_at) "
                     "VALUES (?, ?, NULL, ?, ?, '2026-01-01T00:00:00.000Z')",
                     (event_id, topic, headers, value))


def gateway_process(db_path: Path, data_dir: Path, secret: str,
                    *args: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``apilog gateway --db DB ARGS`` as a real process (``--port 0`` unless ARGS name one),
    the sandbox client's secret set to ``secret``; returns it, its base URL once it answers, and
    the file its output goes to (a file, not a pipe nobody reads that would fill and block it)."""
    env = {**os.environ, "APILOG_DATA_DIR": str(data_dir), "APILOG_SANDBOX_CLIENT_SECRET": secret}
    port = [] if "--port" in args else ["--port", "0"]
    output = data_dir / f"gateway-{time.monotonic_ns()}.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "console.cli", "gateway", *port,
                                    "--db", str(db_path), *args], stdout=sink,
                                   stderr=subprocess.STDOUT, env=env)

    def banner() -> re.Match[str] | None:
        assert process.poll() is None, output.read_text()
        return re.search(r"apilog gateway on (http://\S+)", output.read_text())

    base_url = wait_until(banner, timeout=30, message="the gateway banner").group(1)

    def answers() -> bool:
        try:
            return httpx2.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx2.TransportError:
            return False

    wait_until(answers, timeout=30, message="the gateway process to answer /healthz")
    return process, base_url, output
