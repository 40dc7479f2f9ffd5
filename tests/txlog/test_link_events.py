"""``link_events``: a batch linked in one transaction ends exactly as linking one by one does."""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import UTC, datetime

import pytest

from console.txlog import EventSeen, LogWriteFailed, TransactionLog
from tests.txlog.test_store import add


def events_table(log: TransactionLog) -> list[tuple]:
    """Every stored link, without seen_at (the clock at linking time): times exactly, as a
    batch binds them and reads the calls' end times back as text in JSON."""
    with log._lock:
        return log.db.execute('SELECT event_id, tx_id, trace_id, topic, partition, "offset", '
                              "event_time, delay_ms FROM events "
                              "ORDER BY event_id").fetchall()


@pytest.fixture
def twin_logs(tmp_path):
    """Two copies of one log: calls finished, one pending, events linked and unlinked already."""
    path = tmp_path / "a.db"
    with TransactionLog(path) as log:
        add(log, event_id="evt-1", trace_id="1" * 32)
        add(log, trace_id="2" * 32)
        newer_same_trace = add(log, trace_id="2" * 32)
        log.begin(method="POST", path="/p", action="add-record", trace_id="3" * 32)
        add(log, event_id="evt-5")
        log.link_event("evt-5", None, "t", 0, 1, time.time())           # linked already
        log.link_event("evt-early", None, "t", 0, 2, time.time())       # seen, nothing matched yet
        log.db.execute("UPDATE transactions SET event_id = 'evt-early' WHERE id = ?", [newer_same_trace])
    shutil.copy(path, tmp_path / "b.db")
    one, batch = TransactionLog(path), TransactionLog(tmp_path / "b.db")
    yield one, batch
    one.close()
    batch.close()


def test_a_batch_links_as_one_by_one_does(twin_logs):
    one, batch = twin_logs
    now = time.time()
    seen = [
        EventSeen("evt-1", None, "t", 0, 10, now),                           # by event id
        EventSeen("evt-2", "2" * 32, "t", 0, 11, int(now * 1000)),           # by trace: the newest call
        EventSeen("evt-3", "3" * 32, "t", 1, 12, datetime.now(UTC)),         # the pending call's trace
        EventSeen("evt-4", "9" * 32, "t", 1, 13, "2030-01-01T00:00:00Z"),    # nothing matches
        EventSeen("evt-5", None, "t", 0, 1, now),                            # linked before
        EventSeen("evt-early", None, "t", 0, 2, now),                        # matched now
        EventSeen("evt-2", "2" * 32, "t", 0, 11, int(now * 1000)),           # the feed's redelivery
        ("evt-6", None, None, None, None, None),                              # a bare tuple, no time
    ]
    expected = [one.link_event(*e) for e in seen]
    assert batch.link_events(seen) == expected
    assert events_table(batch) == events_table(one)
    assert expected[3] is None and expected[0] and expected[1] != expected[0]
    assert batch.link_events([]) == []


@pytest.mark.parametrize("redelivered", [False, True], ids=["each id once", "an id twice"])
def test_with_no_call_under_way_a_batch_still_links_as_one_by_one_does(twin_logs, redelivered):
    """No call under way: a batch looks only at the events its lookups found (an id twice
    in it: at every event), and ends as linking one by one does."""
    one, batch = twin_logs
    for log in twin_logs:
        with log._lock:
            log.db.execute("UPDATE transactions SET outcome = 'committed' WHERE outcome = 'pending'")
    now = time.time()
    for log in twin_logs:
        log.link_event("evt-7", "2" * 32, "t", 0, 3, now)  # linked by its trace, earlier
    seen = [EventSeen("evt-1", None, "t", 0, 10, now),                 # by event id
            EventSeen("evt-2", "2" * 32, "t", 0, 11, now),             # by trace id
            EventSeen("evt-3", "3" * 32, "t", 1, 12, now),             # the finished call's trace
            EventSeen("evt-4", "9" * 32, "t", 1, 13, now),             # nothing matches
            EventSeen("evt-5", None, "t", 0, 1, now),                  # linked before
            EventSeen("evt-early", None, "t", 0, 2, now),              # seen before, matched now
            EventSeen("evt-7", None, "t", 0, 3, now)]                  # linked before, by trace
    if redelivered:
        seen.append(EventSeen("evt-2", None, "t", 0, 11, now))         # its trace not repeated
    expected = [one.link_event(*e) for e in seen]
    assert batch.link_events(seen) == expected
    assert events_table(batch) == events_table(one)
    assert expected[3] is None and all(expected[:3]) and all(expected[4:])


def test_a_batch_is_one_write_transaction(twin_logs):
    _, batch = twin_logs
    statements: list[str] = []
    batch.db.conn.set_trace_callback(statements.append)
    batch.link_events([EventSeen(f"bulk-{i}", None, "t", 0, i, time.time()) for i in range(1200)])
    batch.db.conn.set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert len(events_table(batch)) == 1200 + 2


def test_a_batch_that_does_not_fit_links_nothing(twin_logs):
    _, batch = twin_logs
    before = events_table(batch)
    with batch._lock:
        pages = batch.db.execute("PRAGMA page_count").fetchone()[0]
        batch.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(LogWriteFailed, match="is full"):
        batch.link_events([EventSeen(f"evt-{i:05d}-{'x' * 200}", None, "t", 0, i, None) for i in range(500)])
    assert events_table(batch) == before


def test_an_unmatched_event_is_kept_only_while_a_call_could_still_claim_it(tmp_path):
    """Only a call still under way can claim an event later (finish): reading a topic's
    history with no call under way, the log gains no rows for other operators' events."""
    from tests.txlog.test_store import result

    with TransactionLog(tmp_path / "tx.db") as log:
        done = add(log, event_id="evt-done")
        now = time.time()
        answers = log.link_events([EventSeen("evt-done", None, "t", 0, 1, now),
                                   EventSeen("other-1", None, "t", 0, 2, now)])
        assert answers == [done, None] and not answers.claimable  # no call can claim other-1
        assert log.link_event("other-2", None, "t", 0, 3, now) is None
        assert [row[:2] for row in events_table(log)] == [("evt-done", done)]

        under_way = log.begin(method="POST", path="/p", action="add-record")
        answers = log.link_events([EventSeen("evt-early", None, "t", 0, 4, now)])
        assert answers == [None] and answers.claimable  # the call under way may claim it
        assert log.link_event("evt-early-2", None, "t", 0, 5, now) is None
        log.finish(under_way, result(event_id="evt-early"))
        assert [e.event_id for e in log.events_for(under_way)] == ["evt-early"]
        assert {row[0] for row in events_table(log)} == {"evt-done", "evt-early", "evt-early-2"}


def test_an_event_id_with_a_nul_in_it_is_stored_whole_and_touches_no_other_link(tmp_path):
    """SQLite's JSON functions end a text at NUL: a batch written or looked up through them must
    not store "evt-1\0x" as "evt-1", which would take over that event's row and unlink it."""
    with TransactionLog(tmp_path / "tx.db") as log:
        done = add(log, event_id="evt-1")
        now = time.time()
        assert log.link_events([EventSeen("evt-1", None, "t", 0, 1, now)]) == [done]
        log.begin(method="POST", path="/p", action="add-record")  # unmatched events are kept
        assert log.link_events([EventSeen("evt-1\x00x", None, "t", 0, 2, now),
                                EventSeen("evt-2", None, "t", 0, 3, now)]) == [None, None]
        assert [e.event_id for e in log.events_for(done)] == ["evt-1"]
        assert [row[:2] for row in events_table(log)] == [
            ("evt-1", done), ("evt-1\x00x", None), ("evt-2", None)]


@pytest.mark.parametrize("variable_limit", [None, 999], ids=["sqlite-now", "sqlite-before-3.32"])
def test_a_batch_of_hundreds_with_repeats_links_as_one_by_one_does(twin_logs, variable_limit):
    """Rows go to SQLite a power of two to a statement: 237 events (128 + 64 + 32 + 8 + 4 + 1,
    or 3 × 64 + 32 + … under the old limit of 999 bound values, with repeats in the same
    statement and across two) end exactly as linking each in turn."""
    one, batch = twin_logs  # a call is under way there: every event is kept
    if variable_limit:
        batch.db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)
    now = time.time()
    seen = [EventSeen(f"evt-n{i}", None, "t", 0, 100 + i, now + i) for i in range(230)]
    seen[150] = EventSeen("evt-1", None, "t", 0, 250, now)                # by event id
    seen += [seen[3], seen[150], seen[229], EventSeen("evt-2", "2" * 32, "t", 0, 400, now),
             seen[42], seen[99], seen[100]]                                 # repeats, one match by trace
    assert len(seen) == 237
    expected = [one.link_event(*e) for e in seen]
    assert batch.link_events(seen) == expected
    assert events_table(batch) == events_table(one)
    assert len(events_table(batch)) == 230 + 1 + 2  # the fixture's two, evt-1, evt-2
