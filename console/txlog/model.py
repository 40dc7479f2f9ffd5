"""A stored transaction as read back from the log, with its attempts and linked Kafka events."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from console.caller.model import Attempt

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_last: list[int] = [0, 0]


def new_transaction_id(now: float | None = None) -> str:
    """A ULID: 26 characters that sort by creation time, so the id alone is the keyset cursor.

    Monotonic within a process (same millisecond → the random part counts up).
    """
    ms = int((time.time() if now is None else now) * 1000)
    with _id_lock:
        if ms <= _last[0]:
            ms, rand = _last[0], _last[1] + 1
        else:
            rand = secrets.randbits(80)
        _last[0], _last[1] = ms, rand
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class EventSeen(NamedTuple):
    """A Kafka event as the feed saw it, to link (the arguments of ``TransactionLog.link_event``)."""

    event_id: str
    trace_id: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    event_time: datetime | float | str | None  # datetime, ISO text, epoch s or epoch ms (Kafka)


class LinkAnswers(list[str | None]):
    """What ``link_events`` answers: each event's transaction id (or None), in order.

    ``claimable`` says whether a call in the log was under way while the batch was linked. Only
    then can an event no call matched yet still be claimed (by that call's ``finish``); with no
    call under way, no later question about it can find one, since a call is begun before its
    request leaves and so before its event exists.
    """

    def __init__(self, tx_ids: Iterable[str | None] = (), *, claimable: bool) -> None:
        super().__init__(tx_ids)
        self.claimable = claimable


@dataclass
class EventLink:
    """A Kafka event tied to a transaction by its event id or trace id."""

    event_id: str
    tx_id: str | None
    trace_id: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    event_time: float | None     # epoch seconds
    delay_ms: float | None       # event time minus the call's end

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class Transaction:
    """One call as the log keeps it. Times are epoch seconds; header maps are redacted."""

    id: str
    started_at: float
    method: str
    path: str
    action: str
    outcome: str
    ended_at: float | None = None
    version: str | None = None
    fmt: str = "json"
    url: str = ""
    record_id: str | None = None
    status: int | None = None
    attempt_count: int = 0
    rolled_back: bool = False
    event_id: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    elapsed_ms: float | None = None
    sla_ms: int | None = None
    sla_ok: bool | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None
    profile: str | None = None
    pid: int | None = None
    origin: str | None = None    # who made the call: console, cli, check (None on older rows)
    attempts: list[Attempt] = field(default_factory=list)
    events: list[EventLink] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return max(0, self.attempt_count - 1)

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.started_at, UTC)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready). Built by hand: ``dataclasses.asdict`` deep-copies and made
        exports of a million rows four times slower."""
        data = {f.name: getattr(self, f.name) for f in _FIELDS}
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        data["attempts"] = [a.to_dict() for a in self.attempts]
        data["events"] = [e.to_dict() for e in self.events]
        data["retries"] = self.retries
        data["started"] = self.started.isoformat(timespec="milliseconds")
        return data


_FIELDS = dataclasses.fields(Transaction)
#: The fields a stored row fills (the rest, attempts and events, come from their own tables).
TRANSACTION_FIELDS: tuple[str, ...] = tuple(f.name for f in _FIELDS if f.name not in ("attempts", "events"))
