"""Helpers for the event feed tests: real records on the real broker."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

_counter = itertools.count()


def ce_headers(event_id: str, *, type_: str = "apilog.customer.add-record",
               subject: str = "r1", traceparent: str | None = None,
               time: str = "2026-11-26T18:00:00Z") -> list[tuple[str, bytes]]:
    """The gateway's binary-mode CloudEvent headers (docs/contracts.md, kafka-event)."""
    headers = [("ce_specversion", b"1.0"), ("ce_id", event_id.encode()),
               ("ce_source", b"/gateway"), ("ce_type", type_.encode()),
               ("ce_time", time.encode()), ("ce_subject", subject.encode()),
               ("content-type", b"application/json")]
    if traceparent:
        headers.append(("ce_traceparent", traceparent.encode()))
    return headers


def binary_event(event_id: str, data: Any = None, **kwargs: Any) -> dict[str, Any]:
    """A record to :func:`produce`: a binary-mode CloudEvent keyed by its subject."""
    subject = kwargs.get("subject", "r1")
    return {"value": json.dumps(data if data is not None else {"id": subject}).encode(),
            "key": subject.encode(), "headers": ce_headers(event_id, **kwargs)}


async def produce(bootstrap: str, topic: str, records: Iterable[dict[str, Any]],
                  partition: int | None = 0) -> int:
    """Send every record and wait until the broker has them all; returns how many."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=r.get("value"), key=r.get("key"),
                                       headers=r.get("headers") or [], partition=partition,
                                       timestamp_ms=r.get("timestamp_ms"))
                   for r in records]
        for future in futures:
            await future
        return len(futures)
    finally:
        await producer.stop()


def ms(when: datetime) -> int:
    return int(when.replace(tzinfo=when.tzinfo or UTC).timestamp() * 1000)


@pytest.fixture
def topic() -> str:
    """A topic of the test's own that the default pattern matches."""
    return f"gateway.events.t{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pattern(topic: str) -> str:
    """A pattern that matches only this test's topic (the session broker is shared)."""
    import re

    return re.escape(topic)
