"""The outbox and idempotency tables on a real SQLite file, without a broker (fast tier)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from console.gateway.domains import DomainStore, connect
from console.gateway.idempotency import Bounds, StoredResponse, fingerprint, lookup, remember
from console.gateway.outbox import (
    _pending,
    _settle,
    enqueue,
    event_bytes,
    outbox_counts,
    parked_rows,
    redrive,
)
from console.gateway.problems import Problem

DATA = {"blob": "x" * 5000}
DEFAULT_BOUNDS = Bounds()


@pytest.fixture
def conn(tmp_path):
    with closing(connect(tmp_path / "gateway.db")) as conn:
        yield conn


def _enqueue(conn, data=DATA, max_bytes=None, domain="firewall"):
    return enqueue(conn, domain=domain, action="add-record", subject="r1", data=data,
                   source="http://gw/x", traceparent=None, max_bytes=max_bytes)


async def test_the_event_limit_agrees_with_the_producers_max_request_size(conn):
    _enqueue(conn)
    row = conn.execute("SELECT key, headers, value FROM outbox").fetchone()
    record = (row["key"].encode(), row["value"], [(k, v.encode()) for k, v in json.loads(row["headers"]).items()])
    size = event_bytes(*record)
    AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", max_request_size=size)._serialize(*record)
    with pytest.raises(MessageSizeTooLargeError):
        AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", max_request_size=size - 1)._serialize(*record)
    _enqueue(conn, max_bytes=size)  # at the limit: committed, and the producer takes it
    with pytest.raises(Problem) as refused:
        _enqueue(conn, max_bytes=size - 1)
    assert refused.value.status == 413 and refused.value.extensions["event_bytes"] == size
    assert f"limit of {size - 1} bytes" in refused.value.detail
    assert outbox_counts(conn) == {"pending": 2, "delivered": 0, "parked": 0}


def test_a_batch_is_bounded_by_bytes_but_always_holds_one_row(conn):
    for _ in range(5):
        _enqueue(conn)
    assert len(_pending(conn, 500, 12_000)) == 2  # each row is ~5.3 KB
    assert len(_pending(conn, 500, 100)) == 1
    assert len(_pending(conn, 3, 10**9)) == 3


def test_parked_rows_leave_the_queue_and_redrive_puts_back_the_chosen_ones(conn):
    ids = [_enqueue(conn) for _ in range(4)]
    seqs = [r[0] for r in _pending(conn, 500, 10**9)]
    _settle(conn, [seqs[0]], [(seqs[1], "MessageSizeTooLargeError: big"), (seqs[2], "bad headers")])
    assert [r[1] for r in _pending(conn, 500, 10**9)] == [ids[3]]
    assert outbox_counts(conn) == {"pending": 1, "delivered": 1, "parked": 2}
    assert [(r["event_id"], r["error"]) for r in parked_rows(conn)] == [
        (ids[1], "MessageSizeTooLargeError: big"), (ids[2], "bad headers")]
    assert [r["event_id"] for r in redrive(conn, [ids[2]])] == [ids[2]]
    assert [r[1] for r in _pending(conn, 500, 10**9)] == [ids[2], ids[3]]  # in its old place
    assert [r["event_id"] for r in parked_rows(conn)] == [ids[1]]


def test_a_database_from_before_parking_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old:
        old.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL "
                    "UNIQUE, topic TEXT NOT NULL, key TEXT, headers TEXT NOT NULL, value BLOB NOT NULL, "
                    "created_at TEXT NOT NULL, delivered_at TEXT)")
        old.execute("INSERT INTO outbox (event_id, topic, headers, value, created_at) "
                    "VALUES ('e1', 'gateway.events.x', '{}', x'00', 'then')")
        old.commit()
    with closing(connect(path)) as conn:
        assert outbox_counts(conn) == {"pending": 1, "delivered": 0, "parked": 0}


def test_the_fingerprint_sees_the_whole_query_in_any_order():
    def print_(query, version="v2", body=b"{}"):
        return fingerprint("POST", version, "/v2/customer/update", query, body)

    base = print_("action=add-record&id=A")
    assert print_("id=A&action=add-record") == base
    assert print_("action=add-record&id=B") != base
    assert print_("action=add-record&id=A&id=A") != base
    assert print_("action=add-record&id=A", version="v1") != base
    assert print_("action=add-record&id=A", body=b'{"a":1}') != base


def _remember(conn, scope, body=b"{}", bounds=DEFAULT_BOUNDS, now=1000.0):
    conn.execute("BEGIN IMMEDIATE")
    remember(conn, scope, "fp", StoredResponse(201, [("content-type", "application/json")], body), bounds, now)
    conn.execute("COMMIT")


def _scopes(conn):
    return [r[0] for r in conn.execute("SELECT scope FROM idempotency ORDER BY created_at")]


def test_a_key_rolled_back_with_its_write_is_gone(conn):
    conn.execute("BEGIN IMMEDIATE")
    remember(conn, "k", "fp", StoredResponse(201, [], b"{}"), Bounds(), 1000.0)
    conn.execute("ROLLBACK")
    assert lookup(conn, "k", "fp", 3600, 1000.0) is None
    assert tuple(conn.execute("SELECT keys, bytes FROM idempotency_totals").fetchone()) == (0, 0)


def test_replays_count_attempts_and_another_request_is_422(conn):
    _remember(conn, "k")
    assert lookup(conn, "k", "fp", 3600, 1001.0).attempts == 2
    assert lookup(conn, "k", "fp", 3600, 1002.0).attempts == 3
    with pytest.raises(Problem) as reused:
        lookup(conn, "k", "other", 3600, 1003.0)
    assert reused.value.status == 422


def test_bounds_drop_the_oldest_keys_and_keep_the_newest(conn):
    for i in range(5):
        _remember(conn, f"c{i}", bounds=Bounds(max_keys=3), now=1000.0 + i)
    assert _scopes(conn) == ["c2", "c3", "c4"]
    _remember(conn, "big", body=b"x" * 5000, bounds=Bounds(max_bytes=1000), now=2000.0)
    assert _scopes(conn) == ["big"]  # alone over the byte bound, the newest key still stays
    _remember(conn, "young", bounds=Bounds(ttl_s=10), now=2011.0)
    assert _scopes(conn) == ["young"]
    assert lookup(conn, "young", "fp", 10, 2022.0) is None  # past its age: a new request
    totals = tuple(conn.execute("SELECT keys, bytes FROM idempotency_totals").fetchone())
    assert totals == tuple(conn.execute("SELECT COUNT(*), SUM(size) FROM idempotency").fetchone())


def test_a_row_failing_alone_while_others_go_through_is_parked_after_strikes(tmp_path):
    from aiokafka.errors import KafkaTimeoutError

    from console.gateway.outbox import STRIKES, CycleOutcome, OutboxRelay

    relay = OutboxRelay(DomainStore(tmp_path / "g.db"), None)
    broker_down = CycleOutcome(retry_error=KafkaTimeoutError(), failed={7: KafkaTimeoutError()})
    for _ in range(STRIKES * 2):  # nothing went through: the broker's fault, not the row's
        relay._strike(broker_down)
    assert broker_down.parked == []
    outcomes = [CycleOutcome(delivered=[8 + i], failed={7: KafkaTimeoutError("stuck")}) for i in range(STRIKES)]
    for outcome in outcomes:
        relay._strike(outcome)
    assert [o.parked for o in outcomes[:-1]] == [[]] * (STRIKES - 1)
    assert outcomes[-1].parked[0][0] == 7 and "while other events went through" in outcomes[-1].parked[0][1]
    assert relay._strikes == {}


def test_events_are_partitioned_by_key_as_kafkas_default_partitioner_does():
    from aiokafka.partitioner import murmur2

    from console.gateway.outbox import partition_for

    partitions = [0, 1, 2, 3]
    for key in (b"rec-1", b"rec-2", b"0c6f1b2e-8a7c-4c8e-9a5e-3f6c2d1b0a9e"):
        assert partition_for(key, partitions, partitions) == (murmur2(key) & 0x7FFFFFFF) % 4
        assert partition_for(key, [0], [0]) == 0
