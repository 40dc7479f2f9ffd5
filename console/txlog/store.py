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
- The tables are declared once (:mod:`console.txlog.schema`), versioned and migrated on open;
  a write that fails (disk full) is rolled back whole and raised as :class:`LogWriteFailed`.
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
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from console.caller.model import Attempt
from console.redact import redact_headers, redact_text
from console.txlog import outcomes as oc
from console.txlog.errors import LogWriteFailed, write_failure
from console.txlog.files import private_files
from console.txlog.filters import Filters, build_where
from console.txlog.links import EventLinks, to_epoch
from console.txlog.model import TRANSACTION_FIELDS, EventLink, Transaction, new_transaction_id
from console.txlog.schema import (
    ATTEMPTS,
    ORIGINS,
    TRANSACTIONS,
    create_or_migrate,
    refuse_newer,
    user_version,
)

T = TypeVar("T")
BODY_LIMIT = 256 * 1024
SQLITE_MAX_INT = 2**63 - 1
_TX_COLUMNS = tuple(TRANSACTIONS.columns)
_ATTEMPT_COLUMNS = tuple(ATTEMPTS.columns)
#: How the row builders store a Transaction's fields: text redacted, header maps as JSON, flags as 0/1.
_REDACTED_TEXT = ("url", "request_body", "response_body", "error")
_HEADER_MAPS = ("request_headers", "response_headers")


class TransactionLog(EventLinks):
    """The local transaction log in ``path`` (created with its schema when missing)."""

    def __init__(self, path: str | Path, *, secrets: Iterable[str] = (),
                 redact_keys: Iterable[str] = (), mark_interrupted: bool = True) -> None:
        self.path = Path(path)
        private_files(self.path)
        # Frozen so that redaction finds the secrets' forms in its cache by the set's hash.
        self._secrets: frozenset[str] = frozenset(s for s in secrets if s)
        self._keys = tuple(redact_keys)
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        # Autocommit: every write opens its own BEGIN IMMEDIATE (see _write).
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10,
                               isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        try:
            with self._lock:
                self.db.execute("PRAGMA busy_timeout=10000")
                # Before anything is written: a newer release's log is left exactly as it is.
                refuse_newer(self.path, user_version(self.db))
                _use_wal(self.db.conn)
                self.db.execute("PRAGMA synchronous=NORMAL")
                create_or_migrate(self.db, self._write, self.path)
        except BaseException:
            conn.close()
            raise
        if mark_interrupted:
            # A full disk must not stop the operator reading the log; the rows stay pending
            # and the next open that can write settles them.
            with suppress(LogWriteFailed):
                self.mark_interrupted()

    # -- plumbing -------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Treat ``value`` (a client secret, a fresh token) as a secret from now on."""
        if value:
            with self._lock:
                self._secrets = self._secrets | {value}

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

        SQLite's errors (a full disk above all) leave as :class:`LogWriteFailed`, the write
        rolled back whole. A COMMIT that fails on a full disk leaves the transaction open,
        so it is rolled back too.
        """
        with self._lock:
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self.db.conn.execute("COMMIT")
                except BaseException:
                    if self.db.conn.in_transaction:
                        self.db.conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise LogWriteFailed(write_failure(self.path, exc)) from exc

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

    def _stored(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` (Transaction fields) as the file keeps them: redacted, JSON, 0/1 flags."""
        row = dict(values)
        for column in _REDACTED_TEXT:
            if column in row:
                row[column] = self._text(row[column])
        for column in _HEADER_MAPS:
            if column in row:
                row[column] = self._headers(row[column])
        if "rolled_back" in row:
            row["rolled_back"] = int(bool(row["rolled_back"]))
        if row.get("sla_ok") is not None:
            row["sla_ok"] = int(row["sla_ok"])
        return row

    # -- writing --------------------------------------------------------------------------------

    def begin(self, *, method: str, path: str, action: str, version: str | None = None,
              fmt: str = "json", url: str = "", record_id: str | None = None,
              request_headers: dict[str, str] | None = None,
              request_body: str | bytes | None = None, idempotency_key: str | None = None,
              trace_id: str | None = None, request_id: str | None = None,
              sla_ms: int | None = None, profile: str | None = None,
              started_at: float | None = None, origin: str | None = None) -> str:
        """Write the pending row for a call about to be sent; returns its transaction id.

        ``origin`` says who makes the call (one of :data:`~console.txlog.schema.ORIGINS`).
        Raises :class:`LogWriteFailed` (disk full, …): the call must then not be sent.
        """
        if origin is not None and origin not in ORIGINS:
            raise ValueError(f"origin {origin!r} is not one of {', '.join(ORIGINS)}")
        started_at = time.time() if started_at is None else started_at
        tx_id = new_transaction_id(started_at)
        row = self._stored({
            "id": tx_id, "started_at": started_at, "method": method.upper(), "path": path,
            "action": action, "version": version, "fmt": fmt, "url": url, "record_id": record_id,
            "outcome": oc.PENDING, "request_headers": request_headers, "request_body": request_body,
            "idempotency_key": idempotency_key, "trace_id": trace_id, "request_id": request_id,
            "sla_ms": sla_ms, "profile": profile, "pid": os.getpid(), "host": socket.gethostname(),
            "origin": origin})
        with self._write():
            self.db.execute(_insert_sql("transactions", columns_of=row), list(row.values()))
        return tx_id

    def record_attempt(self, tx_id: str, attempt: Attempt) -> None:
        """Store one attempt as soon as it ends (so a crash keeps the attempts made so far)."""
        row = self._attempt_row(tx_id, attempt)
        with self._write():
            self.db.execute(_insert_sql("attempts", _ATTEMPT_COLUMNS, "OR REPLACE"),
                            _values(row, _ATTEMPT_COLUMNS))
            self.db.execute("UPDATE transactions SET attempt_count = max(attempt_count, ?) WHERE id = ?",
                            [attempt.number, tx_id])

    def finish(self, tx_id: str, result: Any, final_attempt: Attempt | None = None) -> None:
        """Set the outcome and evidence from a ``CallResult`` (or any object with its fields).

        ``final_attempt`` is the attempt that ended the call, when the caller has not stored it
        yet: it goes in with the outcome, in one write transaction instead of two.
        """
        if result.outcome not in oc.FINAL_OUTCOMES:
            raise ValueError(f"outcome {result.outcome!r} is not one of {', '.join(oc.FINAL_OUTCOMES)}")
        ended_at = time.time()
        fields = {"ended_at": ended_at, "outcome": result.outcome, "status": result.status,
                  "rolled_back": result.rolled_back, "event_id": result.event_id,
                  "elapsed_ms": result.elapsed_ms, "sla_ms": result.sla_ms, "sla_ok": result.sla_ok,
                  "request_id": result.request_id, "trace_id": result.trace_id,
                  "response_headers": result.response_headers,
                  "response_body": result.response_body, "error": getattr(result, "error", None),
                  "attempt_count": len(result.attempts)}
        # The request was written by begin(); a result that repeats it may add what begin lacked.
        if result.request_headers:
            fields["request_headers"] = result.request_headers
        if result.request_body is not None:
            fields["request_body"] = result.request_body
        update = self._stored(fields)
        attempt = None
        if final_attempt is not None:
            # The last attempt's headers are the response's (the caller redacted both from one
            # response): redacting them once saves a third of finish's redaction.
            same = final_attempt.headers == result.response_headers
            attempt = _values(self._attempt_row(tx_id, final_attempt,
                                                update["response_headers"] if same else None),
                              _ATTEMPT_COLUMNS)
        with self._write():
            if attempt is not None:
                self.db.execute(_insert_sql("attempts", _ATTEMPT_COLUMNS, "OR REPLACE"), attempt)
            assignments = ", ".join(f"{column} = ?" for column in update)
            self.db.execute(f"UPDATE transactions SET {assignments} WHERE id = ?",
                            [*update.values(), tx_id])
            self._claim_events(tx_id, result.event_id, result.trace_id, ended_at)

    def mark_interrupted(self) -> int:
        """Settle pending rows left by a process on this host that no longer runs; returns how many.

        A write whose process died may have committed at the gateway: the error says so and
        names the Idempotency-Key that makes a retry safe.
        """
        host, me = socket.gethostname(), os.getpid()
        with self._lock:
            rows = self.db.execute("SELECT id, pid, host, idempotency_key FROM transactions "
                                   "WHERE outcome = ?", [oc.PENDING]).fetchall()
            dead = [(tx_id, pid, key) for tx_id, pid, row_host, key in rows
                    if row_host == host and pid != me and not _alive(pid)]
            if not dead:
                return 0
            with self._write():
                for tx_id, pid, key in dead:
                    self.db.execute(
                        "UPDATE transactions SET outcome = ?, error = ? WHERE id = ? AND outcome = ?",
                        [oc.INTERRUPTED, interrupted_reason(f"process {pid} ended before the call "
                                                            f"finished", key), tx_id, oc.PENDING])
        return len(dead)

    def mark_cancelled(self, tx_id: str, reason: str) -> None:
        """This process gave up on a call (Ctrl-C, cancelled task): record it as interrupted."""
        with self._write():
            self.db.execute("UPDATE transactions SET outcome = ?, error = ?, ended_at = ? "
                            "WHERE id = ? AND outcome = ?",
                            [oc.INTERRUPTED, reason, time.time(), tx_id, oc.PENDING])

    def prune(self, max_age_days: float | None = None, max_rows: int | None = None) -> int:
        """Drop transactions older than ``max_age_days`` and beyond the newest ``max_rows``.

        A ``max_rows`` beyond SQLite's integers keeps every row, as any count above the log's does.
        """
        if (max_rows is not None and max_rows < 0) or (max_age_days is not None and not max_age_days >= 0):
            raise ValueError(f"prune keeps max_rows={max_rows!r}, max_age_days={max_age_days!r}: "
                             f"give numbers of 0 or more")
        deleted = 0
        with self._write():
            if max_age_days is not None:
                cutoff = time.time() - max_age_days * 86400
                deleted += self.db.execute("DELETE FROM transactions WHERE started_at < ?", [cutoff]).rowcount
                self.db.execute("DELETE FROM events WHERE tx_id IS NULL AND seen_at < ?", [cutoff])
            if max_rows is not None:
                edge = self.db.execute("SELECT id FROM transactions ORDER BY id DESC LIMIT 1 OFFSET ?",
                                       [min(max_rows, SQLITE_MAX_INT)]).fetchone()
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
        # host stays empty: a bulk-loaded row belongs to no process on this machine.
        return self._stored({column: getattr(tx, column, None) for column in _TX_COLUMNS})

    def _attempt_row(self, tx_id: str, attempt: Attempt, stored_headers: str | None = None) -> dict[str, Any]:
        """``stored_headers``: the attempt's headers already as :meth:`_headers` stores them."""
        return {"tx_id": tx_id, "number": attempt.number, "started_at": attempt.started_at,
                "elapsed_ms": attempt.elapsed_ms, "status": attempt.status,
                "error": self._text(attempt.error), "retry_after_s": attempt.retry_after_s,
                "request_id": attempt.request_id,
                "headers": self._headers(attempt.headers) if stored_headers is None else stored_headers}

    # -- reading --------------------------------------------------------------------------------

    def get(self, tx_id: str) -> Transaction | None:
        """One transaction with its attempts and linked events; None when unknown."""
        with self._lock:
            rows = list(self.db.query("SELECT * FROM transactions WHERE id = ?", [tx_id]))
            if not rows:
                return None
            tx = _transaction(rows[0])
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
              with_attempts: bool = False,
              origin: str | Iterable[str] | None = None) -> list[Transaction]:
        """Transactions matching every filter, newest first; ``before`` is the previous page's last id.

        ``origin`` is who made the call (console, cli, check; older rows have none). ``text`` is a full-text search (every word must appear). Attempts and events are loaded
        only with ``with_attempts`` (list views do not need them; :meth:`get` always does).
        """
        where, args = build_where(Filters(outcome, path, method, action, to_epoch(since),
                                          to_epoch(until), text, before, origin))
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
              text: str | None = None, origin: str | Iterable[str] | None = None) -> int:
        where, args = build_where(Filters(outcome, path, method, action, to_epoch(since),
                                          to_epoch(until), text, None, origin))
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

        start = to_epoch(since) if since is not None else None
        if start is None:
            start = time.time() - 3600
        with self._lock:
            return compute_stats(self.db.conn, start)


def _use_wal(conn: sqlite3.Connection, patience_s: float = 10.0) -> None:
    """Switch the file to WAL (it stays so: the mode is stored in the file).

    Changing the journal mode does not wait on the busy handler: a second process opening a new
    log while the first creates its schema got "database is locked" at once. Once any opener has
    switched, the mode reads back as ``wal`` and nothing needs to change; until then, retry.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


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


def interrupted_reason(why: str, idempotency_key: str | None) -> str:
    """The error of a call whose end the log never saw: with a key, how to retry it safely."""
    if not idempotency_key:
        return why
    return (f"{why}; the gateway may have committed it: check before retrying, and retry with "
            f"the header 'Idempotency-Key: {idempotency_key}' so it is applied once")


def _insert_sql(table: str, columns: tuple[str, ...] = (), conflict: str = "", *,
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
    # Only the dataclass's fields: store-only columns (host), and any a newer release added
    # while this process had the file open, stay in the file.
    data = {name: row[name] for name in TRANSACTION_FIELDS if name in row}
    data["rolled_back"] = bool(data["rolled_back"])
    data["sla_ok"] = None if data["sla_ok"] is None else bool(data["sla_ok"])
    for column in _HEADER_MAPS:
        data[column] = json.loads(data[column] or "{}")
    return Transaction(**data)
