"""Kafka events tied to transactions, both ways: an event seen after its call finished is linked
at once; one seen earlier (the feed can beat the HTTP response) waits and is claimed by
``finish``. A mixin of :class:`console.txlog.store.TransactionLog` (uses its db and lock)."""

from __future__ import annotations

import functools
import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from console.jsontext import dumps_json, loads_json
from console.txlog import outcomes as oc
from console.txlog.model import EventLink, EventSeen, LinkAnswers

_COLUMNS = 'event_id, tx_id, trace_id, topic, partition, "offset", event_time, delay_ms, seen_at'
_ON_CONFLICT = " ON CONFLICT(event_id) DO UPDATE SET tx_id = excluded.tx_id, delay_ms = excluded.delay_ms"
#: A batch's rows go in statements of a power of two rows each (at most 512, and at most
#: SQLite's limit on bound values allows: 999 before 3.32, 32,766 since), so a batch is a few
#: steps of SQLite (5,000 rows, the most the correlator hands over at once, in 12; in 79 under
#: the old limit): ``executemany`` steps (and gives up and takes back the GIL) once per row,
#: each time waiting for the event loop to let go of it. Each size is prepared once and cached
#: (ten statements, ~1.5 MiB at most). Bound values keep a text whole (SQLite's JSON functions,
#: which wrote the rows before, end one at NUL) and cost SQLite about half the CPU that
#: ``json_each`` did.
_MOST_ROWS_PER_STEP = 512
_VALUES_PER_ROW = _COLUMNS.count(",") + 1


@functools.cache
def _upsert_rows(size: int) -> str:
    return (f"INSERT INTO events ({_COLUMNS}) VALUES "
            + ", ".join([f"({', '.join('?' * _VALUES_PER_ROW)})"] * size) + _ON_CONFLICT)


_UPSERT = _upsert_rows(1)

#: Whether some call in the log is still under way (begun, not finished): only its ``finish``
#: could claim an event no call matches now.
_UNDER_WAY = f"EXISTS (SELECT 1 FROM transactions WHERE outcome = '{oc.PENDING}')"

#: ``ended_at`` as text of 17 digits: ``json_array`` writes a real with 15, which loses the
#: microseconds of an epoch time.
_ENDED_AT = "CASE WHEN t.ended_at IS NULL THEN NULL ELSE printf('%!.17g', t.ended_at) END"

#: Every lookup of a batch in one row, each answer a JSON array: links already stored (by event
#: id), transactions matched by event id, by trace id, and whether a call is under way. The
#: batch's ids (?1) and trace ids (?2) are JSON arrays; CROSS JOIN makes them the outer loop,
#: each a lookup in the column's index, whatever the planner would guess of ``json_each``.
_LOOK_UP = (
    "SELECT (SELECT json_group_array(json_array(e.event_id, e.tx_id)) FROM json_each(?1) AS j"
    "        CROSS JOIN events AS e ON e.event_id = j.value),"
    f"      (SELECT json_group_array(json_array(t.event_id, t.id, {_ENDED_AT}))"
    "        FROM json_each(?1) AS j CROSS JOIN transactions AS t ON t.event_id = j.value),"
    f"      (SELECT json_group_array(json_array(t.trace_id, t.id, {_ENDED_AT}))"
    "        FROM json_each(?2) AS j CROSS JOIN transactions AS t ON t.trace_id = j.value),"
    f"      {_UNDER_WAY}")


_Match = tuple[str, float | None]  # a transaction's id and ended_at


class EventLinks:
    """Event-linking half of the transaction log.

    An event no transaction matches is kept only while a call in the log is unfinished: only
    :meth:`finish` of such a call can claim it later (a call is begun, and so pending, before
    its request leaves; its event comes after). Reading a topic's history while no call is
    under way, the log gains nothing for the other operators' events (most of them).
    """

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
            if tx_id is None and not self._calls_under_way():
                return None
            delay = (when - ended_at) * 1000 if when is not None and ended_at is not None else None
            self.db.execute(_UPSERT, [event_id, tx_id, trace_id, topic, partition, offset, when,
                                      delay, time.time()])
        return tx_id

    def link_events(self, events: Iterable[EventSeen | tuple[Any, ...]]) -> LinkAnswers:
        """:meth:`link_event` for a whole batch, in one write transaction: the tx ids in order,
        and whether an event no call matched may still be claimed (:class:`LinkAnswers`).

        Each item is an :class:`EventSeen` (or a tuple of :meth:`link_event`'s six arguments).
        The outcome is the same as linking them one by one in that order, at a fraction of the
        cost: one statement looks up the whole batch (its ids and trace ids handed to SQLite
        as one JSON array each) and one writes its rows, instead of a transaction each. Only
        the events a lookup found are looked at one by one, unless a call under way keeps them
        all. A failure (disk full) links none of the batch and raises :class:`LogWriteFailed`.
        """
        # Unpacked, not made into EventSeen objects: ~1 µs an event, a tenth of linking it.
        batch: list[EventSeen | tuple[Any, ...]] = list(events)
        if not batch:
            return LinkAnswers(claimable=False)
        ids = [e[0] for e in batch]
        traces = [e[1] for e in batch]
        seen_at = time.time()
        with self._write():
            linked, by_event, by_trace, keep_unmatched = self._look_up(ids, traces)
            out: list[str | None] = [None] * len(batch)
            todo: Iterable[int] = range(len(batch))
            if not keep_unmatched and len(set(ids)) == len(ids):
                # Each id once, nothing kept unmatched: an event no lookup found gets None and
                # leaves no row, so only the found ones need looking at.
                todo = [i for i, (event_id, trace_id) in enumerate(zip(ids, traces, strict=True))
                        if event_id in linked or event_id in by_event or trace_id in by_trace]
            rows: list[tuple[Any, ...]] = []
            for i in todo:
                event_id, trace_id, topic, partition, offset, event_time = batch[i]
                if linked.get(event_id):
                    out[i] = linked[event_id]
                    continue
                # the newer of the transactions matched by event id and by trace id
                match = by_event.get(event_id)
                if trace_id and (other := by_trace.get(trace_id)) and (not match or other > match):
                    match = other
                tx_id, ended_at = match if match else (None, None)
                linked[event_id] = out[i] = tx_id
                if tx_id is None and not keep_unmatched:
                    continue
                when = to_epoch(event_time)
                delay = (when - ended_at) * 1000 if when is not None and ended_at is not None else None
                rows.append((event_id, tx_id, trace_id, topic, partition, offset, when,
                             delay, seen_at))
            if rows:
                self._write_rows(rows)
        return LinkAnswers(out, claimable=keep_unmatched)

    def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        conn, at = self.db.conn, 0
        most = max(1, min(_MOST_ROWS_PER_STEP,
                          conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _VALUES_PER_ROW))
        size = 1 << (most.bit_length() - 1)
        while at < len(rows):
            while len(rows) - at < size:
                size >>= 1
            conn.execute(_upsert_rows(size), list(itertools.chain.from_iterable(rows[at:at + size])))
            at += size

    def _look_up(self, ids: Sequence[str], traces: Sequence[str | None]) -> tuple[
            dict[str, str | None], dict[str, _Match], dict[str, _Match], bool]:
        """Links stored already (event id -> tx id), the newest transaction matched by event
        id and by trace id (value -> (id, ended_at)), and whether a call is under way."""
        linked, by_event, by_trace, under_way = self.db.conn.execute(
            _LOOK_UP, [_json_list(ids), _json_list(traces)]).fetchone()
        return dict(loads_json(linked)), _newest(by_event), _newest(by_trace), bool(under_way)

    def _calls_under_way(self) -> bool:
        return bool(self.db.execute(f"SELECT {_UNDER_WAY}").fetchone()[0])

    def events_for(self, tx_id: str) -> list[EventLink]:
        """Events linked to a transaction, oldest first."""
        with self._lock:
            rows = list(self.db.query('SELECT event_id, tx_id, trace_id, topic, partition, "offset", '
                                      "event_time, delay_ms FROM events WHERE tx_id = ? "
                                      "ORDER BY event_time", [tx_id]))
        return [EventLink(**r) for r in rows]


def _newest(found: str) -> dict[str, _Match]:
    """``value -> (id, ended_at)`` of the newest transaction of each value, from ``_LOOK_UP``'s
    JSON array of ``[value, id, ended_at as text]``."""
    best: dict[str, _Match] = {}
    for value, tx_id, ended_at in loads_json(found):
        if value not in best or tx_id > best[value][0]:
            best[value] = (tx_id, None if ended_at is None else float(ended_at))
    return best


def _json_list(values: Sequence[str | None]) -> str:
    """Each distinct text of ``values`` once, as a JSON array (``json_each`` reads it).

    Text, not bytes: SQLite 3.45 and later read a BLOB given to a JSON function as JSONB.
    """
    return dumps_json(list({value for value in values if value})).decode()


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
