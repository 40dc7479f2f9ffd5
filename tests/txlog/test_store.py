"""The transaction log on a real SQLite file: lifecycle, queries, events, crashes, retention."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from console.caller.model import Attempt
from console.txlog import OUTCOMES, TransactionLog
from tests.support.txlog import db_bytes


def result(outcome="committed", status=201, attempts=1, event_id=None, trace_id=None, **extra):
    base = dict(outcome=outcome, status=status, rolled_back=outcome == "rolled_back",
                event_id=event_id, elapsed_ms=12.5, sla_ms=1000, sla_ok=True, request_id="r-1",
                trace_id=trace_id, response_headers={"Content-Type": "application/json"},
                response_body='{"ok": true}', request_headers={"Accept": "application/json"},
                request_body=None, error=None,
                attempts=[Attempt(i + 1, time.time(), 5.0, status) for i in range(attempts)])
    base.update(extra)
    return SimpleNamespace(**base)


def add(log, path="/api/customer", method="POST", action="add-record", outcome="committed", **kw):
    tx = log.begin(method=method, path=path, action=action, url=f"http://gw{path}?action={action}",
                   request_body=kw.pop("body", None))
    log.finish(tx, result(outcome, **kw))
    return tx


def test_pending_row_exists_before_anything_is_sent(txlog):
    tx = txlog.begin(method="post", path="/api/customer", action="add-record",
                     request_headers={"Authorization": "Bearer abc.def.ghi"})
    stored = txlog.get(tx)
    assert stored.outcome == "pending" and stored.method == "POST"
    assert stored.request_headers == {"Authorization": "REDACTED"}


def test_attempts_are_recorded_as_they_end_and_the_outcome_at_the_end(txlog):
    tx = txlog.begin(method="POST", path="/p", action="add-record")
    txlog.record_attempt(tx, Attempt(1, time.time(), 3.0, 503, None, 0.0, "r", {"Retry-After": "0"}))
    assert txlog.get(tx).attempt_count == 1 and txlog.get(tx).outcome == "pending"
    txlog.record_attempt(tx, Attempt(2, time.time(), 4.0, 201))
    txlog.finish(tx, result(attempts=2, event_id="e-1"))
    stored = txlog.get(tx)
    assert [a.status for a in stored.attempts] == [503, 201]
    assert stored.attempts[0].headers == {"Retry-After": "0"}
    assert (stored.outcome, stored.retries, stored.event_id, stored.sla_ok) == ("committed", 1, "e-1", True)


def test_the_attempt_that_ends_a_call_is_stored_with_its_outcome(txlog):
    tx = txlog.begin(method="POST", path="/p", action="add-record", request_body='{"n": "kept"}',
                     request_headers={"Accept": "application/json"})
    txlog.record_attempt(tx, Attempt(1, time.time(), 3.0, 503))
    last = Attempt(2, time.time(), 4.0, 201, None, None, "r-2", {"X-Request-Id": "r-2",
                                                                 "Set-Cookie": "sid=s-55555"})
    txlog.finish(tx, result(attempts=2, request_headers={}), final_attempt=last)
    stored = txlog.get(tx)
    assert [a.status for a in stored.attempts] == [503, 201] and stored.attempt_count == 2
    assert stored.attempts[1].headers == {"X-Request-Id": "r-2", "Set-Cookie": "REDACTED"}
    assert stored.outcome == "committed"
    assert (stored.request_body, stored.request_headers) == ('{"n": "kept"}', {"Accept": "application/json"}), \
        "a result that does not repeat the request keeps what begin stored"


def test_a_final_attempt_with_the_responses_headers_is_redacted_like_them(tmp_path):
    path = tmp_path / "tx.db"
    log = TransactionLog(path, secrets=["opaque-token-xyz"])
    tx = log.begin(method="GET", path="/p", action="check-status")
    headers = {"X-Echo": "opaque-token-xyz", "Set-Cookie": "sid=c-777777", "X-Request-Id": "r-1"}
    log.finish(tx, result("ok", 200, response_headers=headers),
               final_attempt=Attempt(1, time.time(), 2.0, 200, None, None, "r-1", dict(headers)))
    stored = log.get(tx)
    expected = {"X-Echo": "REDACTED", "Set-Cookie": "REDACTED", "X-Request-Id": "r-1"}
    assert stored.response_headers == stored.attempts[0].headers == expected
    log.close()
    data = db_bytes(path)
    assert b"opaque-token-xyz" not in data and b"c-777777" not in data


def test_finish_refuses_an_unknown_outcome(txlog):
    tx = txlog.begin(method="GET", path="/p", action="check-status")
    with pytest.raises(ValueError, match="not one of"):
        txlog.finish(tx, result("maybe"))
    assert "interrupted" in OUTCOMES


def test_filters_text_search_and_keyset_pages_newest_first(txlog):
    ids = [add(txlog, outcome="committed" if i % 3 else "rolled_back", body=f'{{"n": "needle{i}"}}')
           for i in range(25)]
    add(txlog, path="/api/invoice", method="GET", action="check-status", outcome="ok", status=200)
    pages, before = [], None
    while True:
        page = txlog.query(path="/api/customer", limit=10, before=before)
        if not page:
            break
        pages.append([t.id for t in page])
        before = page[-1].id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sum(pages, []) == list(reversed(ids))
    assert txlog.count(outcome="rolled_back") == 9
    assert txlog.count(method="get", action="check-status") == 1
    assert [t.id for t in txlog.query(text="needle7")] == [ids[7]]
    assert txlog.count(text="needle") == 0, "full words only, as FTS5 tokenises"
    assert txlog.count(text='"quoted" (parens) AND-or') == 0, "operator text is never FTS syntax"
    assert txlog.count(outcome=["ok", "rolled_back"]) == 10
    now = time.time()
    assert txlog.count(since=now - 60, until=now + 1) == 26 and txlog.count(until=now - 60) == 0


def test_event_seen_after_the_call_links_both_ways_idempotently(txlog):
    tx = add(txlog, event_id="evt-1", trace_id="t" * 32)
    ended = txlog.get(tx).ended_at
    assert txlog.link_event("evt-1", None, "gateway.events.customer", 0, 7, ended + 0.25) == tx
    assert txlog.link_event("evt-1", None, "gateway.events.customer", 0, 7, ended + 0.25) == tx
    [event] = txlog.get(tx).events
    assert (event.topic, event.offset) == ("gateway.events.customer", 7)
    assert event.delay_ms == pytest.approx(250, abs=1)


def test_event_seen_before_the_call_finished_is_claimed_at_finish(txlog):
    tx = txlog.begin(method="POST", path="/p", action="add-record")
    assert txlog.link_event("evt-9", None, "gateway.events.customer", 1, 3,
                            int(time.time() * 1000)) is None
    txlog.finish(tx, result(event_id="evt-9"))
    [event] = txlog.events_for(tx)
    assert event.event_id == "evt-9" and event.delay_ms is not None


def test_event_with_the_pending_calls_trace_links_at_once_and_gets_its_delay_at_finish(txlog):
    tx = txlog.begin(method="POST", path="/p", action="add-record", trace_id="a" * 32)
    assert txlog.link_event("evt-8", "a" * 32, "t", 0, 1, time.time()) == tx
    assert txlog.events_for(tx)[0].delay_ms is None
    txlog.finish(tx, result(trace_id="a" * 32))
    assert txlog.events_for(tx)[0].delay_ms <= 0


def test_event_matched_by_trace_id(txlog):
    tx = add(txlog, outcome="ok", status=200, trace_id="b" * 32)
    assert txlog.link_event("read-evt", "b" * 32, "t", 0, 0, "2030-01-01T00:00:00Z") == tx


def test_pending_rows_of_a_dead_process_are_marked_interrupted_on_open(tmp_path):
    path = tmp_path / "tx.db"
    child = subprocess.run([sys.executable, "-c", (
        "import sys; from console.txlog import TransactionLog;"
        f"log = TransactionLog({str(path)!r});"
        "print(log.begin(method='POST', path='/p', action='add-record'))")],
        capture_output=True, text=True, check=True)
    tx = child.stdout.strip()
    mine = TransactionLog(path, mark_interrupted=False)
    own = mine.begin(method="GET", path="/p", action="check-status")
    reopened = TransactionLog(path)
    assert reopened.get(tx).outcome == "interrupted"
    assert "ended before the call finished" in reopened.get(tx).error
    assert reopened.get(own).outcome == "pending", "a live process's call is left alone"
    assert reopened.mark_interrupted() == 0


def test_prune_by_age_and_by_count(txlog):
    old = txlog.begin(method="GET", path="/p", action="check-status", started_at=time.time() - 40 * 86400)
    txlog.record_attempt(old, Attempt(1, time.time(), 1.0, 200))
    ids = [add(txlog) for _ in range(5)]
    assert txlog.prune(max_age_days=30) == 1
    assert txlog.get(old) is None and txlog.attempts_for(old) == []
    assert txlog.prune(max_rows=2) == 3
    assert [t.id for t in txlog.query()] == list(reversed(ids[-2:]))


def test_stats_for_the_overview(txlog):
    for ms, outcome in [(10, "committed"), (20, "committed"), (30, "rolled_back"), (400, "ok")]:
        tx = txlog.begin(method="POST", path="/p", action="add-record")
        txlog.finish(tx, result(outcome, elapsed_ms=ms, sla_ok=ms < 300, attempts=2 if ms == 20 else 1))
    stats = txlog.stats(since=time.time() - 60)
    assert stats["calls"] == 4 and stats["outcomes"]["committed"] == 2
    assert stats["p50_ms"] == 20 and stats["p95_ms"] == 400
    assert stats["sla_breaches"] == 1 and stats["retried"] == 1 and stats["rolled_back"] == 1
    assert sum(m["calls"] for m in stats["per_minute"]) == 4


def test_secrets_never_reach_the_file(tmp_path):
    path = tmp_path / "tx.db"
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    log = TransactionLog(path, secrets=["client-secret-123"], redact_keys=["x-partner-key"])
    log.add_secret("opaque-token-xyz")
    tx = log.begin(method="POST", path="/p", action="add-record",
                   url="http://gw/p?action=add-record&client_secret=client-secret-123",
                   request_headers={"Authorization": f"Bearer {token}", "X-Partner-Key": "pk-777777",
                                    "Cookie": "sid=cookie-999999"},
                   request_body=json.dumps({"password": "hunter22", "note": "opaque-token-xyz"}))
    log.record_attempt(tx, Attempt(1, time.time(), 1.0, 500, f"echo {token}", None, None,
                                   {"Set-Cookie": "sid=cookie-999999"}))
    log.finish(tx, result("failed", status=500, response_body=f'{{"access_token": "{token}"}}',
                          error="client-secret-123 rejected"))
    log.close()
    data = db_bytes(path)
    for secret in ["client-secret-123", token, "opaque-token-xyz", "pk-777777", "cookie-999999", "hunter22"]:
        assert secret.encode() not in data, secret


def test_a_token_fetched_after_calls_were_logged_is_redacted_too(tmp_path):
    """The secrets' redaction forms are cached per set: a new token must not hit a stale entry."""
    path = tmp_path / "tx.db"
    log = TransactionLog(path, secrets=["client-secret-123"])
    log.begin(method="GET", path="/p", action="check-status", url="http://gw/p",
              request_body="client-secret-123 before any token")
    log.add_secret("opaque-token-aaa")
    log.add_secret("opaque-token-bbb")
    log.begin(method="GET", path="/p", action="check-status", url="http://gw/p",
              request_headers={"X-Echo": "opaque-token-bbb"},
              request_body=json.dumps({"note": "opaque-token-aaa client-secret-123"}))
    log.close()
    data = db_bytes(path)
    for secret in ["client-secret-123", "opaque-token-aaa", "opaque-token-bbb"]:
        assert secret.encode() not in data, secret


def test_async_callers_use_the_dedicated_thread(txlog):
    import asyncio
    import threading

    async def main():
        names = await asyncio.gather(*[txlog.run(lambda: threading.current_thread().name) for _ in range(5)])
        tx = await txlog.run(txlog.begin, method="GET", path="/p", action="check-status")
        return set(names), tx

    names, tx = asyncio.run(main())
    assert len(names) == 1 and next(iter(names)).startswith("txlog")
    assert txlog.get(tx) is not None


def test_several_writers_share_one_file(tmp_path):
    """The console, `apilog call` and the feed write the same log at once: WAL, no lock errors."""
    import threading

    path = tmp_path / "shared.db"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            log = TransactionLog(path)
            for i in range(40):
                tx = log.begin(method="POST", path="/p", action="add-record", request_body=f"w{n} {i}")
                log.record_attempt(tx, Attempt(1, time.time(), 1.0, 201))
                log.finish(tx, result())
                log.query(limit=5)
            log.close()
        except BaseException as exc:  # collected and reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    log = TransactionLog(path)
    assert log.count(outcome="committed") == 160 and log.count(text="w3") == 40


def test_opening_waits_while_another_opener_holds_a_new_file(tmp_path):
    """Changing to WAL does not wait on SQLite's busy handler: a second process opening a new
    log while the first held it answered "database is locked" at once. It now waits."""
    import sqlite3
    import threading

    path = tmp_path / "new.db"
    first = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")
    first.execute("CREATE TABLE creating_schema (x)")
    release = threading.Timer(0.3, lambda: first.execute("COMMIT"))
    release.start()
    try:
        log = TransactionLog(path)
    finally:
        release.join()
        first.close()
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.close()
