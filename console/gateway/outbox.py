"""The transactional outbox and its relay to Kafka.

A committed change writes its event into the ``outbox`` table in the same SQLite transaction
(:func:`enqueue`); the :class:`OutboxRelay` task then publishes pending rows in order and marks
them delivered. Kafka being down never fails a request: rows wait, the relay backs off and
retries with a fresh producer, and everything is delivered once the broker answers again
(at least once; consumers dedupe on ``ce_id``).

Events are CloudEvents 1.0 in the Kafka protocol binding's binary mode: attributes as ``ce_*``
headers, ``content-type`` for the data, the record id as the message key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import uuid
from typing import Any

from console.gateway.domains import DomainStore, now_iso

log = logging.getLogger("apilog.gateway.outbox")

TOPIC_PREFIX = "gateway.events."
BATCH = 500


def topic_for(domain: str) -> str:
    """``gateway.events.<domain>``."""
    return f"{TOPIC_PREFIX}{domain}"


def enqueue(conn: sqlite3.Connection, *, domain: str, action: str, subject: str | None,
            data: dict[str, Any], source: str, traceparent: str | None) -> str:
    """Write one event row inside the caller's transaction; return its event id (``ce_id``)."""
    event_id = str(uuid.uuid4())
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
    value = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    conn.execute("INSERT INTO outbox (event_id, topic, key, headers, value, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (event_id, topic_for(domain), subject, json.dumps(headers), value, headers["ce_time"]))
    return event_id


def _pending(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str, str | None, str, bytes]]:
    rows = conn.execute("SELECT seq, topic, key, headers, value FROM outbox "
                        "WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
    return [(r["seq"], r["topic"], r["key"], r["headers"], r["value"]) for r in rows]


#: Delivered rows kept for inspection; older ones are pruned as new ones are delivered.
KEEP_DELIVERED = 100_000


def _mark_delivered(conn: sqlite3.Connection, seqs: list[int]) -> None:
    stamp = now_iso()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("UPDATE outbox SET delivered_at = ? WHERE seq = ?", [(stamp, s) for s in seqs])
    conn.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND seq <= ?",
                 (max(seqs) - KEEP_DELIVERED,))
    conn.execute("COMMIT")


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """``{"pending": n, "delivered": m}``."""
    row = conn.execute("SELECT COUNT(*) - COUNT(delivered_at), COUNT(delivered_at) FROM outbox").fetchone()
    return {"pending": row[0], "delivered": row[1]}


class OutboxRelay:
    """Publishes pending outbox rows to Kafka; survives the broker going away and coming back."""

    def __init__(self, store: DomainStore, bootstrap: str | None, poll_s: float = 0.5) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.poll_s = poll_s
        self.delivered = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._producer: Any = None

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

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            rows = await self.store.run(_pending, BATCH)
            if not rows:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                continue
            try:
                await asyncio.wait_for(self._publish(rows), timeout=30)
            except Exception as exc:  # Kafka down or refusing: keep the rows, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay: Kafka unavailable (%s); %d event(s) wait",
                            self.last_error, len(rows))
                await self._drop_producer()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), backoff)
                backoff = min(backoff * 2, 3.0)
                continue
            backoff = 0.2
            self.last_error = None
            await self.store.run(_mark_delivered, [r[0] for r in rows])
            self.delivered += len(rows)

    async def _publish(self, rows: list[tuple[int, str, str | None, str, bytes]]) -> None:
        producer = await self._ensure_producer()
        await self._ensure_topics(producer, {r[1] for r in rows})
        futures = []
        for _seq, topic, key, headers, value in rows:
            header_list = [(k, v.encode()) for k, v in json.loads(headers).items()]
            futures.append(await producer.send(topic, value=value,
                                               key=key.encode() if key is not None else None,
                                               headers=header_list))
        await asyncio.gather(*futures)

    async def _ensure_topics(self, producer: Any, topics: set[str]) -> None:
        """Create missing topics before producing to them.

        A broker restarted with memory storage forgets its topics, and Tansu 0.6 takes a
        produce from a client with stale metadata without creating the topic: the records
        vanish and later produces fail. Asking for fresh metadata first (it fails while the
        broker is down, which keeps the rows pending) and creating what is missing avoids it.
        """
        cluster = await producer.client.fetch_all_metadata()
        missing = sorted(topics - set(cluster.topics()))
        if not missing:
            return
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="apilog-gateway",
                                    request_timeout_ms=5000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in missing])
        finally:
            await admin.close()
        await producer.client.force_metadata_update()

    async def _ensure_producer(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            # No idempotence and no transactions: Tansu refuses both (docs/dependencies.md).
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id="apilog-gateway",
                                        acks=1, enable_idempotence=False, linger_ms=2,
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
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=5)
