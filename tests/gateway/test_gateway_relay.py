"""One event too large or broken never stops the others: 413 at the door, parking in the relay.

Against the real broker and real HTTP: an oversized change is refused before it commits, a row
that can never be published is parked (dead letter) while every other event is delivered
exactly once, and ``apilog gateway redrive`` puts a parked row back in the queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing

import httpx2
import pytest

from console.catalogue import Contract
from tests.support.broker import async_wait_until
from tests.support.gateway import collect_events, fetch_token, make_catalogue
from tests.support.relay import event_id_counts, insert_row, parked_ids, waiting_ids

pytestmark = pytest.mark.slow

EVENT = [Contract("kafka-event")]
OPERATIONS = [
    ("/security/firewall/config", "PUT", "add-record", EVENT),
    ("/customer/update", "POST", "add-record", EVENT),
    ("/crm/lead/import", "POST", "update-config", EVENT),
    ("/invoice/export", "PUT", "add-record", EVENT),
]
TOPICS = ["gateway.events.firewall", "gateway.events.customer", "gateway.events.crm-lead",
          "gateway.events.invoice"]
MIB = 1_048_576


def _client(gw) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=gw.base_url, timeout=30,
                              headers={"Authorization": f"Bearer {fetch_token(gw)}"})


async def _one_of_each(client) -> list[str]:
    """A normal write to every domain; their event ids."""
    calls = [("PUT", "/security/firewall/config", "add-record", {"rule": "allow 443"}),
             ("POST", "/customer/update", "add-record", {"name": "Ada"}),
             ("POST", "/crm/lead/import", "update-config", {"owner": "noc"}),
             ("PUT", "/invoice/export", "add-record", {"total": 12})]
    ids = []
    for method, path, action, body in calls:
        response = await client.request(method, path, params={"action": action}, json=body)
        assert response.status_code in (200, 201), response.text
        ids.append(response.headers["x-event-id"])
    return ids


def _count(db_path, sql, *args) -> int:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_oversized_write_is_refused_and_every_later_event_arrives(kafka_broker, gateway_factory):
    gw = gateway_factory(catalogue=make_catalogue(OPERATIONS), kafka_bootstrap=kafka_broker.bootstrap,
                         outbox_poll_s=0.1)
    record_id = f"big-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"id": record_id, "blob": "x" * (MIB - 100)}).encode()
    assert len(body) <= MIB  # the body is accepted by the body limit: only its event is too large
    async with _client(gw) as client:
        refused = await client.put("/security/firewall/config", params={"action": "add-record"},
                                   content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["max_event_bytes"] == MIB and problem["event_bytes"] > MIB
        assert f"limit of {MIB} bytes" in problem["detail"] and "max.message.bytes" in problem["detail"]
        assert _count(gw.db_path, "SELECT COUNT(*) FROM records WHERE id = ?", record_id) == 0
        assert _count(gw.db_path, "SELECT COUNT(*) FROM outbox") == 0
        later = await _one_of_each(client)
    counts = await event_id_counts(kafka_broker.bootstrap, TOPICS, later)
    assert [counts[i] for i in later] == [1, 1, 1, 1]


async def test_config_grown_past_the_limit_is_refused_until_keys_make_room(kafka_broker, gateway_factory):
    gw = gateway_factory(catalogue=make_catalogue(OPERATIONS), kafka_bootstrap=kafka_broker.bootstrap,
                         outbox_poll_s=0.1, max_event_bytes=64 * 1024)
    async with _client(gw) as client:
        first = await client.post("/crm/lead/import", params={"action": "update-config"}, json={"a": "x" * 40_000})
        assert first.status_code == 200
        grown = await client.post("/crm/lead/import", params={"action": "update-config"}, json={"b": "y" * 40_000})
        assert grown.status_code == 413
        assert "remove keys" in grown.json()["detail"] and grown.json()["max_event_bytes"] == 64 * 1024
        assert _count(gw.db_path, "SELECT COUNT(*) FROM config WHERE domain = 'crm-lead'") == 1
        swapped = await client.post("/crm/lead/import", params={"action": "update-config"},
                                    json={"a": None, "b": "y" * 40_000})
        assert swapped.status_code == 200
        ids = [first.headers["x-event-id"], swapped.headers["x-event-id"]]
    counts = await event_id_counts(kafka_broker.bootstrap, ["gateway.events.crm-lead"], ids)
    assert [counts[i] for i in ids] == [1, 1]


def _valid_headers(event_id: str) -> str:
    return json.dumps({"ce_specversion": "1.0", "ce_id": event_id, "ce_source": "test",
                       "ce_type": "apilog.firewall.add-record", "ce_time": "2026-01-01T00:00:00.000Z",
                       "content-type": "application/json"})


def _redrive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "gateway", "redrive", *args],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


async def test_unpublishable_rows_are_parked_the_rest_delivered_once_and_redrive_works(
        kafka_broker, gateway_factory, tmp_path):
    db = tmp_path / "gateway.db"
    catalogue = make_catalogue(OPERATIONS)
    # Without Kafka every event waits, so the poisoned rows sit in the middle of ONE relay batch.
    offline = gateway_factory(catalogue=catalogue, db_path=db)
    async with _client(offline) as client:
        ahead = await _one_of_each(client) + await _one_of_each(client)
        too_big, malformed = str(uuid.uuid4()), str(uuid.uuid4())
        insert_row(db, event_id=too_big, topic="gateway.events.firewall", headers=_valid_headers(too_big),
                   value=b'"' + b"z" * (MIB + 1000) + b'"')
        insert_row(db, event_id=malformed, topic="gateway.events.firewall", headers="{not json", value=b"{}")
        behind = await _one_of_each(client) + await _one_of_each(client)
    offline.server.stop()

    gw = gateway_factory(catalogue=catalogue, db_path=db, kafka_bootstrap=kafka_broker.bootstrap,
                         outbox_poll_s=0.1)
    await async_wait_until(lambda: not waiting_ids(db), timeout=30, message="the relay to settle every row")
    assert parked_ids(db) == {too_big, malformed}
    health = httpx2.get(f"{gw.base_url}/healthz", timeout=10).json()["kafka"]
    assert health["parked"] == 2 and health["pending"] == 0
    reasons = {p["event_id"]: p["error"] for p in health["parked_events"]}
    assert "MessageSizeTooLarge" in reasons[too_big] and "not JSON" in reasons[malformed]
    counts = await event_id_counts(kafka_broker.bootstrap, TOPICS, ahead + behind)
    assert {counts[i] for i in ahead + behind} == {1}  # nothing ahead of a bad row sent twice
    assert counts[too_big] == counts[malformed] == 0
    gw.server.stop()

    listed = _redrive("--list", "--db", str(db))
    assert listed.returncode == 0 and too_big in listed.stdout and malformed in listed.stdout
    assert parked_ids(db) == {too_big, malformed}  # --list changes nothing
    unknown = _redrive("--db", str(db), "--event", "no-such-event")
    assert unknown.returncode == 2 and "no parked event no-such-event" in unknown.stderr
    done = _redrive("--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "2 event(s) queued again" in done.stdout and parked_ids(db) == set()

    # The broker's limit was raised and the gateway's with it: the large event now goes out;
    # the malformed one is parked again, and neither holds anything back.
    gateway_factory(catalogue=catalogue, db_path=db, kafka_bootstrap=kafka_broker.bootstrap,
                    outbox_poll_s=0.1, max_event_bytes=2 * MIB)
    await async_wait_until(lambda: not waiting_ids(db), timeout=30, message="the re-driven rows to settle")
    assert parked_ids(db) == {malformed}
    counts = await event_id_counts(kafka_broker.bootstrap, TOPICS, [too_big, *ahead])
    assert counts[too_big] == 1 and {counts[i] for i in ahead + behind} == {1}


async def test_a_commit_that_wakes_the_relay_during_its_read_is_published_without_a_poll(
        kafka_broker, tmp_path, monkeypatch):
    """The relay is woken while its read of the outbox is in flight (and found nothing yet): the
    event must go out on that wake-up, not wait for the next poll (here an hour away)."""
    import asyncio

    from console.gateway import outbox
    from console.gateway.domains import DomainStore

    store = DomainStore(tmp_path / "gateway.db")
    store.open()
    relay = outbox.OutboxRelay(store, kafka_broker.bootstrap, poll_s=3600)
    loop = asyncio.get_running_loop()
    committed: list[str] = []
    read = outbox._pending

    def pending_while_a_commit_lands(conn, limit, max_bytes):
        rows = read(conn, limit, max_bytes)
        if not rows and not committed:  # the read saw nothing; now a request commits and wakes it
            conn.execute("BEGIN IMMEDIATE")
            committed.append(outbox.enqueue(conn, domain="wake", action="add-record", subject="w1",
                                            data={"n": 1}, source="http://gw/x", traceparent=None))
            conn.execute("COMMIT")
            loop.call_soon_threadsafe(relay.wake)  # reaches the loop before this read's result
        return rows

    monkeypatch.setattr(outbox, "_pending", pending_while_a_commit_lands)
    await relay.start()
    try:
        await async_wait_until(lambda: relay.delivered == 1, timeout=30,
                               message="the event committed during the relay's read to be published")
    finally:
        await relay.stop()
        store.close()
    counts = await event_id_counts(kafka_broker.bootstrap, ["gateway.events.wake"], committed)
    assert counts[committed[0]] == 1


async def test_a_broker_restarted_between_writes_gets_its_topic_back_before_the_next_event(
        private_broker, gateway_factory):
    """The relay asks the broker for fresh metadata only when something may have changed. A
    memory-storage broker restarted while nothing waits in the outbox (no send fails, so only
    the new connection gives it away) has forgotten the topic: the next event must still
    arrive, on a topic created again, and the one after it too."""
    gw = gateway_factory(catalogue=make_catalogue(OPERATIONS), kafka_bootstrap=private_broker.bootstrap,
                         outbox_poll_s=0.1)
    topic = "gateway.events.firewall"
    async with _client(gw) as client:
        async def write(n: int) -> str:
            response = await client.put("/security/firewall/config", params={"action": "add-record"},
                                        json={"n": n})
            assert response.status_code == 201, response.text
            return response.headers["x-event-id"]

        before = [await write(n) for n in range(3)]
        await async_wait_until(lambda: _count(gw.db_path, "SELECT COUNT(*) FROM outbox WHERE "
                                              "delivered_at IS NULL") == 0, timeout=30,
                               message="the first events to be delivered")
        assert set(before) <= (await collect_events(private_broker.bootstrap, topic, before)).keys()
        private_broker.stop()
        private_broker.start()  # same port; memory storage starts empty
        after = [await write(n) for n in range(3, 6)]
        found = await collect_events(private_broker.bootstrap, topic, after)
    assert set(after) <= found.keys()
    assert not set(before) & found.keys()  # the restarted broker really forgot the first ones


async def test_a_commit_that_lands_while_a_cycle_settles_is_published_without_a_poll(
        kafka_broker, tmp_path, monkeypatch):
    """The relay reads the next batch in the same database hand-off that settles the last one.
    A commit that lands just after that read (which found nothing) must still be published on
    its wake-up, not at the next poll (an hour away here)."""
    import asyncio

    from console.gateway import outbox
    from console.gateway.domains import DomainStore

    store = DomainStore(tmp_path / "gateway.db")
    store.open()
    relay = outbox.OutboxRelay(store, kafka_broker.bootstrap, poll_s=3600)
    loop = asyncio.get_running_loop()
    committed: list[str] = []

    def commit(conn, subject: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        committed.append(outbox.enqueue(conn, domain="settle", action="add-record", subject=subject,
                                        data={"n": len(committed)}, source="http://gw/x", traceparent=None))
        conn.execute("COMMIT")

    read = outbox._pending
    settle_reads: list[int] = []

    def settle_read_while_a_commit_lands(conn, limit, max_bytes):
        rows = read(conn, limit, max_bytes)
        if relay.delivered == 1 and not rows and len(committed) == 2:  # the read after s2's settle
            settle_reads.append(1)
            commit(conn, "s3")
            loop.call_soon_threadsafe(relay.wake)  # reaches the loop before this read's result
        return rows

    def said() -> str:  # what the relay did and where it waits, for a wait that times out
        awaiting, frames = relay._task.get_coro() if relay._task else None, []
        while getattr(awaiting, "cr_frame", None) is not None:  # down the chain of awaits
            frames.append(f"{awaiting.cr_frame.f_code.co_name}:{awaiting.cr_frame.f_lineno}")
            awaiting = awaiting.cr_await
        where = " -> ".join(frames) or "not running"
        return (f"delivered {relay.delivered}, parked {relay.parked}, "
                f"settle reads {len(settle_reads)}, last error {relay.last_error}, waiting in {where}")

    with closing(sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)) as conn:
        commit(conn, "s1")  # waiting before the relay starts
    await relay.start()
    try:
        # First the topic made, the producer connected and the relay idle in its hour-long poll:
        # what is tested below is the wake-up alone, not a new topic's first produce.
        await async_wait_until(lambda: relay.delivered == 1, timeout=60, state=said,
                               message="the first event (its topic created) to be published")
        monkeypatch.setattr(outbox, "_pending", settle_read_while_a_commit_lands)
        with closing(sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)) as conn:
            commit(conn, "s2")
        relay.wake()
        # Longer than one acknowledgement timeout (ACK_TIMEOUT_S) and its back-off: a produce the
        # broker stalls under load is sent again after it, which is no poll; a lost wake-up
        # waits the hour-long poll and still fails here.
        await async_wait_until(lambda: relay.delivered == 3, timeout=outbox.ACK_TIMEOUT_S + 15,
                               state=said,
                               message="the event committed while the cycle settled to be published")
    finally:
        await relay.stop()
        store.close()
    assert settle_reads == [1]
    counts = await event_id_counts(kafka_broker.bootstrap, ["gateway.events.settle"], committed)
    assert [counts[i] for i in committed] == [1, 1, 1]


def _enqueue_all(store, domain: str, keys: list[str]) -> list[str]:
    """Commit one event per key, in order, in one transaction; their event ids."""
    from console.gateway import outbox

    conn = store._conn
    conn.execute("BEGIN IMMEDIATE")
    ids = [outbox.enqueue(conn, domain=domain, action="add-record", subject=key, data={"key": key},
                          source="http://gw/x", traceparent=None) for key in keys]
    conn.execute("COMMIT")
    return ids


@pytest.mark.parametrize("resend_fails", [False, True], ids=["resent", "resend-waits"])
async def test_a_batch_the_broker_refuses_for_good_parks_only_the_row_at_fault(
        kafka_broker, tmp_path, caplog, resend_fails):
    """The relay publishes a cycle's rows as one record batch. When the broker refuses a batch
    for a reason no retry cures (here: one record over the topic's size limit, the answer
    Kafka gives for the whole batch), the rows are sent again one a batch: only that row is
    parked, every other is delivered once. When the producer cannot take the first of those
    again (``resend-waits``), they all wait for the next cycle, which sorts them out the same
    way, without the relay taking it for a failure of the database."""
    from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

    from console.gateway import outbox
    from console.gateway.domains import DomainStore

    store = DomainStore(tmp_path / "gateway.db")
    store.open()
    keys = [f"k{i}" for i in range(12)]
    ids = _enqueue_all(store, "refused", keys)
    poison = keys[5]
    relay = outbox.OutboxRelay(store, kafka_broker.bootstrap, poll_s=0.1)
    batches: list[list[bytes]] = []
    keys_of: dict[int, list[bytes]] = {}
    make_batches = relay._batches

    def batches_made(*args):
        made = make_batches(*args)
        for _topic, _partition, records, builder in made:
            keys_of[id(builder)] = [r[2] for r in records]
        return made

    relay._batches = batches_made
    ensure_producer = relay._ensure_producer

    async def producer_that_refuses():  # every producer: a failed cycle replaces it
        producer = await ensure_producer()
        if not hasattr(producer, "real_send_batch"):
            producer.real_send_batch = producer.send_batch

            async def send_batch(batch, topic, *, partition):
                batches.append(keys_of[id(batch)])
                if resend_fails and batches[-1] == [keys[0].encode()] and len(batches) == 2:
                    raise KafkaTimeoutError("the producer's queue is full")
                if poison.encode() in batches[-1]:  # the broker's answer, for the whole batch
                    refused = asyncio.get_running_loop().create_future()
                    refused.set_exception(MessageSizeTooLargeError("the broker refused the batch"))
                    return refused
                return await producer.real_send_batch(batch, topic, partition=partition)

            producer.send_batch = send_batch
        return producer

    relay._ensure_producer = producer_that_refuses
    await relay.start()
    try:
        await async_wait_until(lambda: relay.delivered == len(keys) - 1 and relay.parked == 1, timeout=30,
                               message="the relay to deliver all but the refused row")
    finally:
        await relay.stop()
        store.close()
    assert len(batches[0]) == len(keys)  # the cycle's rows went as one batch first
    singles = [[k.encode()] for k in keys]  # then one a batch
    if resend_fails:  # the first single waits, and the next cycle begins again
        assert batches[1:] == [singles[0], [k.encode() for k in keys], *singles]
    else:
        assert batches[1:] == singles
    assert "cannot read or settle" not in caplog.text
    assert parked_ids(tmp_path / "gateway.db") == {ids[5]}
    good = ids[:5] + ids[6:]
    counts = await event_id_counts(kafka_broker.bootstrap, ["gateway.events.refused"], good)
    assert {counts[i] for i in good} == {1} and counts[ids[5]] == 0


async def test_events_to_a_topic_of_several_partitions_go_to_their_keys_partition_in_order(
        kafka_broker, tmp_path):
    """A topic created with four partitions (by an operator, before the gateway): each event
    goes where Kafka's default partitioner sends its key, and each partition holds its
    events in commit order."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.partitioner import murmur2

    from console.gateway import outbox
    from console.gateway.domains import DomainStore

    topic = "gateway.events.spread"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    store = DomainStore(tmp_path / "gateway.db")
    store.open()
    keys = [f"rec-{i % 7}" for i in range(40)]  # seven keys, each several times
    ids = _enqueue_all(store, "spread", keys)
    relay = outbox.OutboxRelay(store, kafka_broker.bootstrap, poll_s=0.1)
    await relay.start()
    try:
        await async_wait_until(lambda: relay.delivered == len(keys), timeout=30,
                               message="the relay to deliver every event")
    finally:
        await relay.stop()
        store.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: dict[int, list[tuple[str, str]]] = {}
    try:
        while sum(map(len, seen.values())) < len(keys):
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            for tp, records in batch.items():
                seen.setdefault(tp.partition, []).extend(
                    (r.key.decode(), dict(r.headers)["ce_id"].decode()) for r in records)
    finally:
        await consumer.stop()
    assert len(seen) > 1  # the keys spread over partitions
    for partition, events in seen.items():
        assert {(murmur2(k.encode()) & 0x7FFFFFFF) % 4 for k, _ in events} == {partition}
        assert [e for _, e in events] == [i for k, i in zip(keys, ids, strict=True)
                                          if (murmur2(k.encode()) & 0x7FFFFFFF) % 4 == partition]
