"""The log's tables, declared once, and the migrations that bring an older log up to them.

Every other place that needs a column list (the inserts, the row builders, the dataclass check
in the tests) reads it from here. A new log is created straight from :data:`TABLES` and stamped
with :data:`SCHEMA_VERSION` (``PRAGMA user_version``); a log written by an older release is
brought up by :data:`MIGRATIONS`, applied in order, each in its own transaction. A migration's
statements are frozen history: they never read :data:`TABLES`, whose shape will move on.

To change the schema: edit :data:`TABLES` *and* append a :class:`Migration` doing the same to an
existing file (columns added by ``ALTER TABLE ... ADD COLUMN`` go last, so declare them last).
``tests/txlog/test_schema.py`` checks that a migrated old log and a new one end up identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    """One table: its columns (name → SQLite type, in file order), key, indexes, full-text columns."""

    name: str
    columns: dict[str, str]
    pk: str | tuple[str, ...]
    not_null: frozenset[str] = frozenset()
    defaults: dict[str, object] = field(default_factory=dict)
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fts: tuple[str, ...] = ()


TRANSACTIONS = Table(
    "transactions",
    {"id": "TEXT", "started_at": "REAL", "ended_at": "REAL", "method": "TEXT", "path": "TEXT",
     "action": "TEXT", "version": "TEXT", "fmt": "TEXT", "url": "TEXT", "record_id": "TEXT",
     "outcome": "TEXT", "status": "INTEGER", "attempt_count": "INTEGER",
     "rolled_back": "INTEGER", "event_id": "TEXT", "trace_id": "TEXT", "request_id": "TEXT",
     "idempotency_key": "TEXT", "elapsed_ms": "REAL", "sla_ms": "INTEGER", "sla_ok": "INTEGER",
     "request_headers": "TEXT", "request_body": "TEXT", "response_headers": "TEXT",
     "response_body": "TEXT", "error": "TEXT", "profile": "TEXT", "pid": "INTEGER",
     "host": "TEXT", "origin": "TEXT"},
    pk="id",
    not_null=frozenset({"started_at", "method", "path", "action", "outcome", "attempt_count",
                        "rolled_back"}),
    defaults={"attempt_count": 0, "rolled_back": 0},
    indexes={
        # Time ranges, and every figure of stats() read from the index alone (the overview polls it).
        "tx_time": ("started_at", "outcome", "elapsed_ms", "sla_ok", "attempt_count", "rolled_back"),
        "tx_outcome": ("outcome", "id"),
        "tx_path": ("path", "method", "action", "id"),
        "tx_event": ("event_id",),
        "tx_trace": ("trace_id",),
    },
    fts=("method", "path", "action", "url", "record_id", "request_body", "response_body",
         "error", "event_id", "request_id", "trace_id"),
)

ATTEMPTS = Table(
    "attempts",
    {"tx_id": "TEXT", "number": "INTEGER", "started_at": "REAL", "elapsed_ms": "REAL",
     "status": "INTEGER", "error": "TEXT", "retry_after_s": "REAL", "request_id": "TEXT",
     "headers": "TEXT"},
    pk=("tx_id", "number"),
    not_null=frozenset({"tx_id", "number"}),
)

EVENTS = Table(
    "events",
    {"event_id": "TEXT", "tx_id": "TEXT", "trace_id": "TEXT", "topic": "TEXT",
     "partition": "INTEGER", "offset": "INTEGER", "event_time": "REAL", "delay_ms": "REAL",
     "seen_at": "REAL"},
    pk="event_id",
    indexes={"ev_tx": ("tx_id",), "ev_trace": ("trace_id",)},
)

TABLES: tuple[Table, ...] = (TRANSACTIONS, ATTEMPTS, EVENTS)

#: Columns the log keeps for itself and does not hand out on :class:`~console.txlog.model.Transaction`:
#: ``host`` only tells :meth:`~console.txlog.store.TransactionLog.mark_interrupted` whose pid it is.
STORE_ONLY_COLUMNS = frozenset({"host"})


@dataclass(frozen=True)
class Migration:
    """Bring a log from ``version - 1`` to ``version``."""

    version: int
    why: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "origin: who made the call (console, cli, check); NULL on older rows", (
        # Logs from before the covering time index still have its predecessor.
        "DROP INDEX IF EXISTS tx_started",
        "CREATE INDEX IF NOT EXISTS tx_time ON transactions"
        "(started_at, outcome, elapsed_ms, sla_ok, attempt_count, rolled_back)",
        "ALTER TABLE transactions ADD COLUMN origin TEXT",
    )),
)

#: The ``PRAGMA user_version`` this code writes; a log with a higher one came from a newer apilog.
SCHEMA_VERSION = MIGRATIONS[-1].version

#: Who made a call, as ``origin`` records it (None: a row from before origins were kept).
ORIGINS: tuple[str, ...] = ("console", "cli", "check")
