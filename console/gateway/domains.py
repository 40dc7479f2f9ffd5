"""The seven domains in the gateway's own SQLite database, and the five actions on them.

One connection on one dedicated thread: SQLite in WAL mode is fast and never "locked" that way,
and the asyncio loop never blocks on a write. A write and its outbox row are one unit
(:func:`perform`), so a failure after the write — real or injected by ``X-Fault-After-Write`` —
leaves neither the change nor the event behind.

Group commit: the actions that queued up while the thread was busy run in ONE transaction, each
inside its own SAVEPOINT (:func:`perform_group`). An action that fails rolls back to its
savepoint only; the others commit together, and no caller hears of its result before that
COMMIT returned. Results go back to the loop in one hand-off per group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from console.gateway.ids import uuid4
from console.gateway.problems import Problem
from console.jsontext import dumps_json, loads_json

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    domain TEXT NOT NULL,
    id TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (domain, id)
);
CREATE TABLE IF NOT EXISTS config (
    domain TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (domain, key)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    key TEXT,
    headers TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    parked_at TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at, size);
-- Kept by triggers in the writing transaction: summing 50,000 keys took ~20 ms per keyed write.
CREATE TABLE IF NOT EXISTS idempotency_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    keys INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO idempotency_totals SELECT 1, COUNT(*), COALESCE(SUM(size), 0) FROM idempotency;
CREATE TRIGGER IF NOT EXISTS idempotency_added AFTER INSERT ON idempotency BEGIN
    UPDATE idempotency_totals SET keys = keys + 1, bytes = bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS idempotency_dropped AFTER DELETE ON idempotency BEGIN
    UPDATE idempotency_totals SET keys = keys - 1, bytes = bytes - OLD.size WHERE id = 1;
END;
"""
#: Columns added since the first release, for databases created before them.
MIGRATIONS = {"outbox": {"parked_at": "TEXT", "error": "TEXT"}}

MAX_ID_LENGTH = 200
DEFAULT_PAGE = 50
MAX_PAGE = 1000


def now_iso() -> str:
    """Now in UTC to the millisecond, ``2026-12-06T04:14:20.730Z``."""
    return iso_of_ns(time.time_ns())


#: The last second :func:`iso_of_ns` wrote, and its text: two or three stamps a request share
#: it, and building a datetime to print each was ~3 % of the gateway's time under load.
_SECOND: tuple[int, str] = (-1, "")


def iso_of_ns(ns: int) -> str:
    """``ns`` nanoseconds after the epoch as ``datetime.isoformat`` writes it to the millisecond
    (truncated, not rounded), ``Z`` for UTC."""
    global _SECOND
    second, rest = divmod(ns, 1_000_000_000)
    cached = _SECOND  # one read: another thread may replace it meanwhile, never half of it
    if cached[0] != second:
        cached = _SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{rest // 1_000_000:03d}Z"


class InjectedFault(Exception):
    """``X-Fault-After-Write``: raised after the write, inside the transaction."""


class DeadlineExceeded(Exception):
    """The latency SLA ran out before the commit: the transaction is rolled back instead."""


class RolledBack(Exception):
    """An action's transaction was rolled back; ``__cause__`` says why (an :class:`InjectedFault`,
    a :class:`DeadlineExceeded`, or any other error of the action)."""

    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"transaction {transaction_id} rolled back")
        self.transaction_id = transaction_id


@dataclass
class ActionResult:
    """What an action did: the status and body to answer, and what the event should say."""

    status: int
    body: Any
    #: The record id the event is about (Kafka key, ``ce_subject``); None for domain-wide acts.
    subject: str | None = None
    record_id: str | None = None
    wrote: bool = False
    event_data: dict[str, Any] = field(default_factory=dict)
    transaction_id: str = ""
    event_id: str | None = None


#: Most actions one group commit takes, so one transaction never grows without bound under load.
MAX_GROUP = 64


@dataclass
class _Job:
    """A call for the database thread and the loop future that gets its outcome."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    #: An :class:`Intent` for :func:`perform_group` (grouped with its neighbours), else a call.
    grouped: bool = False


def _resolve(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the loop: hand each waiting caller its result or exception."""
    for future, ok, value in outcomes:
        if future.done():  # the caller gave up (client gone): nothing to tell
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class DomainStore:
    """The gateway database, driven from asyncio through one worker thread.

    :meth:`perform` queues an action for the next group commit; :meth:`run` queues any other
    call (reads, the relay's bookkeeping), run on its own in arrival order.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[_Job | None] | None = None
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        #: Group commits made and the actions they carried (``/healthz`` reports the mean).
        self.groups = 0
        self.grouped = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, args=(self._queue,), name="gateway-db",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is None or self._queue is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = self._queue = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def queued(self) -> int:
        """Calls waiting for the database thread (it is busy with the one before them)."""
        return self._queue.qsize() if self._queue is not None else 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the database thread."""
        return await self._submit(fn, args, grouped=False)

    def perform(self, intent: Intent) -> asyncio.Future[ActionResult]:
        """Queue ``intent`` for the next group commit: a future of its result, set once that
        COMMIT returned (a plain future, not a coroutine: no task per request to await it).

        Raises as :func:`perform` does: a ``Problem`` the action raised, or :class:`RolledBack`.
        """
        return self._submit(perform_group, (intent,), grouped=True)

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, grouped: bool) -> asyncio.Future[Any]:
        if self._queue is None:
            raise RuntimeError("the gateway database is not open")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(fn, args, loop, future, grouped))
        return future

    def _serve(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        """The database thread: take what queued up, group the actions, answer per group."""
        stopping = False
        while not stopping:
            batch: list[_Job] = []
            job = jobs.get()
            while job is not None:
                batch.append(job)
                if len(batch) >= 4 * MAX_GROUP:
                    break
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
            stopping = job is None
            i = 0
            while i < len(batch):
                if batch[i].grouped:
                    group = [batch[i]]
                    i += 1
                    while i < len(batch) and batch[i].grouped and len(group) < MAX_GROUP:
                        group.append(batch[i])
                        i += 1
                    self._answer(group, self._perform(group))
                else:
                    self._answer([batch[i]], [self._call(batch[i])])
                    i += 1
        while True:  # queued behind the stop: answered, so that no caller waits forever
            try:
                late = jobs.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                self._answer([late], [(False, RuntimeError("the gateway database is closed"))])

    def _call(self, job: _Job) -> tuple[bool, Any]:
        try:
            return True, job.fn(self._conn, *job.args)
        except BaseException as exc:  # handed to the caller, raised there
            return False, exc

    def _perform(self, group: list[_Job]) -> list[tuple[bool, Any]]:
        conn = self._conn
        if conn is None:  # closed while the group waited
            return [(False, RuntimeError("the gateway database is closed"))] * len(group)
        try:
            outcomes = perform_group(conn, [job.args[0] for job in group])
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the group was kept
            # Even a ROLLBACK that failed must not leave the next group inside this transaction.
            if self._conn is not None and self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            return [(False, exc)] * len(group)
        self.groups += 1
        self.grouped += len(group)
        return [(not isinstance(o, BaseException), o) for o in outcomes]

    @staticmethod
    def _answer(jobs: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, answers)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the gateway database at ``path``, its schema created or brought up to date
    (autocommit: callers write ``BEGIN IMMEDIATE … COMMIT`` themselves)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Add the :data:`MIGRATIONS` columns a database made by an older gateway lacks."""
    for table, columns in MIGRATIONS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


# --- the five actions (run on the database thread, inside a transaction) ---------------------

def _record_view(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "domain": row["domain"], "fields": loads_json(row["fields"]),
            "status": "active", "created_at": row["created_at"], "updated_at": row["updated_at"]}


def _record_id(value: Any, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise Problem(400, "Missing record id",
                          "this action needs the record id: pass it as the query parameter `id` "
                          "or as `id` in the body")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Problem(400, "Invalid record id", "`id` must be a string or an integer")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise Problem(400, "Invalid record id", f"`id` is longer than {MAX_ID_LENGTH} characters")
    return text


def add_record(conn: sqlite3.Connection, domain: str, fields: dict[str, Any],
               query: dict[str, str]) -> ActionResult:
    record_id = _record_id(fields.get("id", query.get("id")), required=False) or uuid4()
    stored = {k: v for k, v in fields.items() if k != "id"}
    stamp = now_iso()
    try:
        conn.execute("INSERT INTO records (domain, id, fields, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (domain, record_id, dumps_json(stored).decode(), stamp, stamp))
    except sqlite3.IntegrityError:
        raise Problem(409, "Record exists",
                      f"{domain} already holds a record with id {record_id!r}; "
                      "delete it first or add without an id to get a new one") from None
    record = {"id": record_id, "domain": domain, "fields": stored, "status": "active",
              "created_at": stamp, "updated_at": stamp}
    return ActionResult(201, record, subject=record_id, record_id=record_id, wrote=True,
                        event_data={"record": record})


def delete_info(conn: sqlite3.Connection, domain: str, fields: dict[str, Any],
                query: dict[str, str]) -> ActionResult:
    record_id = _record_id(fields.get("id", query.get("id")), required=True)
    row = conn.execute("SELECT * FROM records WHERE domain = ? AND id = ?",
                       (domain, record_id)).fetchone()
    if row is None:
        raise Problem(404, "No such record", f"{domain} holds no record with id {record_id!r}")
    conn.execute("DELETE FROM records WHERE seq = ?", (row["seq"],))
    return ActionResult(204, None, subject=record_id, record_id=record_id, wrote=True,
                        event_data={"deleted": _record_view(row)})


def check_status(conn: sqlite3.Connection, domain: str, fields: dict[str, Any],
                 query: dict[str, str]) -> ActionResult:
    record_id = _record_id(fields.get("id", query.get("id")), required=False)
    if record_id is not None:
        row = conn.execute("SELECT * FROM records WHERE domain = ? AND id = ?",
                           (domain, record_id)).fetchone()
        if row is None:
            raise Problem(404, "No such record", f"{domain} holds no record with id {record_id!r}")
        view = _record_view(row)
        return ActionResult(200, view, subject=record_id, record_id=record_id,
                            event_data={"read": {"id": record_id, "status": "active"}})
    records = conn.execute("SELECT COUNT(*) FROM records WHERE domain = ?", (domain,)).fetchone()[0]
    keys = conn.execute("SELECT COUNT(*) FROM config WHERE domain = ?", (domain,)).fetchone()[0]
    body = {"domain": domain, "status": "ok", "records": records, "config_keys": keys}
    return ActionResult(200, body, subject=domain, event_data={"read": body})


def _bounded_int(name: str, raw: Any, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Problem(400, f"Invalid {name}", f"`{name}` must be an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise Problem(400, f"Invalid {name}", f"`{name}` must be an integer from {low} to {high}")
    return value


def export_data(conn: sqlite3.Connection, domain: str, fields: dict[str, Any],
                query: dict[str, str]) -> ActionResult:
    limit = _bounded_int("limit", fields.get("limit", query.get("limit")), DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = _bounded_int("cursor", fields.get("cursor", query.get("cursor")), 0, 0, 2**62)
    rows = conn.execute("SELECT * FROM records WHERE domain = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (domain, cursor, limit + 1)).fetchall()
    page = rows[:limit]
    next_cursor = str(page[-1]["seq"]) if len(rows) > limit else None
    body = {"items": [_record_view(r) for r in page], "count": len(page), "next_cursor": next_cursor}
    return ActionResult(200, body, subject=domain,
                        event_data={"read": {"count": len(page), "cursor": cursor, "limit": limit}})


def update_config(conn: sqlite3.Connection, domain: str, fields: dict[str, Any],
                  query: dict[str, str]) -> ActionResult:
    """Merge ``fields`` into the configuration map (JSON Merge Patch: null removes a key)."""
    stamp = now_iso()
    for key, value in fields.items():
        if value is None:
            conn.execute("DELETE FROM config WHERE domain = ? AND key = ?", (domain, key))
        else:
            conn.execute("INSERT INTO config (domain, key, value, updated_at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (domain, key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",
                         (domain, str(key), json.dumps(value, ensure_ascii=False), stamp))
    config = read_config(conn, domain)
    body = {"domain": domain, "config": config, "updated_at": stamp}
    return ActionResult(200, body, subject=domain, wrote=True,
                        event_data={"changed": sorted(map(str, fields)), "config": config})


def read_config(conn: sqlite3.Connection, domain: str) -> dict[str, Any]:
    rows = conn.execute("SELECT key, value FROM config WHERE domain = ? ORDER BY key", (domain,))
    return {r["key"]: json.loads(r["value"]) for r in rows}


ACTIONS: dict[str, Callable[[sqlite3.Connection, str, dict[str, Any], dict[str, str]], ActionResult]] = {
    "add-record": add_record,
    "delete-info": delete_info,
    "check-status": check_status,
    "export-data": export_data,
    "update-config": update_config,
}


@dataclass
class Intent:
    """One action to perform, with what must happen around it."""

    domain: str
    action: str
    fields: dict[str, Any]
    query: dict[str, str]
    #: Write an event to the outbox in the same transaction (after a successful action).
    emit: Callable[[sqlite3.Connection, ActionResult], str] | None = None
    #: Keep the response for its Idempotency-Key in the same transaction (after the action).
    keep: Callable[[sqlite3.Connection, ActionResult], None] | None = None
    fail_after_write: bool = False
    #: ``time.monotonic()`` past which the transaction is rolled back instead of committed.
    deadline: float | None = None


def perform(conn: sqlite3.Connection, intent: Intent) -> ActionResult:
    """Run one action and its outbox row as ONE transaction; any exception rolls both back.

    A ``Problem`` the action raised (its input refused) passes through; any other failure raises
    :class:`RolledBack` (with the transaction id) from the exception that ended it.
    """
    (outcome,) = perform_group(conn, [intent])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def perform_group(conn: sqlite3.Connection, intents: list[Intent]) -> list[ActionResult | BaseException]:
    """Run each intent in its own SAVEPOINT of one transaction, then COMMIT them together.

    Each outcome is the intent's result, or what :func:`perform` would raise for it: a failed
    intent rolls back to its savepoint only, leaving the others' writes in the transaction. If
    BEGIN or COMMIT itself fails, the whole transaction is rolled back and this raises: no
    intent of the group was kept.
    """
    outcomes: list[ActionResult | BaseException] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for intent in intents:
            outcomes.append(_in_savepoint(conn, intent))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _in_savepoint(conn: sqlite3.Connection, intent: Intent) -> ActionResult | BaseException:
    """One intent inside the open transaction; its failure undoes only its own writes."""
    transaction_id = uuid4()
    if intent.deadline is not None and time.monotonic() > intent.deadline:
        # Queued behind other work past the deadline: do not start what must be rolled back.
        return _rolled_back(transaction_id, DeadlineExceeded(transaction_id))
    conn.execute("SAVEPOINT action")
    try:
        result = ACTIONS[intent.action](conn, intent.domain, intent.fields, intent.query)
        result.transaction_id = transaction_id
        if intent.emit is not None:
            result.event_id = intent.emit(conn, result)
        if intent.keep is not None:
            intent.keep(conn, result)
        if intent.fail_after_write:
            raise InjectedFault(transaction_id)
        if intent.deadline is not None and time.monotonic() > intent.deadline:
            raise DeadlineExceeded(transaction_id)
    except Problem as problem:  # the action refused its input: a 4xx, nothing to report but the refusal
        _undo(conn)
        return problem
    except Exception as exc:
        _undo(conn)
        return _rolled_back(transaction_id, exc)
    except BaseException:
        _undo(conn)
        raise
    conn.execute("RELEASE action")
    return result


def _undo(conn: sqlite3.Connection) -> None:
    conn.execute("ROLLBACK TO action")
    conn.execute("RELEASE action")


def _rolled_back(transaction_id: str, cause: BaseException) -> RolledBack:
    """The :class:`RolledBack` that :func:`perform` raises, chained to its cause, to hand over."""
    try:
        raise RolledBack(transaction_id) from cause
    except RolledBack as rolled:
        return rolled
