"""100,000 events through the feed with a fixed buffer: memory stays flat."""

from __future__ import annotations

import gc
import resource

import pytest

from console.events.buffer import ID_MEMORY
from console.events.feed import EventFeed
from tests.events.conftest import binary_event, produce
from tests.support.broker import async_wait_until

TOTAL = 100_000
BUFFER = 1_000


@pytest.mark.slow
async def test_100k_events_pass_with_memory_bounded(kafka_broker, topic, pattern):
    await produce(kafka_broker.bootstrap, topic,
                  (binary_event(f"m-{i}", {"id": f"r{i}", "n": i}, subject=f"r{i}")
                   for i in range(TOTAL)))
    feed = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="earliest",
                     buffer_size=BUFFER)
    try:
        await feed.start()
        await async_wait_until(lambda: feed.status.received >= 20_000, 60, interval=0.05,
                               message="20,000 events")
        warm = rss_bytes()
        await async_wait_until(lambda: feed.status.received >= TOTAL, 120, interval=0.05,
                               message=f"{TOTAL} events")
        done = rss_bytes()
    finally:
        await feed.stop()
    assert feed.status.received == TOTAL and feed.status.duplicates == 0
    assert len(feed.buffer) == BUFFER and len(feed.buffer._ids) <= ID_MEMORY
    assert feed.snapshot(1)[0].id == f"m-{TOTAL - 1}"
    # Kept, 80,000 more decoded events would take ~150 MB; bounded, the process barely grows
    # (the ids remembered for de-duplication, ~6 MB for these 80,000, included).
    assert done - warm < 25 * 1024 * 1024, f"grew by {(done - warm) / 1e6:.1f} MB"


def rss_bytes() -> int:
    """Resident memory now (Linux), after a collection so that garbage does not count."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()
