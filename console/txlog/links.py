"""Kafka events tied to transactions, both ways: an event seen after its call finished is linked
at once; one seen earlier (the feed can beat the HTTP response) waits and is claimed by
``finish``. A mixin of :class:`console.txlog.store.TransactionLog` (uses its db and lock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from console.txlog.model import EventLink


class EventLinks:
    """Event-linking half of the transaction log."""

    db: Any
    _lock: Any
    _write: Callable[[], AbstractContextManager[None]]

    def _claim_events(self, tx_id: str, event_id: str | None, trace_id: str | None,
                      ended_at: float) -> None:
        """Link events that arrived before the call finished (the feed can be faster than HTTP)."""
        self.db.execute("UPDATE events SET delay_ms = (event_time - ?) * 1000 "
                        "WHERE tx_id = ? AND delay_ms IS NULL", [ended_at, tx_id])
        if not event_id and not trace_id:
            return
        self.db.execute(
            "UPDATE events SET tx_id = ?, delay_ms = (event_time - ?) * 1000 "
            "WHERE tx_id IS NULL AND (event_id = ? OR (trace_id IS NOT NULL AND trace_id = ?))",
            [tx_id, ended_at, event_id, trace_id])

    def link_event(self, event_id: str, trace_id: str | None, topic: str | None,
                   partition: int | None, offset: int | None,
                   event_time: datetime | float | str | None) -> str | None:
        """Remember a Kafka event and tie it to its transaction (by event id, else trace id).

        Idempotent (consumers see events at least once). An event seen before its call has
        finished is kept and claimed by :meth:`finish`. ``event_time`` is a datetime, an ISO
        string, epoch seconds, or epoch milliseconds (Kafka timestamps). Returns the tx id.
        """
        when = to_epoch(event_time)
        with self._write():
            existing = self.db.execute("SELECT tx_id FROM events WHERE event_id = ?", [event_id]).fetchone()
            if existing and existing[0]:
                return existing[0]
            match = self.db.execute(
                "SELECT id, ended_at FROM transactions WHERE event_id = ? "
                "UNION ALL SELECT id, ended_at FROM transactions WHERE trace_id IS NOT NULL AND trace_id = ? "
                "ORDER BY id DESC LIMIT 1", [event_id, trace_id]).fetchone()
            tx_id, ended_at = match if match else (None, None)
            delay = (when - ended_at) * 1000 if when is not None and ended_at is not None else None
            self.db.execute(
                'INSERT INTO events (event_id, tx_id, trace_id, topic, partition, "offset", '
                "event_time, delay_ms, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET tx_id = excluded.tx_id, "
                "delay_ms = excluded.delay_ms",
                [event_id, tx_id, trace_id, topic, partition, offset, when, delay, time.time()])
        return tx_id

    def events_for(self, tx_id: str) -> list[EventLink]:
        """Events linked to a transaction, oldest first."""
        with self._lock:
            rows = list(self.db.query('SELECT event_id, tx_id, trace_id, topic, partition, "offset", '
                                      "event_time, delay_ms FROM events WHERE tx_id = ? "
                                      "ORDER BY event_time", [tx_id]))
        return [EventLink(**r) for r in rows]



def to_epoch(value: datetime | float | str | None) -> float | None:
    """A datetime, ISO string, epoch seconds or epoch milliseconds (Kafka) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    value = float(value)
    return value / 1000 if value > 1e11 else value
