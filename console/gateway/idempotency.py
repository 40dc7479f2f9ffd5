"""The Idempotency-Key store (IETF draft-ietf-httpapi-idempotency-key-header).

A key is scoped to the client and the operation. The first request with a key runs and its
final response is kept; a retry with the same key and the same request replays that response;
the same key with another request (method, version, path, query or body) is a 422; a retry
while the first is still running is a 409. Server errors (5xx) are not kept, so a retry after
one runs again.

Finished keys live in the gateway's SQLite database, written in the same transaction as the
change they answer (:func:`remember`): after a crash a key exists exactly when its write does,
so a client's retry replays what was committed instead of writing twice. They are bounded by
count, bytes and age (:class:`Bounds`), oldest first. Keys still running are tracked in memory
(:class:`IdempotencyStore`), atomically with respect to the event loop (no awaits inside).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from urllib.parse import parse_qsl

from console.gateway.problems import Problem

MAX_KEY_LENGTH = 255
IDEMPOTENCY_TYPE = "https://apilog.dev/problems/idempotency"


def parse_key(header: str | None) -> str | None:
    """The key from an ``Idempotency-Key`` header: a structured-field string, quotes optional."""
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > MAX_KEY_LENGTH or not value.isprintable():
        raise Problem(400, "Invalid Idempotency-Key",
                      f'Idempotency-Key must be a quoted string of 1 to {MAX_KEY_LENGTH} printable '
                      'characters, e.g. Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"',
                      type=IDEMPOTENCY_TYPE)
    return value


def fingerprint(method: str, version: str | None, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same" for one key: method, version, path, every parameter
    of the raw ``query`` string (sorted, repeats kept) and the body."""
    digest = hashlib.sha256()
    parts = [method.encode(), (version or "").encode(), path.encode()]
    for name, value in sorted(parse_qsl(query, keep_blank_values=True)):
        parts += [name.encode(), value.encode()]
    parts.append(body)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _reused() -> Problem:
    return Problem(422, "Idempotency-Key reused",
                   "this Idempotency-Key was first used with another request (method, path, query "
                   "or body); use a new key for a new request", type=IDEMPOTENCY_TYPE)


@dataclass
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: How many requests came with this key, this one included.
    attempts: int = 1


@dataclass(frozen=True)
class Bounds:
    """How many finished keys are kept: count, bytes of stored responses, age in seconds."""

    max_keys: int = 50_000
    max_bytes: int = 64 * 1_048_576
    ttl_s: float = 24 * 3600


class IdempotencyStore:
    """Keys whose first request is still running: a second request with one is a 409 (or 422)."""

    def __init__(self) -> None:
        self._running: dict[str, str] = {}

    def begin(self, scope: str, print_: str) -> None:
        """Mark ``scope`` (client + operation + key) as running, or raise 409/422."""
        running = self._running.get(scope)
        if running is not None:
            if running != print_:
                raise _reused()
            raise Problem(409, "Request in flight",
                          "a request with this Idempotency-Key is still being processed; "
                          "retry after it completes", type=IDEMPOTENCY_TYPE,
                          headers={"Retry-After": "1"})
        self._running[scope] = print_

    def end(self, scope: str) -> None:
        """The request finished (kept, replayed or failed): the key is no longer running."""
        self._running.pop(scope, None)

    def in_flight(self) -> int:
        """How many keys are running now (for health and tests)."""
        return len(self._running)


# --- the finished keys, in the gateway database (run on its thread) --------------------------

def lookup(conn: sqlite3.Connection, scope: str, print_: str, ttl_s: float,
           now: float) -> StoredResponse | None:
    """The stored response for ``scope`` if the same request made it (counting this attempt);
    None for a new or expired key; 422 if another request used the key."""
    row = conn.execute("SELECT fingerprint, status, headers, body, created_at FROM idempotency "
                       "WHERE scope = ?", (scope,)).fetchone()
    if row is None or now - row["created_at"] > ttl_s:
        return None
    if row["fingerprint"] != print_:
        raise _reused()
    conn.execute("UPDATE idempotency SET attempts = attempts + 1 WHERE scope = ?", (scope,))
    attempts = conn.execute("SELECT attempts FROM idempotency WHERE scope = ?", (scope,)).fetchone()[0]
    return StoredResponse(row["status"], [tuple(h) for h in json.loads(row["headers"])],
                          bytes(row["body"]), attempts)


def remember(conn: sqlite3.Connection, scope: str, print_: str, response: StoredResponse,
             bounds: Bounds, now: float) -> None:
    """Keep ``response`` for ``scope`` inside the caller's transaction, then drop expired keys
    and the oldest ones past the count and byte bounds (the new key itself always stays)."""
    headers = json.dumps(response.headers)
    size = len(response.body) + len(headers) + len(scope) + len(print_)
    # DELETE then INSERT, not INSERT OR REPLACE: a REPLACE deletes without firing the trigger
    # that keeps idempotency_totals.
    conn.execute("DELETE FROM idempotency WHERE scope = ?", (scope,))
    conn.execute("INSERT INTO idempotency (scope, fingerprint, status, headers, body, size, "
                 "created_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (scope, print_, response.status, headers, response.body, size, now, response.attempts))
    conn.execute("DELETE FROM idempotency WHERE created_at < ?", (now - bounds.ttl_s,))
    count, total = conn.execute("SELECT keys, bytes FROM idempotency_totals").fetchone()
    if count <= bounds.max_keys and total <= bounds.max_bytes:
        return
    drop: list[tuple[str]] = []
    freed = 0
    for old in conn.execute("SELECT scope, size FROM idempotency WHERE scope != ? "
                            "ORDER BY created_at, rowid", (scope,)):
        if count - len(drop) <= bounds.max_keys and total - freed <= bounds.max_bytes:
            break
        drop.append((old["scope"],))
        freed += old["size"]
    conn.executemany("DELETE FROM idempotency WHERE scope = ?", drop)


def remember_alone(conn: sqlite3.Connection, scope: str, print_: str, response: StoredResponse,
                   bounds: Bounds, now: float) -> None:
    """:func:`remember` in a transaction of its own (a final 4xx: nothing else was written)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        remember(conn, scope, print_, response, bounds, now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

