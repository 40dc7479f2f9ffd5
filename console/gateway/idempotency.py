"""The Idempotency-Key store (IETF draft-ietf-httpapi-idempotency-key-header).

A key is scoped to the client and the operation. The first request with a key runs and its
final response is kept; a retry with the same key and the same request replays that response;
the same key with another request body is a 422; a retry while the first is still running is a
409. Server errors (5xx) are not kept, so a retry after one runs again. The store is in memory,
bounded, and atomic with respect to the event loop (no awaits inside its methods).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

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


def fingerprint(method: str, path: str, action: str, body: bytes) -> str:
    """What makes two requests "the same" for one key."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), action.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: StoredResponse | None = None
    attempts: int = 1


@dataclass
class Claim:
    """The outcome of :meth:`IdempotencyStore.claim`: run the request, or replay ``response``."""

    replay: StoredResponse | None = None
    attempts: int = 1
    scope: str = field(default="", repr=False)


class IdempotencyStore:
    """Keys and their stored responses; old and excess keys are dropped (LRU + TTL)."""

    def __init__(self, ttl_s: float = 24 * 3600, capacity: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def claim(self, scope: str, print_: str) -> Claim:
        """Start a request under ``scope`` (client + operation + key), or raise 409/422."""
        now = self.clock()
        self._expire(now)
        entry = self._entries.get(scope)
        if entry is None:
            self._entries[scope] = _Entry(print_, now)
            return Claim(scope=scope)
        self._entries.move_to_end(scope)
        if entry.fingerprint != print_:
            raise Problem(422, "Idempotency-Key reused",
                          "this Idempotency-Key was first used with another request body; "
                          "use a new key for a new request", type=IDEMPOTENCY_TYPE)
        entry.attempts += 1
        if entry.response is None:
            raise Problem(409, "Request in flight",
                          "a request with this Idempotency-Key is still being processed; "
                          "retry after it completes", type=IDEMPOTENCY_TYPE,
                          headers={"Retry-After": "1"})
        return Claim(replay=entry.response, attempts=entry.attempts, scope=scope)

    def complete(self, scope: str, response: StoredResponse) -> None:
        """Keep the final response for replay (callers keep only non-5xx responses)."""
        entry = self._entries.get(scope)
        if entry is not None:
            entry.response = response

    def release(self, scope: str) -> None:
        """Forget an unfinished key (the request failed with a 5xx): a retry runs again."""
        entry = self._entries.get(scope)
        if entry is not None and entry.response is None:
            del self._entries[scope]

    def in_flight(self) -> int:
        """How many claimed keys have no final response yet (for health and tests)."""
        return sum(1 for entry in self._entries.values() if entry.response is None)

    def _expire(self, now: float) -> None:
        while self._entries:
            scope, entry = next(iter(self._entries.items()))
            if now - entry.created <= self.ttl_s and len(self._entries) <= self.capacity:
                break
            del self._entries[scope]
