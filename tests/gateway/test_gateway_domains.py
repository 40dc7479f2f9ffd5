"""The domain store on a real SQLite file: one transaction for the change and its outbox row."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.gateway.domains import (
    SCHEMA,
    DeadlineExceeded,
    InjectedFault,
    Intent,
    RolledBack,
    perform,
)
from console.gateway.outbox import enqueue, outbox_counts
from console.gateway.problems import Problem


@pytest.fixture
def conn(tmp_path):
    with closing(sqlite3.connect(tmp_path / "g.db", isolation_level=None)) as connection:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
        yield connection


def emit(conn, result):
    return enqueue(conn, domain="customer", action="add-record", subject=result.subject,
                   data={"record": result.body}, source="test", traceparent=None)


def records(conn):
    return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def test_write_and_event_commit_together(conn):
    result = perform(conn, Intent("customer", "add-record", {"id": "c1", "name": "Ada"}, {}, emit=emit))
    assert result.status == 201 and result.event_id and result.transaction_id
    assert records(conn) == 1 and outbox_counts(conn) == {"pending": 1, "delivered": 0, "parked": 0}


def test_fault_after_write_leaves_neither_record_nor_event(conn):
    with pytest.raises(RolledBack) as caught:
        perform(conn, Intent("customer", "add-record", {"id": "c1"}, {}, emit=emit, fail_after_write=True))
    assert isinstance(caught.value.__cause__, InjectedFault)
    assert records(conn) == 0 and outbox_counts(conn)["pending"] == 0


def test_deadline_passing_inside_the_transaction_rolls_back(conn):
    deadline = time.monotonic() + 0.01

    def slow_emit(conn, result):
        while time.monotonic() <= deadline:  # the write is done; the SLA runs out before COMMIT
            pass
        return emit(conn, result)

    with pytest.raises(RolledBack) as caught:
        perform(conn, Intent("customer", "add-record", {"id": "late"}, {}, emit=slow_emit, deadline=deadline))
    assert caught.value.transaction_id and isinstance(caught.value.__cause__, DeadlineExceeded)
    assert records(conn) == 0 and outbox_counts(conn)["pending"] == 0


def test_work_queued_past_the_deadline_never_starts(conn):
    with pytest.raises(RolledBack) as caught:
        perform(conn, Intent("customer", "add-record", {}, {}, emit=emit, deadline=time.monotonic() - 1))
    assert isinstance(caught.value.__cause__, DeadlineExceeded)
    assert records(conn) == 0


def test_duplicate_id_is_409_and_rolls_back_its_event(conn):
    perform(conn, Intent("customer", "add-record", {"id": "dup"}, {}, emit=emit))
    with pytest.raises(Problem) as caught:
        perform(conn, Intent("customer", "add-record", {"id": "dup"}, {}, emit=emit))
    assert caught.value.status == 409
    assert outbox_counts(conn)["pending"] == 1


def test_export_pages_in_insertion_order(conn):
    for i in range(5):
        perform(conn, Intent("qos", "add-record", {"id": f"r{i}"}, {}))
    perform(conn, Intent("ivr", "add-record", {"id": "other-domain"}, {}))
    seen, cursor = [], None
    while True:
        page = perform(conn, Intent("qos", "export-data", {}, {"limit": "2", **({"cursor": cursor} if cursor else {})}))
        seen += [item["id"] for item in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"r{i}" for i in range(5)]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "abc"}, {"limit": "1001"}, {"cursor": "-1"}])
def test_bad_paging_is_400(conn, query):
    with pytest.raises(Problem) as caught:
        perform(conn, Intent("qos", "export-data", {}, query))
    assert caught.value.status == 400


def test_update_config_is_a_merge_patch(conn):
    perform(conn, Intent("qos", "update-config", {"a": 1, "b": {"x": True}}, {}))
    result = perform(conn, Intent("qos", "update-config", {"a": None, "c": "new"}, {}))
    assert result.body["config"] == {"b": {"x": True}, "c": "new"}


def test_delete_and_status(conn):
    perform(conn, Intent("firewall", "add-record", {"id": "f1"}, {}))
    assert perform(conn, Intent("firewall", "check-status", {}, {"id": "f1"})).body["status"] == "active"
    assert perform(conn, Intent("firewall", "delete-info", {}, {"id": "f1"})).status == 204
    with pytest.raises(Problem) as caught:
        perform(conn, Intent("firewall", "check-status", {}, {"id": "f1"}))
    assert caught.value.status == 404
    assert perform(conn, Intent("firewall", "check-status", {}, {})).body["records"] == 0


@pytest.mark.parametrize("bad", [{"id": {"nested": 1}}, {"id": True}, {"id": "x" * 201}])
def test_invalid_ids_are_400(conn, bad):
    with pytest.raises(Problem) as caught:
        perform(conn, Intent("firewall", "add-record", bad, {}))
    assert caught.value.status == 400


@settings(max_examples=500, deadline=None)
@given(ns=st.integers(min_value=0, max_value=253_402_300_799_999_999_999),  # to 9999-12-31
       again=st.integers(min_value=0, max_value=2_000_000_000))
def test_stamps_are_written_as_isoformat_writes_them_to_the_millisecond(ns, again):
    """Records, events and settled rows are stamped ``2026-12-06T04:14:20.730Z``: the text a
    datetime gives, also for a second the cache already holds and for the next one."""
    from datetime import UTC, datetime, timedelta

    from console.gateway.domains import iso_of_ns

    def expected(n: int) -> str:
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=n // 1000)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    for n in (ns, ns + again, ns):
        if n <= 253_402_300_799_999_999_999:
            assert iso_of_ns(n) == expected(n)


def test_now_is_stamped_in_utc():
    from datetime import UTC, datetime

    from console.gateway.domains import now_iso

    before = datetime.now(UTC)
    stamp = datetime.fromisoformat(now_iso())
    assert stamp.tzinfo is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((stamp - before).total_seconds()) < 5
