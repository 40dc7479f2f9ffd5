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

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from console.txlog.errors import LogUnavailable, newer_schema_message

if TYPE_CHECKING:  # the store imports sqlite-utils (~60 ms); reading ORIGINS should not
    import sqlite_utils


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
    Migration(2, "the full-text index is rewritten only when an indexed column is set", (
        # sqlite-utils' trigger re-indexed the whole row on any update, attempt_count too: a
        # one-attempt call indexed its text three times (issue 15).
        'DROP TRIGGER IF EXISTS "transactions_au"',
        'CREATE TRIGGER "transactions_au" AFTER UPDATE OF "method", "path", "action", "url", '
        '"record_id", "request_body", "response_body", "error", "event_id", "request_id", '
        '"trace_id" ON "transactions" BEGIN\n'
        '  INSERT INTO "transactions_fts" ("transactions_fts", rowid, "method", "path", "action", '
        '"url", "record_id", "request_body", "response_body", "error", "event_id", "request_id", '
        '"trace_id") VALUES(\'delete\', old.rowid, old."method", old."path", old."action", '
        'old."url", old."record_id", old."request_body", old."response_body", old."error", '
        'old."event_id", old."request_id", old."trace_id");\n'
        '  INSERT INTO "transactions_fts" (rowid, "method", "path", "action", "url", "record_id", '
        '"request_body", "response_body", "error", "event_id", "request_id", "trace_id") '
        'VALUES (new.rowid, new."method", new."path", new."action", new."url", new."record_id", '
        'new."request_body", new."response_body", new."error", new."event_id", new."request_id", '
        'new."trace_id");\nEND',
    )),
)

#: The ``PRAGMA user_version`` this code writes; a log with a higher one came from a newer apilog.
SCHEMA_VERSION = MIGRATIONS[-1].version

#: Who made a call, as ``origin`` records it (None: a row from before origins were kept).
Origin = Literal["console", "cli", "check"]
ORIGINS: tuple[str, ...] = get_args(Origin)


def user_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(path: Path, version: int) -> None:
    """A log from a newer apilog is refused (one line) before anything is written to it."""
    if version > SCHEMA_VERSION:
        raise LogUnavailable(newer_schema_message(path, version, SCHEMA_VERSION))


def create_or_migrate(db: sqlite_utils.Database, write: Callable[[], AbstractContextManager[None]],
                      path: Path) -> None:
    """A new file gets :data:`TABLES`; an older one each missing migration, in order.

    ``write`` opens one write transaction (the log's BEGIN IMMEDIATE). Each step re-reads the
    version under the write lock: two processes opening the same old log at once migrate it
    once, and a step that fails (disk full) leaves the log at the version before it.
    """
    version = user_version(db)
    if version == SCHEMA_VERSION:
        return
    if version == 0 and not db["transactions"].exists():
        with write():
            if not db["transactions"].exists():
                _create(db)
                return
        version = user_version(db)
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        with write():
            current = user_version(db)
            refuse_newer(path, current)
            if current >= migration.version:
                continue
            for statement in migration.statements:
                db.conn.execute(statement)
            # PRAGMA takes no parameters; the version is an int from MIGRATIONS.
            db.conn.execute(f"PRAGMA user_version = {migration.version:d}")


def _create(db: sqlite_utils.Database) -> None:
    for table in TABLES:
        created = db.table(table.name)
        created.create(dict(table.columns), pk=table.pk, not_null=set(table.not_null),
                              defaults=dict(table.defaults), if_not_exists=True)
        for name, columns in table.indexes.items():
            created.create_index(columns, index_name=name, if_not_exists=True)
        if table.fts:
            created.enable_fts(table.fts, create_triggers=True)
            db.conn.execute(f'DROP TRIGGER "{table.name}_au"')
            db.conn.execute(fts_update_trigger(table))
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")


def fts_update_trigger(table: Table) -> str:
    """The trigger keeping ``table``'s full-text index in step with an UPDATE.

    sqlite-utils' own fires on every update and re-indexes the whole row; this one fires only
    when the UPDATE sets an indexed column (``UPDATE OF``), so counting an attempt or settling a
    flag leaves the index alone. External-content FTS5 needs the old values to delete the entry.
    """
    def listed(prefix: str) -> str:
        return ", ".join(f'{prefix}"{column}"' for column in table.fts)

    return (f'CREATE TRIGGER "{table.name}_au" AFTER UPDATE OF {listed("")} ON "{table.name}" BEGIN\n'
            f'  INSERT INTO "{table.name}_fts" ("{table.name}_fts", rowid, {listed("")}) '
            f"VALUES('delete', old.rowid, {listed('old.')});\n"
            f'  INSERT INTO "{table.name}_fts" (rowid, {listed("")}) '
            f"VALUES (new.rowid, {listed('new.')});\nEND")
