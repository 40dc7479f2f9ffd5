"""The schema declared once, its version, and a log written by an older release kept working."""

from __future__ import annotations

import gzip
import socket
import sqlite3
import time
import types
import typing
from pathlib import Path

import pytest

from console.caller.model import Attempt
from console.txlog import LogUnavailable, Transaction, TransactionLog, open_log
from console.txlog.model import TRANSACTION_FIELDS
from console.txlog.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STORE_ONLY_COLUMNS,
    TABLES,
    TRANSACTIONS,
)
from tests.txlog.test_store import result

DATA = Path(__file__).parent / "data"
SQL_TYPES = {str: "TEXT", float: "REAL", int: "INTEGER", bool: "INTEGER", dict: "TEXT"}


def old_log(tmp_path: Path, version: int = 0) -> Path:
    """A log an older release wrote (see data/README.md), at schema ``version``, as a fresh copy."""
    path = tmp_path / f"old-v{version}" / "transactions.db"
    path.parent.mkdir()
    path.write_bytes(gzip.decompress((DATA / f"v{version}_transactions.db.gz").read_bytes()))
    # Its pending row was left by a dead process on the machine that made the file; make that
    # machine this one, so opening it settles the row as it would for the operator.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE transactions SET host = ? WHERE outcome = 'pending'", [socket.gethostname()])
    conn.close()
    return path


def schema_of(path: Path) -> dict[str, object]:
    """Columns, keys, defaults, indexes and triggers as SQLite reports them (not as spelled)."""
    conn = sqlite3.connect(path)
    try:
        shape: dict[str, object] = {}
        for table in [*(t.name for t in TABLES), "transactions_fts"]:
            shape[table] = conn.execute(f"PRAGMA table_info({table})").fetchall()
            shape[f"{table} indexes"] = sorted(
                (name, unique, tuple(c[2] for c in conn.execute(f"PRAGMA index_info({name})")))
                for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})"))
        shape["triggers"] = sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        return shape
    finally:
        conn.close()


def test_the_transaction_dataclass_and_the_declared_columns_agree():
    hints = typing.get_type_hints(Transaction)
    assert set(TRANSACTION_FIELDS) == set(TRANSACTIONS.columns) - STORE_ONLY_COLUMNS
    for name in TRANSACTION_FIELDS:
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        python_type = typing.get_origin(args[0] if optional else hint) or (args[0] if optional else hint)
        assert SQL_TYPES[python_type] == TRANSACTIONS.columns[name], name
        if name in TRANSACTIONS.not_null:
            assert not optional, f"{name} is NOT NULL in the file but may be None on Transaction"


def test_a_new_log_is_stamped_with_the_schema_version(tmp_path):
    path = tmp_path / "new.db"
    TransactionLog(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == MIGRATIONS[-1].version
    assert [c[1] for c in conn.execute("PRAGMA table_info(transactions)")] == list(TRANSACTIONS.columns)
    conn.close()


def test_a_log_from_the_previous_release_is_migrated_and_keeps_working(tmp_path):
    path = old_log(tmp_path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0
    with open_log(path) as log:
        old = log.query(limit=10)
        assert [t.outcome for t in old] == ["interrupted", "rolled_back", "ok", "committed"]
        assert all(t.origin is None for t in old)
        patch, _, _, post = old
        assert "Idempotency-Key: \"key-4\"" in patch.error, "the interrupted write says how to retry it"
        post = log.get(post.id)
        assert [a.status for a in post.attempts] == [503, 201]
        assert [e.event_id for e in post.events] == ["evt-old-1"]
        assert post.request_headers == {"Authorization": "REDACTED"}
        assert "old-secret-value" not in post.request_body
        assert [t.id for t in log.query(text="needle")] == [post.id], "the old full-text index still answers"

        tx = log.begin(method="POST", path="/customer/update", action="add-record", origin="cli",
                       request_body='{"name": "needle-new"}')
        log.record_attempt(tx, Attempt(1, time.time(), 3.0, 201))
        log.finish(tx, result(event_id="evt-new"))
        assert log.link_event("evt-new", None, "apilog.events", 0, 9, time.time()) == tx
        assert [t.id for t in log.query(origin="cli")] == [tx]
        assert log.count(origin=["cli", "console"]) == 1 and log.count() == 5
        assert log.get(tx).origin == "cli" and log.count(text="needle") == 2
    with open_log(path) as log:  # a second open finds nothing to migrate
        assert log.count() == 5
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("version", [0, 1])
def test_a_migrated_log_has_the_same_schema_as_a_new_one(tmp_path, version):
    migrated = old_log(tmp_path, version)
    TransactionLog(migrated).close()
    fresh = tmp_path / "fresh.db"
    TransactionLog(fresh).close()
    assert schema_of(migrated) == schema_of(fresh)


def full_text_index(path: Path) -> list[tuple[int, bytes]]:
    """The FTS5 index's stored blocks: any write to the index changes them."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, block FROM transactions_fts_data ORDER BY id").fetchall()
    finally:
        conn.close()


def index_is_sound(log: TransactionLog) -> None:
    # FTS5 checks its index against the content table; a stale or doubled entry fails here.
    log.db.conn.execute("INSERT INTO transactions_fts (transactions_fts, rank) VALUES ('integrity-check', 1)")


def test_a_log_from_the_release_before_the_index_fix_migrates_and_its_text_is_still_found(tmp_path):
    path = old_log(tmp_path, 1)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    with open_log(path) as log:
        old_post = log.query(text="needle")
        assert [t.path for t in old_post] == ["/customer/update"], "text written before the upgrade"
        tx = log.begin(method="PUT", path="/customer/update", action="add-record",
                       request_body='{"name": "needle-after"}')
        before = full_text_index(path)
        log.record_attempt(tx, Attempt(1, time.time(), 3.0, 201))
        assert full_text_index(path) == before, "counting an attempt re-indexed the row"
        log.finish(tx, result(response_body='{"said": "upgradeword"}'))
        assert [t.id for t in log.query(text="upgradeword")] == [tx]
        assert [t.id for t in log.query(text="needle")] == [tx, old_post[0].id]
        index_is_sound(log)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_every_write_keeps_the_full_text_index_in_step_with_the_rows(tmp_path):
    path = tmp_path / "t.db"
    with TransactionLog(path) as log:
        pending = log.begin(method="POST", path="/p", action="add-record", request_body="alphaword")
        assert [t.id for t in log.query(text="alphaword")] == [pending], "a call under way is found"
        before = full_text_index(path)
        log.record_attempt(pending, Attempt(1, time.time(), 3.0, 503))
        log.record_attempt(pending, Attempt(2, time.time(), 3.0, 201))
        assert full_text_index(path) == before, "counting attempts re-indexed the row"
        log.finish(pending, result(response_body='{"said": "bravoword"}', error="charlieword"))
        assert full_text_index(path) != before, "the outcome's text was not indexed"
        cancelled = log.begin(method="DELETE", path="/p", action="delete-info", request_body="deltaword")
        log.mark_cancelled(cancelled, "call abandoned: echoword")
        for word, expected in (("alphaword", [pending]), ("bravoword", [pending]),
                               ("charlieword", [pending]), ("deltaword", [cancelled]),
                               ("echoword", [cancelled])):
            assert [t.id for t in log.query(text=word)] == expected, word
        index_is_sound(log)
        log.prune(max_rows=0)
        assert log.count(text="alphaword") == 0
        index_is_sound(log)


def test_a_log_from_a_newer_apilog_is_refused_in_one_line_and_left_as_it_is(tmp_path):
    path = tmp_path / "newer.db"
    with TransactionLog(path) as log:
        log.begin(method="GET", path="/p", action="check-status")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(LogUnavailable) as refused:
        open_log(path)
    message = str(refused.value)
    assert "written by a newer apilog" in message and message.endswith("upgrade apilog")
    assert "\n" not in message and str(path) in message
    assert path.read_bytes() == before


def test_two_openers_of_an_old_log_at_once_migrate_it_once(tmp_path, monkeypatch):
    import threading

    from console.txlog import schema

    path = old_log(tmp_path)
    reads: list[int] = []
    real_user_version = schema.user_version

    def counted(db):
        reads.append(1)
        return real_user_version(db)

    monkeypatch.setattr(schema, "user_version", counted)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # both openers read version 0, then wait for this lock
    opened: list[object] = []

    def open_one() -> None:
        try:
            open_log(path).close()
            opened.append("ok")
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            opened.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(reads) < 2:  # each opener has read the version it would migrate from
        assert time.monotonic() < deadline, "the openers did not read the version"
        time.sleep(0.01)
    holder.execute("ROLLBACK")
    holder.close()
    for thread in threads:
        thread.join(timeout=30)
    assert opened == ["ok", "ok"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [c[1] for c in conn.execute("PRAGMA table_info(transactions)")].count("origin") == 1
    conn.close()
