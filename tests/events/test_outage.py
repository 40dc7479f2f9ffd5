"""The broker goes away and comes back (empty: memory storage) while the feed runs."""

from __future__ import annotations

from collections import Counter

from console.events.feed import EventFeed, event_matching
from tests.events.conftest import binary_event, produce
from tests.support.broker import async_wait_until

TOPIC = "gateway.events.customer"


def fast_feed(bootstrap: str, **kwargs) -> EventFeed:
    return EventFeed(bootstrap, start="earliest", refresh_interval=0.2, request_timeout=2,
                     max_backoff=0.5, **kwargs)


async def test_stopped_broker_is_reported_down_then_the_feed_resumes_by_itself(private_broker):
    statuses = []
    await produce(private_broker.bootstrap, TOPIC,
                  [binary_event(f"before-{i}") for i in range(3)] + [{"value": b"raw-before"}])
    async with fast_feed(private_broker.bootstrap, on_status=statuses.append) as feed:
        await async_wait_until(lambda: len(feed.buffer) == 4, 10, message="4 events before")
        private_broker.stop(timeout=0.5)
        await async_wait_until(lambda: feed.status.state == "down", 10, message="state down")
        down = feed.status
        private_broker.start()
        await async_wait_until(lambda: feed.status.state == "connected", 15, message="reconnect")
        await produce(private_broker.bootstrap, TOPIC,
                      [binary_event(f"after-{i}") for i in range(5)] + [{"value": b"raw-after"}])
        await async_wait_until(lambda: feed.buffer.find(lambda e: e.data == "raw-after"), 15,
                               message="the events produced after the restart")
        events = feed.snapshot()
        status = feed.status
    assert down.error and down.since <= status.since
    assert any(s.state == "down" for s in statuses)
    ids = Counter(e.id or e.data for e in events)
    assert set(ids) == {"before-0", "before-1", "before-2", "raw-before",
                        "after-0", "after-1", "after-2", "after-3", "after-4", "raw-after"}
    assert max(ids.values()) == 1, f"doubled: {ids}"
    assert [g.partition for g in status.gaps] == [0]
    assert status.gaps[0].previous_position == 4 and status.gaps[0].resumed_at == 0
    assert "offset 3 of the old log" in status.gaps[0].describe()


async def test_quick_restart_with_more_new_records_than_before_loses_and_doubles_nothing(
        private_broker):
    # The new log outgrows the old position before the feed reads it: only the changed record
    # at the old position tells the feed that this is another log.
    await produce(private_broker.bootstrap, TOPIC, [binary_event(f"old-{i}") for i in range(3)])
    async with fast_feed(private_broker.bootstrap) as feed:
        await async_wait_until(lambda: len(feed.buffer) == 3, 10, message="3 old events")
        private_broker.restart(grace=0.5)
        await produce(private_broker.bootstrap, TOPIC,
                      [binary_event(f"new-{i}") for i in range(8)] + [{"value": b"raw-new"}])
        assert await feed.wait_for(lambda e: e.data == "raw-new", 15) is not None
        for i in range(8):
            assert await feed.wait_for(event_matching(event_id=f"new-{i}"), 5) is not None
        events = feed.snapshot()
        status = feed.status
    ids = Counter(e.id or e.data for e in events)
    assert max(ids.values()) == 1, f"doubled: {ids}"
    assert len(events) == 12
    assert len(status.gaps) == 1 and status.gaps[0].resumed_at == 0
    assert status.state == "connected"


async def test_an_at_least_once_redelivery_is_not_doubled(private_broker):
    async with fast_feed(private_broker.bootstrap) as feed:
        await produce(private_broker.bootstrap, TOPIC, [binary_event("e-1"), binary_event("e-1")])
        await async_wait_until(lambda: feed.status.positions.get((TOPIC, 0)) == 2, 10,
                               message="both records read")
        assert [e.id for e in feed.snapshot()] == ["e-1"] and feed.status.duplicates == 1


async def test_a_longer_new_log_is_told_apart_by_the_record_at_the_old_position(private_broker):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from console.events.positions import Fingerprint, verify_after_reconnect

    tp = (TOPIC, 0)
    await produce(private_broker.bootstrap, TOPIC, [binary_event(f"old-{i}") for i in range(3)])

    async def last_record_and_check(known):
        consumer = AIOKafkaConsumer(bootstrap_servers=private_broker.bootstrap,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(*tp)])
            records = []
            while len(records) < 3:
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for rs in batch.values() for r in rs][: 3 - len(records)]
            fingerprint = known or {tp: Fingerprint.of(records[2])}
            resets = await verify_after_reconnect(consumer, {tp: 3}, fingerprint, {tp}, 5)
            return fingerprint, resets
        finally:
            await consumer.stop()

    fingerprints, unchanged = await last_record_and_check(None)
    assert unchanged == {}
    private_broker.restart(grace=0.5)
    await produce(private_broker.bootstrap, TOPIC, [binary_event(f"new-{i}") for i in range(9)])
    _, resets = await last_record_and_check(fingerprints)
    assert resets == {tp: (0, "offset 2 now holds another record")}


async def test_a_feed_started_before_its_broker_connects_when_the_broker_comes(private_broker):
    private_broker.stop(timeout=0.5)
    async with fast_feed(private_broker.bootstrap) as feed:
        await async_wait_until(lambda: feed.status.state == "down", 10, message="state down")
        assert "127.0.0.1" in feed.status.error
        private_broker.start()
        await produce(private_broker.bootstrap, TOPIC, [binary_event("late-broker")])
        assert await feed.wait_for(event_matching(event_id="late-broker"), 15) is not None
        assert feed.status.state == "connected" and feed.status.gaps == ()
