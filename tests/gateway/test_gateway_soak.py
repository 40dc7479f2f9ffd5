"""Soak: normal writes, bad inputs, a broker restart and a gateway ``kill -9``; nothing lost or stuck.

Bounded (a fixed number of requests, every wait with a deadline) and loopback only. The gateway
runs as a real process so it can be killed; the broker is the test's own so it can be restarted.

What "delivered at least once" can mean with this broker: Tansu keeps its log in memory, so a
restart empties it. The test therefore reads every topic before the restart (after the outbox
drained) and again at the end, and counts the distinct event ids received over both reads; every
event id the gateway committed must be among them, except the parked (poisoned) row.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field

import httpx2
import pytest

from console.events.broker import free_port
from tests.support.broker import async_wait_until
from tests.support.relay import (
    committed_ids,
    event_id_counts,
    gateway_process,
    insert_row,
    parked_ids,
    waiting_ids,
)

pytestmark = pytest.mark.slow

SECRET = "soak-secret-93d0b2"
#: Writes of the shipped catalogue without rate limits or latency SLAs (nothing refuses them
#: for speed): (method, path, action, domain).
WRITES = [("PUT", "/security/firewall/config", "add-record", "firewall"),
          ("POST", "/customer/update", "add-record", "customer"),
          ("PUT", "/network/qos/monitor", "add-record", "qos"),
          ("POST", "/crm/lead/import", "update-config", "crm-lead")]
TOPICS = sorted({f"gateway.events.{w[3]}" for w in WRITES})
BURST, OUTAGE_WRITES, KILL_BURST, KILL_AFTER = 160, 80, 160, 40
MIB = 1_048_576


@dataclass
class Caller:
    """A client that retries each logical request with its Idempotency-Key until a final answer."""

    base_url: str
    token: str = ""
    requests: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    #: Final answers replayed from a stored key: the write had committed, its answer was lost.
    replayed: int = 0

    async def refresh(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(f"{self.base_url}/oauth/token", auth=("apilog-sandbox", SECRET),
                                     data={"grant_type": "client_credentials"})
        self.token = response.json()["access_token"]

    async def write(self, client: httpx2.AsyncClient, n: int, body: dict | bytes | None = None,
                    key: str | None = None) -> httpx2.Response:
        method, path, action, _ = WRITES[n % len(WRITES)]
        key = key or str(uuid.uuid4())
        content = body if isinstance(body, bytes) else json.dumps(body or {"n": n, f"k{n % 7}": n}).encode()
        deadline = time.monotonic() + 45
        while True:
            self.requests += 1
            try:
                if not self.token:
                    await self.refresh(client)
                response = await client.request(
                    method, f"{self.base_url}{path}", params={"action": action}, content=content,
                    headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key,
                             "Content-Type": "application/json", "Accept": "application/json"})
            except httpx2.TransportError:  # the gateway is down: it may or may not have committed
                response = None
            if response is not None and response.status_code == 401:
                self.token = ""
            elif response is not None and response.status_code < 500 and response.status_code != 409:
                self.answers[response.status_code] += 1
                self.replayed += response.headers.get("idempotent-replayed") == "true"
                return response
            if time.monotonic() > deadline:
                pytest.fail(f"no final answer for {method} {path} key {key} within 45 s")
            await asyncio.sleep(0.05)  # a retry pause, as `apilog call` makes between attempts


async def _burst(caller: Caller, client: httpx2.AsyncClient, start: int, count: int,
                 parallel: int = 8, done: list[int] | None = None) -> list[httpx2.Response]:
    gate = asyncio.Semaphore(parallel)

    async def one(n: int) -> httpx2.Response:
        async with gate:
            response = await caller.write(client, n)
            if done is not None:
                done.append(n)
            return response

    return list(await asyncio.gather(*(one(n) for n in range(start, start + count))))


def _add_records(db_path) -> int:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


async def test_soak_nothing_lost_nothing_stuck(private_broker, tmp_path):
    db, port = tmp_path / "gateway.db", free_port()
    args = ("--port", str(port), "--kafka", private_broker.bootstrap)
    process, base_url, output = gateway_process(db, tmp_path, SECRET, *args)
    caller = Caller(base_url)
    received: set[str] = set()
    duplicates = 0
    try:
        async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=16)) as client:
            # 1. Normal writes, one oversized write, one poisoned row in the outbox.
            first_key = str(uuid.uuid4())
            assert (await caller.write(client, 1, key=first_key)).status_code == 201
            first = await _burst(caller, client, 0, BURST)
            assert {r.status_code for r in first} <= {200, 201}
            oversized = await caller.write(client, 0, body=json.dumps({"blob": "x" * (MIB - 64)}).encode())
            assert oversized.status_code == 413
            reused = await caller.write(client, 1, body={"other": "body"}, key=first_key)
            assert reused.status_code == 422  # a key is never replayed for another request
            poison = str(uuid.uuid4())
            insert_row(db, event_id=poison, topic="gateway.events.firewall", headers="{poisoned", value=b"{}")
            await _burst(caller, client, BURST, 20)
            await async_wait_until(lambda: not waiting_ids(db), timeout=30, message="the outbox to drain")
            before_restart = committed_ids(db) - parked_ids(db)
            counts = await event_id_counts(private_broker.bootstrap, TOPICS, before_restart)
            received |= counts.keys()
            duplicates += sum(c - 1 for c in counts.values())

            # 2. The broker goes away (memory storage: its log is gone), writes go on, it returns.
            private_broker.stop()
            during = await _burst(caller, client, 1000, OUTAGE_WRITES)
            assert {r.status_code for r in during} <= {200, 201}
            assert waiting_ids(db)  # held in the outbox, not lost
            private_broker.start()

            # 3. The gateway is killed mid-burst (SIGKILL) and restarted on the same database;
            #    the callers retry the unanswered writes with their keys.
            done: list[int] = []
            burst = asyncio.ensure_future(_burst(caller, client, 2000, KILL_BURST, done=done))
            await async_wait_until(lambda: len(done) >= KILL_AFTER, timeout=30, message="the burst to start")
            process.kill()
            process.wait(10)
            first_output = output
            process, _, output = gateway_process(db, tmp_path, SECRET, *args)
            last = await burst
            assert {r.status_code for r in last} <= {200, 201}
            await async_wait_until(lambda: not waiting_ids(db), timeout=45, message="the outbox to drain")
            health = (await client.get(f"{base_url}/healthz")).json()["kafka"]
    finally:
        process.kill()
        process.wait(10)

    committed, parked = committed_ids(db), parked_ids(db)
    counts = await event_id_counts(private_broker.bootstrap, TOPICS, committed - parked - received)
    received |= counts.keys()
    duplicates += sum(c - 1 for c in counts.values())
    lost = committed - parked - received
    add_records = sum(1 for n in [1, *range(BURST + 20), *range(1000, 1000 + OUTAGE_WRITES),
                                  *range(2000, 2000 + KILL_BURST)] if WRITES[n % len(WRITES)][2] == "add-record")
    print(f"\nsoak: {caller.requests} requests ({dict(caller.answers)} final answers), "
          "faults survived: 1 broker restart + 1 gateway kill -9, bad inputs: 1 oversized write "
          f"(413) + 1 key reused for another body (422) + 1 poisoned outbox row (parked), committed events {len(committed)}, "
          f"rows lost {len(lost)}, duplicates received {duplicates}, "
          f"answers replayed from a stored key {caller.replayed}")
    assert parked == {poison} and health["parked"] == 1 and health["pending"] == 0
    assert f"event {poison} parked" in first_output.read_text()  # the operator sees it as it happens
    assert re.search(rf"outbox +\d+ waiting, 1 parked \(dead letter: apilog gateway redrive --db {re.escape(str(db))}\)",
                     output.read_text())  # and in the banner of the restarted gateway
    assert not waiting_ids(db)
    assert lost == set()
    assert _add_records(db) == add_records  # each keyed write committed once, retries replayed
