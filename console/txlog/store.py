"""The transaction log: one SQLite file (WAL) per operator, written before the first byte leaves.

Why this shape:
- ``begin`` writes a *pending* row before the request is sent, so a crash or SIGKILL mid-call
  still leaves evidence; ``mark_interrupted`` (run on open) settles rows whose process died.
- Ids are ULIDs, so ``ORDER BY id DESC`` is newest first and the last id of a page is the
  keyset cursor for the next (``before=``): pages stay fast at a million rows.
- Every text field goes through :mod:`console.redact` here, whatever the caller already did:
  not one byte of a secret reaches the file.
- One connection guarded by a lock; asyncio code calls through :meth:`TransactionLog.run`,
  which uses one dedicated thread so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from console.caller.model import Attempt
from console.redact import redact_headers, redact_text
from console.txlog import outcomes as oc
from console.txlog.filters import Filters, build_where
from console.txlog.links import EventLinks, to_epoch
from console.txlog.model import EventLink, Transaction, new_transaction_id

T = TypeVar("T")
BODY_LIMIT = 256 * 1024
FTS_COLUMNS = ["method", "path", "action", "url", "record_id", "request_body", "response_body",
               "error", "event_id", "request_id", "trace_id"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL,
    method TEXT NOT NULL, path TEXT NOT NULL, action TEXT NOT NULL, version TEXT,
    fmt TEXT, url TEXT, record_id TEXT, outcome TEXT NOT NULL, status INTEGER,
    attempt_count INTEGER NOT NULL DEFAULT 0, rolled_back INTEGER NOT NULL DEFAULT 0,
    event_id TEXT, trace_id TEXT, request_id TEXT, idempotency_key TEXT,
    elapsed_ms REAL, sla_ms INTEGER, sla_ok INTEGER,
    request_headers TEXT, request_body TEXT, response_headers TEXT, response_body TEXT,
    error TEXT, profile TEXT, pid INTEGER, host TEXT
);
DROP INDEX IF EXISTS tx_started;
-- Time ranges, and every figure of stats() read from the index alone (the overview polls it).
CREATE INDEX IF NOT EXISTS tx_time
    ON transactions(started_at, outcome, elapsed_ms, sla_ok, attempt_count, rolled_back);
CREATE INDEX IF NOT EXISTS tx_outcome ON transactions(outcome, id);
CREATE INDEX IF NOT EXISTS tx_path ON transactions(path, method, action, id);
CREATE INDEX IF NOT EXISTS tx_event ON transactions(event_id);
CREATE INDEX IF NOT EXISTS tx_trace ON transactions(trace_id);
CREATE TABLE IF NOT EXISTS attempts (
    tx_id TEXT NOT NULL, number INTEGER NOT NULL, started_at REAL, elapsed_ms REAL,
    status INTEGER, error TEXT, retry_after_s REAL, request_id TEXT, headers TEXT,
    PRIMARY KEY (tx_id, number)
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, tx_id TEXT, trace_id TEXT, topic TEXT, partition INTEGER,
    "offset" INTEGER, event_time REAL, delay_ms REAL, seen_at REAL
);
CREATE INDEX IF NOT EXISTS ev_tx ON events(tx_id);
CREATE INDEX IF NOT EXISTS ev_trace ON events(trace_id);
"""


class TransactionLog(EventLinks):
    """The local transaction log in ``path`` (created with its schema when missing)."""

    def __init__(self, path: str | Path, *, secrets: Iterable[str] = (),
                 redact_keys: Iterable[str] = (), mark_interrupted: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets: set[str] = {s for s in secrets if s}
        self._keys = tuple(redact_keys)
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        # Autocommit: every write opens its own BEGIN IMMEDIATE (see _write).
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10,
                               isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        with self._lock:
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.conn.executescript(SCHEMA)
            if not self.db["transactions"].detect_fts():
                try:
                    self.db["transactions"].enable_fts(FTS_COLUMNS, create_triggers=True)
                except sqlite3.OperationalError:
                    # Another process created it between our check and our CREATE: fine.
                    if not self.db["transactions"].detect_fts():
                        raise
        if mark_interrupted:
            self.mark_interrupted()

    # -- plumbing -------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Treat ``value`` (a client secret, a fresh token) as a secret from now on."""
        if value:
            with self._lock:
                self._secrets.add(value)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a method of this log on its dedicated thread (for asyncio callers)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="txlog")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction taken with BEGIN IMMEDIATE.

        A deferred transaction that reads and then writes fails at once with "database is
        locked" when another process committed in between (WAL cannot upgrade a stale
        snapshot, and the busy timeout does not apply). IMMEDIATE takes the write lock first,
        waiting up to the busy timeout: several processes can share the log safely.
        """
        with self._lock:
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.conn.execute("ROLLBACK")
                raise
            self.db.conn.execute("COMMIT")

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> TransactionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _text(self, value: str | bytes | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        value = redact_text(value, secrets=self._secrets, keys=self._keys)
        if len(value) > BODY_LIMIT:
            value = value[:BODY_LIMIT] + f"\n[truncated: {len(value) - BODY_LIMIT} more characters]"
        return value

    def _headers(self, headers: dict[str, str] | None) -> str:
        return json.dumps(redact_headers(headers or {}, keys=self._keys, secrets=self._secrets))

    # -- writing --------------------------------------------------------------------------------

    def begin(self, *, method: str, path: str, action: str, version: str | None = None,
              fmt: str = "json", url: str = "", record_id: str | None = None,
              request_headers: dict[str, str] | None = None,
              request_body: str | bytes | None = None, idempotency_key: str | None = None,
              trace_id: str | None = None, request_id: str | None = None,
              sla_ms: int | None = None, profile: str | None = None,
              started_at: float | None = None) -> str:
        """Write the pending row for a call about to be sent; returns its transaction id."""
        started_at = time.time() if started_at is None else started_at
        tx_id = new_transaction_id(started_at)
        row = {"id": tx_id, "started_at": started_at, "method": method.upper(), "path": path,
               "action": action, "version": version, "fmt": fmt, "url": self._text(url),
               "record_id": record_id, "outcome": oc.PENDING,
               "request_headers": self._headers(request_headers),
               "request_body": self._text(request_body), "idempotency_key": idempotency_key,
               "trace_id": trace_id, "request_id": request_id, "sla_ms": sla_ms,
               "profile": profile, "pid": os.getpid(), "host": socket.gethostname()}
        with self._write():
            self.db.execute(_insert_sql("transactions", _TX_COLUMNS, columns_of=row), list(row.values()))
        return tx_id

    def record_attempt(self, tx_id: str, attempt: Attempt) -> None:
        """Store one attempt as soon as it ends (so a crash keeps the attempts made so far)."""
        row = self._attempt_row(tx_id, attempt)
        with self._write():
            self.db.execute(_insert_sql("attempts", _ATTEMPT_COLUMNS, "OR REPLACE"),
                            _values(row, _ATTEMPT_COLUMNS))
            self.db.execute("UPDATE transactions SET attempt_count = max(attempt_count, ?) WHERE id = ?",
                            [attempt.number, tx_id])

    def finish(self, tx_id: str, result: Any) -> None:
        """Set the outcome and evidence from a ``CallResult`` (or any object with its fields)."""
        ended_at = time.time()
        update = {"ended_at": ended_at, "outcome": result.outcome, "status": result.status,
                  "rolled_back": int(bool(result.rolled_back)), "event_id": result.event_id,
                  "elapsed_ms": result.elapsed_ms, "sla_ms": result.sla_ms,
                  "sla_ok": None if result.sla_ok is None else int(result.sla_ok),
                  "request_id": result.request_id, "trace_id": result.trace_id,
                  "response_headers": self._headers(result.response_headers),
                  "response_body": self._text(result.response_body),
                  "error": self._text(getattr(result, "error", None)),
                  "attempt_count": len(result.attempts)}
        # The request was written by begin(); a result that repeats it may add what begin lacked.
        if result.request_headers:
            update["request_headers"] = self._headers(result.request_headers)
        if result.request_body is not None:
            update["request_body"] = self._text(result.request_body)
        if result.outcome not in oc.FINAL_OUTCOMES:
            raise ValueError(f"outcome {result.outcome!r} is not one of {', '.join(oc.FINAL_OUTCOMES)}")
        with self._write():
            assignments = ", ".join(f"{column} = ?" for column in update)
            self.db.execute(f"UPDATE transactions SET {assignments} WHERE id = ?",
                            [*update.values(), tx_id])
            self._claim_events(tx_id, result.event_id, result.trace_id, ended_at)

    def mark_interrupted(self) -> int:
        """Settle pending rows left by a process on this host that no longer runs; returns how many."""
        host, me = socket.gethostname(), os.getpid()
        with self._lock:
            rows = self.db.execute("SELECT id, pid, host FROM transactions WHERE outcome = ?",
                                   [oc.PENDING]).fetchall()
            dead = [(tx_id, pid) for tx_id, pid, row_host in rows
                    if row_host == host and pid != me and not _alive(pid)]
            with self._write():
                for tx_id, pid in dead:
                    self.db.execute(
                        "UPDATE transactions SET outcome = ?, error = ? WHERE id = ? AND outcome = ?",
                        [oc.INTERRUPTED, f"process {pid} ended before the call finished", tx_id, oc.PENDING])
        return len(dead)

    def mark_cancelled(self, tx_id: str, reason: str) -> None:
        """This process gave up on a call (Ctrl-C, cancelled task): record it as interrupted."""
        with self._write():
            self.db.execute("UPDATE transactions SET outcome = ?, error = ?, ended_at = ? "
                            "WHERE id = ? AND outcome = ?",
                            [oc.INTERRUPTED, reason, time.time(), tx_id, oc.PENDING])

    def prune(self, max_age_days: float | None = None, max_rows: int | None = None) -> int:
        """Drop transactions older than ``max_age_days`` and beyond the newest ``max_rows``."""
        deleted = 0
        with self._write():
            if max_age_days is not None:
                cutoff = time.time() - max_age_days * 86400
                deleted += self.db.execute("DELETE FROM transactions WHERE started_at < ?", [cutoff]).rowcount
                self.db.execute("DELETE FROM events WHERE tx_id IS NULL AND seen_at < ?", [cutoff])
            if max_rows is not None:
                edge = self.db.execute("SELECT id FROM transactions ORDER BY id DESC LIMIT 1 OFFSET ?",
                                       [max(0, max_rows)]).fetchone()
                if edge:
                    deleted += self.db.execute("DELETE FROM transactions WHERE id <= ?", [edge[0]]).rowcount
            if deleted:
                self.db.execute("DELETE FROM attempts WHERE tx_id NOT IN (SELECT id FROM transactions)")
                self.db.execute("DELETE FROM events WHERE tx_id IS NOT NULL "
                                "AND tx_id NOT IN (SELECT id FROM transactions)")
        return deleted

    def insert_many(self, transactions: Iterable[Transaction], batch_size: int = 5000) -> int:
        """Bulk-load finished transactions (an import, a merge, a benchmark), redacted like the rest.

        One transaction per batch instead of one per call: this is the fast path, not the
        crash-safe per-call path (:meth:`begin`/:meth:`finish`).
        """
        count = 0
        batch: list[Transaction] = []

        def flush() -> None:
            tx_rows = [_values(self._row(tx), _TX_COLUMNS) for tx in batch]
            attempt_rows = [_values(self._attempt_row(tx.id, a), _ATTEMPT_COLUMNS)
                            for tx in batch for a in tx.attempts]
            with self._write():
                # Plain executemany: sqlite-utils' multi-row INSERT builder costs as much as SQLite.
                self.db.conn.executemany(_insert_sql("transactions", _TX_COLUMNS), tx_rows)
                self.db.conn.executemany(_insert_sql("attempts", _ATTEMPT_COLUMNS, "OR REPLACE"),
                                         attempt_rows)

        for tx in transactions:
            batch.append(tx)
            count += 1
            if len(batch) >= batch_size:
                flush()
                batch = []
        if batch:
            flush()
        return count

    def _row(self, tx: Transaction) -> dict[str, Any]:
        return {"id": tx.id, "started_at": tx.started_at, "ended_at": tx.ended_at,
                "method": tx.method, "path": tx.path, "action": tx.action, "version": tx.version,
                "fmt": tx.fmt, "url": self._text(tx.url), "record_id": tx.record_id,
                "outcome": tx.outcome, "status": tx.status, "attempt_count": tx.attempt_count,
                "rolled_back": int(tx.rolled_back), "event_id": tx.event_id,
                "trace_id": tx.trace_id, "request_id": tx.request_id,
                "idempotency_key": tx.idempotency_key, "elapsed_ms": tx.elapsed_ms,
                "sla_ms": tx.sla_ms, "sla_ok": None if tx.sla_ok is None else int(tx.sla_ok),
                "request_headers": self._headers(tx.request_headers),
                "request_body": self._text(tx.request_body),
                "response_headers": self._headers(tx.response_headers),
                "response_body": self._text(tx.response_body), "error": self._text(tx.error),
                "profile": tx.profile, "pid": tx.pid, "host": None}

    def _attempt_row(self, tx_id: str, attempt: Attempt) -> dict[str, Any]:
        return {"tx_id": tx_id, "number": attempt.number, "started_at": attempt.started_at,
                "elapsed_ms": attempt.elapsed_ms, "status": attempt.status,
                "error": self._text(attempt.error), "retry_after_s": attempt.retry_after_s,
                "request_id": attempt.request_id, "headers": self._headers(attempt.headers)}

    # -- reading --------------------------------------------------------------------------------

    def get(self, tx_id: str) -> Transaction | None:
        """One transaction with its attempts and linked events; None when unknown."""
        with self._lock:
            row = self.db.execute("SELECT * FROM transactions WHERE id = ?", [tx_id]).fetchone()
            if row is None:
                return None
            columns = [d[0] for d in self.db.conn.execute("SELECT * FROM transactions LIMIT 0").description]
            tx = _transaction(dict(zip(columns, row, strict=True)))
            tx.attempts = self.attempts_for(tx_id)
            tx.events = self.events_for(tx_id)
        return tx

    def attempts_for(self, tx_id: str) -> list[Attempt]:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM attempts WHERE tx_id = ? ORDER BY number", [tx_id]))
        return [_attempt(r) for r in rows]

    def query(self, *, outcome: str | Iterable[str] | None = None, path: str | None = None,
              method: str | None = None, action: str | None = None,
              since: datetime | float | None = None, until: datetime | float | None = None,
              text: str | None = None, limit: int = 50, before: str | None = None,
              with_attempts: bool = False) -> list[Transaction]:
        """Transactions matching every filter, newest first; ``before`` is the previous page's last id.

        ``text`` is a full-text search (every word must appear). Attempts and events are loaded
        only with ``with_attempts`` (list views do not need them; :meth:`get` always does).
        """
        where, args = build_where(Filters(outcome, path, method, action, to_epoch(since),
                                          to_epoch(until), text, before))
        sql = f"SELECT * FROM transactions {where} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = [_transaction(r) for r in self.db.query(sql, [*args, limit])]
            if with_attempts:
                self._attach_details(rows)
        return rows

    def _attach_details(self, rows: list[Transaction]) -> None:
        """Attempts and events for a whole page in two queries (exports read a million rows)."""
        by_id = {tx.id: tx for tx in rows}
        if not by_id:
            return
        marks = ", ".join("?" * len(by_id))
        for r in self.db.query(f"SELECT * FROM attempts WHERE tx_id IN ({marks}) ORDER BY tx_id, number",
                               list(by_id)):
            by_id[r["tx_id"]].attempts.append(_attempt(r))
        for r in self.db.query('SELECT event_id, tx_id, trace_id, topic, partition, "offset", '
                               f"event_time, delay_ms FROM events WHERE tx_id IN ({marks}) "
                               "ORDER BY event_time", list(by_id)):
            by_id[r["tx_id"]].events.append(EventLink(**r))

    def count(self, *, outcome: str | Iterable[str] | None = None, path: str | None = None,
              method: str | None = None, action: str | None = None,
              since: datetime | float | None = None, until: datetime | float | None = None,
              text: str | None = None) -> int:
        where, args = build_where(Filters(outcome, path, method, action, to_epoch(since),
                                          to_epoch(until), text, None))
        with self._lock:
            return self.db.execute(f"SELECT count(*) FROM transactions {where}", args).fetchone()[0]

    def iter_all(self, batch: int = 1000, *, with_attempts: bool = True,
                 **filters: Any) -> Iterator[Transaction]:
        """Every matching transaction (with its attempts), newest first, read a page at a time."""
        before = None
        while True:
            page = self.query(limit=batch, before=before, with_attempts=with_attempts, **filters)
            yield from page
            if len(page) < batch:
                return
            before = page[-1].id

    def stats(self, since: datetime | float | None = None) -> dict[str, Any]:
        """Figures for the overview screen over calls started since ``since`` (default: last hour)."""
        from console.txlog.stats import compute_stats

        start = to_epoch(since) if since is not None else time.time() - 3600
        with self._lock:
            return compute_stats(self.db.conn, start)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TX_COLUMNS = ("id", "started_at", "ended_at", "method", "path", "action", "version", "fmt", "url",
               "record_id", "outcome", "status", "attempt_count", "rolled_back", "event_id",
               "trace_id", "request_id", "idempotency_key", "elapsed_ms", "sla_ms", "sla_ok",
               "request_headers", "request_body", "response_headers", "response_body", "error",
               "profile", "pid", "host")
_ATTEMPT_COLUMNS = ("tx_id", "number", "started_at", "elapsed_ms", "status", "error",
                    "retry_after_s", "request_id", "headers")


def _insert_sql(table: str, columns: tuple[str, ...], conflict: str = "", *,
                columns_of: dict[str, Any] | None = None) -> str:
    """``INSERT`` naming ``columns`` (or the keys of ``columns_of``, for a partial row)."""
    names = tuple(columns_of) if columns_of is not None else columns
    return (f"INSERT {conflict} INTO {table} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})")


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


def _attempt(r: dict[str, Any]) -> Attempt:
    return Attempt(number=r["number"], started_at=r["started_at"], elapsed_ms=r["elapsed_ms"],
                   status=r["status"], error=r["error"], retry_after_s=r["retry_after_s"],
                   request_id=r["request_id"], headers=json.loads(r["headers"] or "{}"))


def _transaction(row: dict[str, Any]) -> Transaction:
    data = dict(row)
    data.pop("host", None)
    data["rolled_back"] = bool(data["rolled_back"])
    data["sla_ok"] = None if data["sla_ok"] is None else bool(data["sla_ok"])
    data["request_headers"] = json.loads(data["request_headers"] or "{}")
    data["response_headers"] = json.loads(data["response_headers"] or "{}")
    return Transaction(**data)
