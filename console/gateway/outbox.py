"""The transactional outbox and its relay to Kafka.

A committed change writes its event into the ``outbox`` table in the same SQLite transaction
(:func:`enqueue`); the :class:`OutboxRelay` task then publishes pending rows in order and marks
each one delivered as soon as the broker acknowledged it. Kafka being down never fails a
request: rows wait, the relay backs off and retries with a fresh producer, and everything is
delivered once the broker answers again (at least once; consumers dedupe on ``ce_id``).

No event larger than the broker takes is ever committed: :func:`enqueue` measures the record as
the producer will and refuses the change (413) past ``max_event_bytes``. A row that still
cannot be published for a reason retrying cannot cure (too large for the broker, malformed) is
*parked*: it leaves the queue with its reason, shows in ``/healthz``, and waits for
``apilog gateway redrive``; the rows behind it go on.

Events are CloudEvents 1.0 in the Kafka protocol binding's binary mode: attributes as ``ce_*``
headers, ``content-type`` for the data, the record id as the message key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from console.gateway.domains import DomainStore, now_iso
from console.gateway.ids import uuid4
from console.gateway.problems import Problem
from console.jsontext import dumps_json, loads_json

log = logging.getLogger("apilog.gateway.outbox")

TOPIC_PREFIX = "gateway.events."
#: Rows read per relay cycle: at most this many, and no more bytes than BATCH_BYTES (at least one
#: row), so a backlog of large events never sits in memory at once.
BATCH = 500
BATCH_BYTES = 8 * 1_048_576
#: How long one cycle waits for the broker's acknowledgements before retrying what is unacked.
ACK_TIMEOUT_S = 30.0
#: How long the relay tries to create the catalogue's topics when it starts (:meth:`OutboxRelay._declare_topics`).
DECLARE_TIMEOUT_S = 5.0
#: Errors no retry can cure: the row is parked instead of holding back the ones behind it.
PERMANENT_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError,
                    InvalidTopicError, CorruptRecordException)
#: A row whose own send failed this many cycles while other rows went through is parked: the
#: broker answers, so the fault is the row's (an error the broker reports as retriable forever).
STRIKES = 5
EVENT_TOO_LARGE_TYPE = "https://apilog.dev/problems/event-too-large"
#: Kafka's legal topic names.
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

Row = tuple[int, str, str, str | None, str, bytes]
#: ``(seq, topic, key, value, headers)``: a row as the producer takes it.
_Record = tuple[int, str, bytes | None, bytes, list[tuple[str, bytes]]]
#: ``(topic, partition, records, builder)``: a record batch being filled, and its rows.
_Batch = tuple[str, int, list[_Record], Any]


def _live_connections(client: Any) -> list[tuple[Any, Any]]:
    """The client's open broker connections, as objects (aiokafka 0.14's ``_conns``: no public
    view of them exists). Equal lists mean no connection was closed or opened in between."""
    return [(key, conn) for key, conn in client._conns.items() if conn.connected()]


def topic_for(domain: str) -> str:
    """``gateway.events.<domain>``."""
    return f"{TOPIC_PREFIX}{domain}"


def event_bytes(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """The record's size as the Kafka producer checks it against ``max_request_size``."""
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)


def enqueue(conn: sqlite3.Connection, *, domain: str, action: str, subject: str | None,
            data: dict[str, Any], source: str, traceparent: str | None,
            max_bytes: int | None = None) -> str:
    """Write one event row inside the caller's transaction; return its event id (``ce_id``).

    Past ``max_bytes`` (the broker's ``max.message.bytes``) it raises a 413 problem instead,
    which rolls the caller's transaction back: a change whose event cannot be published is
    never committed.
    """
    event_id = uuid4()
    headers = {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": f"apilog.{domain}.{action}",
        "ce_time": now_iso(),
        "content-type": "application/json",
    }
    if subject is not None:
        headers["ce_subject"] = subject
    if traceparent:
        headers["ce_traceparent"] = traceparent
    value = dumps_json(data)
    if max_bytes is not None:
        size = event_bytes(subject.encode() if subject is not None else None, value,
                           [(k, v.encode()) for k, v in headers.items()])
        if size > max_bytes:
            hint = ("the event carries the whole configuration of the domain: remove keys (set them "
                    "to null) to make room" if action == "update-config" else "send a smaller body")
            raise Problem(413, "Event too large",
                          f"the event of this change would be {size} bytes, over the gateway's limit "
                          f"of {max_bytes} bytes (max_event_bytes, the broker's max.message.bytes); "
                          f"nothing was committed: {hint}",
                          type=EVENT_TOO_LARGE_TYPE, max_event_bytes=max_bytes, event_bytes=size)
    conn.execute("INSERT INTO outbox (event_id, topic, key, headers, value, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (event_id, topic_for(domain), subject, dumps_json(headers).decode(), value, headers["ce_time"]))
    return event_id


_WAITING = "delivered_at IS NULL AND parked_at IS NULL"


def _pending(conn: sqlite3.Connection, limit: int, max_bytes: int) -> list[Row]:
    """The oldest waiting rows: up to ``limit`` rows and ``max_bytes`` bytes (always one)."""
    sizes = conn.execute(f"SELECT seq, length(value) + length(headers) AS size FROM outbox "
                         f"WHERE {_WAITING} ORDER BY seq LIMIT ?", (limit,)).fetchall()
    if not sizes:
        return []
    last, total = sizes[0]["seq"], 0
    for row in sizes:
        total += row["size"] or 0
        if total > max_bytes and row["seq"] != sizes[0]["seq"]:
            break
        last = row["seq"]
    rows = conn.execute(f"SELECT seq, event_id, topic, key, headers, value FROM outbox "
                        f"WHERE {_WAITING} AND seq <= ? ORDER BY seq LIMIT ?", (last, limit)).fetchall()
    return [(r["seq"], r["event_id"], r["topic"], r["key"], r["headers"], r["value"]) for r in rows]


#: Delivered rows kept for inspection; older ones are pruned as new ones are delivered.
KEEP_DELIVERED = 100_000


def _settle_and_read(conn: sqlite3.Connection, delivered: list[int], parked: list[tuple[int, str]],
                     limit: int, max_bytes: int) -> list[Row]:
    """:func:`_settle`, then :func:`_pending`: one hand-off to the database thread instead of two."""
    _settle(conn, delivered, parked)
    return _pending(conn, limit, max_bytes)


def _settle(conn: sqlite3.Connection, delivered: list[int], parked: list[tuple[int, str]]) -> None:
    """Record what one relay cycle achieved, row by row, in one transaction."""
    stamp = now_iso()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE outbox SET delivered_at = ? WHERE seq = ?", [(stamp, s) for s in delivered])
        conn.executemany("UPDATE outbox SET parked_at = ?, error = ? WHERE seq = ?",
                         [(stamp, reason, seq) for seq, reason in parked])
        if delivered:
            conn.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND seq <= ?",
                         (max(delivered) - KEEP_DELIVERED,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """``{"pending": n, "delivered": m, "parked": p}`` (parked rows are not pending)."""
    row = conn.execute("SELECT COUNT(*) - COUNT(delivered_at) - COUNT(parked_at), COUNT(delivered_at), "
                       "COUNT(parked_at) FROM outbox").fetchone()
    return {"pending": row[0], "delivered": row[1], "parked": row[2]}


#: Parked rows listed in full by ``/healthz`` (the count covers them all).
HEALTH_PARKED_LISTED = 10


def parked_rows(conn: sqlite3.Connection, limit: int | None = None) -> list[dict[str, Any]]:
    """Parked rows, oldest first: event id, topic, size, when and why."""
    rows = conn.execute("SELECT seq, event_id, topic, length(value) AS bytes, parked_at, error FROM outbox "
                        "WHERE parked_at IS NOT NULL ORDER BY seq LIMIT ?",
                        (-1 if limit is None else limit,)).fetchall()
    return [dict(r) for r in rows]


def outbox_health(conn: sqlite3.Connection) -> dict[str, Any]:
    """The outbox part of ``/healthz``: counts and the parked (dead-letter) rows."""
    return {**outbox_counts(conn), "parked_events": parked_rows(conn, HEALTH_PARKED_LISTED)}


def redrive(conn: sqlite3.Connection, event_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Put parked rows (all, or those with these event ids) back in the queue; return them.

    A re-driven row keeps its sequence number, so it goes out ahead of newer rows; if it still
    cannot be published it is parked again with the new reason.
    """
    chosen = parked_rows(conn)
    if event_ids is not None:
        wanted = set(event_ids)
        chosen = [r for r in chosen if r["event_id"] in wanted]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE outbox SET parked_at = NULL, error = NULL WHERE seq = ?",
                         [(r["seq"],) for r in chosen])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return chosen


def partition_for(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner (Kafka's murmur2 of the key), skipped for a topic of one
    partition: the gateway creates its topics so, and murmur2 in pure Python was ~3 % of the
    event loop's time per write (docs/benchmarks.md)."""
    if len(all_partitions) == 1:
        return all_partitions[0]
    return DefaultPartitioner()(key, all_partitions, available)


def _why(exc: BaseException) -> str:
    """A parked row's reason: the error's name and message."""
    return f"{type(exc).__name__}: {exc}"


class PoisonedRow(ValueError):
    """An outbox row that can never become a Kafka record (bad headers or topic)."""


def _record(row: Row) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """``(topic, key, value, headers)`` of a row, or :class:`PoisonedRow` saying what is wrong."""
    _seq, _event_id, topic, key, headers, value = row
    if not _TOPIC_NAME.match(topic or ""):
        raise PoisonedRow(f"topic {topic!r} is not a legal Kafka topic name")
    try:
        decoded = loads_json(headers)
    except (TypeError, ValueError) as exc:
        raise PoisonedRow(f"headers are not JSON: {exc}") from None
    if not isinstance(decoded, dict) or not all(isinstance(v, str) for v in decoded.values()):
        raise PoisonedRow("headers are not an object of strings")
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        raise PoisonedRow(f"value is {type(value).__name__}, not bytes")
    return (topic, key.encode() if key is not None else None, value,
            [(k, v.encode()) for k, v in decoded.items()])


@dataclass
class CycleOutcome:
    """What one publish cycle did with its rows."""

    delivered: list[int] = field(default_factory=list)
    parked: list[tuple[int, str]] = field(default_factory=list)
    #: The first error a retry may cure; the rows it hit stay queued.
    retry_error: BaseException | None = None
    #: Rows whose own send failed with such an error, and the error.
    failed: dict[int, BaseException] = field(default_factory=dict)


class OutboxRelay:
    """Publishes pending outbox rows to Kafka; survives the broker going away and coming back."""

    def __init__(self, store: DomainStore, bootstrap: str | None, poll_s: float = 0.5,
                 max_event_bytes: int = 1_048_576, topics: Iterable[str] = ()) -> None:
        self.store = store
        self.bootstrap = bootstrap
        #: The topics of the catalogue's domains (``topic_for``), created when the relay starts.
        self.topics = set(topics)
        self.poll_s = poll_s
        self.max_event_bytes = max_event_bytes
        self.delivered = 0
        self.parked = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._producer: Any = None
        #: seq -> cycles in which the row's send failed while others were delivered.
        self._strikes: dict[int, int] = {}
        #: Rows read right after the last cycle settled (:meth:`_cycle`); None: read anew.
        self._next: list[Row] | None = None
        #: The topics fresh metadata showed, and the producer's broker connections then
        #: (:meth:`_ensure_topics`); None until the next check.
        self._checked: tuple[set[str], list[tuple[Any, Any]]] | None = None

    def wake(self) -> None:
        """A transaction with an event committed: publish without waiting for the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self.bootstrap and self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._drop_producer()

    async def _pause(self, seconds: float) -> None:
        """Wait for a wake-up or ``seconds``; a wake-up since the last read ends it at once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _declare_topics(self) -> None:
        """Create the catalogue's topics before the first commit needs one.

        A consumer that starts before a topic exists (``apilog events --follow``, the checks'
        feed) finds it only at its next look at the broker's topic list, a second later; the
        first events of a fresh gateway waited that second, and the broker's first write to a
        new topic, behind their commits. A broker that is not there yet is no error here: the
        first publish creates what is missing, as it always does.
        """
        if not self.topics:
            return
        try:
            # Bounded short: a broker that accepts connections but does not answer must not
            # hold back the first cycle, which would wait for it again on its own.
            producer = await self._ensure_producer()
            await asyncio.wait_for(self._ensure_topics(producer, self.topics), DECLARE_TIMEOUT_S)
        except Exception as exc:
            log.info("outbox relay: topics not declared at start (%s); the first publish "
                     "creates them", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    async def _run(self) -> None:
        await self._declare_topics()
        backoff = 0.2
        while not self._stopping:
            try:
                waiting = await self._cycle()
            except Exception as exc:  # the database (disk full, locked): keep the relay alive
                self.last_error = _why(exc)
                log.warning("outbox relay: cannot read or settle the outbox (%s); retrying", self.last_error)
                waiting = None
            if waiting == 0:
                backoff = 0.2
                continue
            if waiting is not None:
                log.warning("outbox relay: Kafka unavailable (%s); %d event(s) wait", self.last_error, waiting)
                await self._drop_producer()
            self._wake.clear()  # a back-off is not cut short by the commits made meanwhile
            await self._pause(backoff)
            backoff = min(backoff * 2, 3.0)

    async def _cycle(self) -> int:
        """Publish one batch and settle it; return how many of its rows must be retried."""
        limits = (BATCH, max(BATCH_BYTES, self.max_event_bytes))
        rows, self._next = self._next, None
        if rows is None:
            # Cleared before the read, not before the wait: a commit that wakes the relay while
            # the read runs is then not lost (it used to wait out the poll, up to poll_s).
            self._wake.clear()
            rows = await self.store.run(_pending, *limits)
        if not rows:
            await self._pause(self.poll_s)
            return 0
        outcome = await self._publish(rows)
        self._strike(outcome)
        if outcome.delivered or outcome.parked:
            if outcome.retry_error is None:
                # The next batch is read in the settling hand-off (one database round trip per
                # cycle fewer: ~2,000 during apilog check); the wake-up is cleared before that
                # read, as above, so a commit the read misses still ends the next pause.
                self._wake.clear()
                self._next = await self.store.run(_settle_and_read, outcome.delivered,
                                                  outcome.parked, *limits)
            else:
                await self.store.run(_settle, outcome.delivered, outcome.parked)
            self.delivered += len(outcome.delivered)
            self.parked += len(outcome.parked)
            for seq, reason in outcome.parked:
                event_id = next(r[1] for r in rows if r[0] == seq)
                log.warning("outbox relay: event %s parked (dead letter), the others go on: %s; "
                            "`apilog gateway redrive --db %s` queues it again", event_id, reason,
                            self.store.path)
        if outcome.retry_error is None:
            self.last_error = None
            return 0
        exc = outcome.retry_error
        self.last_error = _why(exc)
        return len(rows) - len(outcome.delivered) - len(outcome.parked)

    def _strike(self, outcome: CycleOutcome) -> None:
        """Park rows that keep failing on their own while the broker takes the others."""
        if outcome.delivered:
            for seq, exc in outcome.failed.items():
                self._strikes[seq] = strikes = self._strikes.get(seq, 0) + 1
                if strikes >= STRIKES:
                    outcome.parked.append((seq, f"failed {strikes} times while other events went "
                                                f"through: {_why(exc)}"))
        for seq in [*outcome.delivered, *(p[0] for p in outcome.parked)]:
            self._strikes.pop(seq, None)

    async def _publish(self, rows: list[Row]) -> CycleOutcome:
        """Send ``rows`` in order; sort each into delivered, parked or still waiting."""
        outcome = await self._send(rows)
        if outcome.retry_error is not None:  # whatever went wrong, the next cycle asks afresh
            self._checked = None
        return outcome

    async def _send(self, rows: list[Row]) -> CycleOutcome:
        """Publish ``rows`` as record batches, one partition's rows in order per batch.

        A batch is built and handed to the producer whole (``send_batch``): one delivery future
        per batch instead of per record, which made the per-record ``send`` ~10 % of the
        gateway's event loop under load (docs/benchmarks.md). Outcomes stay per row: a record
        the producer would refuse for its size is parked on its own, as ``send`` refused it, and
        a batch the broker refuses for good is sent again record by record, so that only the
        row at fault is parked.
        """
        outcome = CycleOutcome()
        records: list[_Record] = []
        for row in rows:
            try:
                records.append((row[0], *_record(row)))
            except PoisonedRow as exc:
                outcome.parked.append((row[0], str(exc)))
        if not records:
            return outcome
        try:
            producer = await self._ensure_producer()
            await asyncio.wait_for(self._ensure_topics(producer, {r[1] for r in records}), ACK_TIMEOUT_S)
        except Exception as exc:  # Kafka down or refusing: every row waits
            outcome.retry_error = exc
            return outcome
        sent = await self._send_batches(producer, self._batches(producer, [records], outcome), outcome)
        again: list[_Batch] = []
        for batch, error in await self._acks(sent, outcome):
            if isinstance(error, PERMANENT_ERRORS) and len(batch[2]) > 1:
                again.extend(self._batches(producer, [[r] for r in batch[2]], outcome))
            else:
                self._sort(batch[2], error, outcome)
        if again:  # one record a batch: the broker's answer is then each row's own
            for batch, error in await self._acks(await self._send_batches(producer, again, outcome), outcome):
                self._sort(batch[2], error, outcome)
        outcome.delivered.sort()
        outcome.parked.sort()
        return outcome

    def _batches(self, producer: Any, groups: list[list[_Record]], outcome: CycleOutcome) -> list[_Batch]:
        """Record batches, in row order: per group, a batch for each partition's records, a new
        one whenever the last is full (the producer's batch size); no batch spans two groups."""
        cluster = producer.client.cluster
        limit = self.max_event_bytes
        spread: dict[str, tuple[list[int], list[int]]] = {}
        open_: dict[tuple[str, int], _Batch] = {}
        batches: list[_Batch] = []
        for group in groups:
            for record in group:
                seq, topic, key, value, headers = record
                if event_bytes(key, value, headers) > limit:
                    outcome.parked.append((seq, f"MessageSizeTooLargeError: the event is larger than "
                                                f"the producer's max_request_size ({limit} bytes)"))
                    continue
                if topic not in spread:  # as the producer's send partitions: by key, murmur2
                    partitions = sorted(cluster.partitions_for_topic(topic) or ())
                    spread[topic] = (partitions, sorted(cluster.available_partitions_for_topic(topic) or ())
                                     or partitions)
                partitions, available = spread[topic]
                partition = partition_for(key, partitions, available) if partitions else 0
                batch = open_.get((topic, partition))
                if batch is None or batch[3].append(timestamp=None, key=key, value=value, headers=headers) is None:
                    builder = producer.create_batch()
                    builder.append(timestamp=None, key=key, value=value, headers=headers)
                    batch = open_[topic, partition] = (topic, partition, [], builder)
                    batches.append(batch)
                batch[2].append(record)
            open_.clear()
        return batches

    @staticmethod
    async def _send_batches(producer: Any, batches: list[_Batch],
                            outcome: CycleOutcome) -> list[tuple[_Batch, asyncio.Future[Any]]]:
        """Hand ``batches`` to the producer in order; at the first that it refuses, that batch's
        rows and every later batch's wait for the next cycle."""
        sent: list[tuple[_Batch, asyncio.Future[Any]]] = []
        for batch in batches:
            try:
                sent.append((batch, await producer.send_batch(batch[3], batch[0], partition=batch[1])))
            except PERMANENT_ERRORS as exc:
                outcome.parked.extend((r[0], _why(exc)) for r in batch[2])
            except Exception as exc:
                outcome.retry_error = exc
                outcome.failed.update((r[0], exc) for r in batch[2])
                break
        return sent

    @staticmethod
    async def _acks(sent: list[tuple[_Batch, asyncio.Future[Any]]],
                    outcome: CycleOutcome) -> list[tuple[_Batch, BaseException | None]]:
        """Wait for the broker's answer to each batch; a batch without one in time waits for the
        next cycle (its rows neither delivered nor failed)."""
        if not sent:  # asyncio.wait refuses an empty list
            return []
        done, _unacked = await asyncio.wait([future for _batch, future in sent], timeout=ACK_TIMEOUT_S)
        answered: list[tuple[_Batch, BaseException | None]] = []
        for batch, future in sent:
            if future not in done:
                outcome.retry_error = outcome.retry_error or TimeoutError(
                    f"no acknowledgement within {ACK_TIMEOUT_S:.0f} s")
            else:
                answered.append((batch, future.exception()))
        return answered

    @staticmethod
    def _sort(records: list[_Record], error: BaseException | None, outcome: CycleOutcome) -> None:
        """File a batch's rows under delivered, parked or failed by the broker's answer."""
        if error is None:
            outcome.delivered.extend(r[0] for r in records)
        elif isinstance(error, PERMANENT_ERRORS):
            outcome.parked.extend((r[0], _why(error)) for r in records)
        else:
            outcome.retry_error = outcome.retry_error or error
            outcome.failed.update((r[0], error) for r in records)

    async def _ensure_topics(self, producer: Any, topics: set[str]) -> None:
        """Create missing topics before producing to them.

        A broker restarted with memory storage forgets its topics, and Tansu 0.6 takes a
        produce from a client with stale metadata without creating the topic: the records
        vanish and later produces fail. Asking for fresh metadata first (it fails while the
        broker is down, which keeps the rows pending) and creating what is missing avoids it.
        Topics are created with ``max.message.bytes`` = the gateway's event limit, so a broker
        that enforces it agrees with the 413 the gateway answers.

        The check is skipped while nothing it guards against can have happened since the last
        one: the topics were there, the producer still has the very same live connections to
        the broker (a restarted broker is a new connection; the old one is closed when the
        broker process goes), no send has failed since (:meth:`_publish` forgets the check)
        and aiokafka's own metadata still lists the topics. Asking every cycle was ~7 % of the
        gateway's CPU during ``apilog check`` (a cycle per commit at that pace, the whole
        cluster's metadata decoded each time) and as much work for the broker.
        """
        client = producer.client
        if (self._checked is not None and topics <= self._checked[0]
                and _live_connections(client) == self._checked[1]
                and topics <= client.cluster.topics()):
            return
        cluster = await client.fetch_all_metadata()
        present = set(cluster.topics())
        missing = sorted(topics - present)
        if not missing:
            self._checked = (present, _live_connections(client))
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="apilog-gateway",
                                    request_timeout_ms=5000)
        try:  # start inside: a timeout that lands while it connects still closes it
            await admin.start()
            config = {"max.message.bytes": str(self.max_event_bytes)}
            await admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1,
                                                topic_configs=config) for t in missing])
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await client.force_metadata_update()
        # Checked again next cycle: the first produce to a new topic proves the creation took.

    async def _ensure_producer(self) -> Any:
        if self._producer is None:
            # No idempotence and no transactions: Tansu 0.6 answers both with UnknownError.
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id="apilog-gateway",
                                        acks=1, enable_idempotence=False, linger_ms=0,
                                        partitioner=partition_for,
                                        max_request_size=self.max_event_bytes,
                                        request_timeout_ms=5000, retry_backoff_ms=100)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        self._checked = None
        self._next = None
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=5)
