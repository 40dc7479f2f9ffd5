"""The feed against the real Tansu broker: start positions, raw records, waits, new topics."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from console.events.feed import EventFeed, FeedError, event_matching
from tests.events.conftest import binary_event, ms, produce
from tests.support.broker import async_wait_until

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def read_all(feed: EventFeed) -> list:
    return [event async for event in feed.read_until_end(connect_timeout=10)]


async def connected(feed: EventFeed) -> None:
    await async_wait_until(lambda: feed.status.state == "connected", 10, message="feed connected")


async def test_earliest_reads_what_was_written_before_the_feed_started(kafka_broker, topic, pattern):
    await produce(kafka_broker.bootstrap, topic,
                  [binary_event("e-1"), {"value": b"legacy text", "key": b"k"},
                   binary_event("e-2", traceparent=f"00-{TRACE}-00f067aa0ba902b7-01")])
    events = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern,
                                      start="earliest"))
    assert [(e.offset, e.mode, e.id) for e in events] == [
        (0, "binary", "e-1"), (1, "raw", None), (2, "binary", "e-2")]
    assert events[1].data == "legacy text" and events[1].key == "k"
    assert events[2].trace_id == TRACE


async def test_latest_skips_the_past_and_sees_what_comes_next(kafka_broker, topic, pattern):
    # One batch of four: Tansu then reports the log's end as 1 (the batch's base offset + 1).
    await produce(kafka_broker.bootstrap, topic, [binary_event(f"before-{i}") for i in range(4)])
    async with EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="latest") as feed:
        await connected(feed)
        assert feed.status.positions[(topic, 0)] == 4
        await produce(kafka_broker.bootstrap, topic, [binary_event("after")])
        found = await feed.wait_for(event_matching(event_id="after"), 10)
        assert found is not None and found.offset == 4
        assert [e.id for e in feed.snapshot()] == ["after"]


async def test_a_start_time_skips_older_records_although_tansu_answers_offset_zero(
        kafka_broker, topic, pattern):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    cut = datetime(2026, 1, 1, tzinfo=UTC)
    await produce(kafka_broker.bootstrap, topic, [
        {**binary_event("old-1"), "timestamp_ms": ms(cut - timedelta(hours=2))},
        {**binary_event("old-2"), "timestamp_ms": ms(cut - timedelta(seconds=1))},
        {**binary_event("new-1"), "timestamp_ms": ms(cut)},
        {**binary_event("new-2"), "timestamp_ms": ms(cut + timedelta(hours=1))},
    ])
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap)
    await consumer.start()
    try:
        answer = await consumer.offsets_for_times({TopicPartition(topic, 0): ms(cut)})
    finally:
        await consumer.stop()
    assert answer[TopicPartition(topic, 0)].offset == 0  # the quirk the feed must cope with
    events = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start=cut))
    assert [e.id for e in events] == ["new-1", "new-2"]


async def test_a_start_time_still_delivers_new_records_with_old_timestamps(kafka_broker, topic, pattern):
    cut = datetime(2026, 1, 1, tzinfo=UTC)
    await produce(kafka_broker.bootstrap, topic,
                  [{**binary_event("old"), "timestamp_ms": ms(cut - timedelta(days=1))}])
    async with EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start=cut) as feed:
        await connected(feed)
        await produce(kafka_broker.bootstrap, topic,
                      [{**binary_event("late"), "timestamp_ms": ms(cut - timedelta(days=1))}])
        assert await feed.wait_for(event_matching(event_id="late"), 10) is not None
        assert feed.buffer.find(event_matching(event_id="old")) is None


async def test_a_start_offset(kafka_broker, topic, pattern):
    await produce(kafka_broker.bootstrap, topic, [binary_event(f"e-{i}") for i in range(5)])
    events = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start=3))
    assert [e.offset for e in events] == [3, 4]


async def test_topics_created_later_are_read_from_their_start(kafka_broker):
    prefix = f"gateway.events.late-{uuid.uuid4().hex[:8]}"
    async with EventFeed(kafka_broker.bootstrap, topic_pattern=re.escape(prefix) + r"\..*",
                         refresh_interval=0.2) as feed:
        await connected(feed)
        await produce(kafka_broker.bootstrap, f"{prefix}.invoice",
                      [binary_event("first"), binary_event("second")])
        assert await feed.wait_for(event_matching(event_id="second"), 10) is not None
        assert [e.id for e in feed.snapshot()] == ["second", "first"]


async def test_only_matching_topics_are_read(kafka_broker, topic, pattern):
    await produce(kafka_broker.bootstrap, topic + "-other", [binary_event("elsewhere")])
    await produce(kafka_broker.bootstrap, topic, [binary_event("here")])
    events = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern,
                                      start="earliest"))
    assert [e.id for e in events] == ["here"]


async def test_wait_for_finds_buffered_and_future_events_by_id_or_trace(kafka_broker, topic, pattern):
    async with EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="earliest") as feed:
        await connected(feed)
        await produce(kafka_broker.bootstrap, topic, [binary_event("a")])
        assert (await feed.wait_for(event_matching(event_id="a"), 10)).id == "a"
        assert (await feed.wait_for(event_matching(event_id="a"), 0.01)).id == "a"  # buffered
        await produce(kafka_broker.bootstrap, topic,
                      [binary_event("b", traceparent=f"00-{TRACE}-00f067aa0ba902b7-01")])
        found = await feed.wait_for(event_matching(trace_id=TRACE.upper()), 10)
        assert found is not None and found.id == "b"
        assert await feed.wait_for(event_matching(event_id="never"), 0.3) is None


async def test_events_iterator_snapshot_filter_status_and_callbacks(kafka_broker, topic, pattern):
    seen, statuses = [], []
    feed = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="earliest",
                     on_event=seen.append, on_status=statuses.append)
    stream = feed.events()
    await feed.start()
    await produce(kafka_broker.bootstrap, topic,
                  [binary_event("c-1", subject="cust-1"), {"value": b"noise"},
                   binary_event("c-2", subject="cust-2")])
    got = [await anext(stream) for _ in range(3)]
    await async_wait_until(lambda: feed.status.positions.get((topic, 0)) == 3, 10,
                           message="position 3")
    status = feed.status
    await feed.stop()
    assert [e.offset for e in got] == [0, 1, 2] == [e.offset for e in seen]
    assert [e.id for e in feed.snapshot(filter="cust-2")] == ["c-2"]
    assert [e.offset for e in feed.snapshot(filter="!noise")] == [2, 0]
    assert status.state == "connected" and status.received == 3 and status.lag == 0
    assert status.lag_by_partition[(topic, 0)] == 0
    assert statuses[0].state == "connected"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.slow
async def test_a_consumer_group_resumes_where_it_left_off(kafka_broker, topic, pattern):
    group = f"apilog-test-{uuid.uuid4().hex[:8]}"
    await produce(kafka_broker.bootstrap, topic, [binary_event("g-1"), binary_event("g-2")])
    first = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern,
                                     start="earliest", group_id=group))
    await produce(kafka_broker.bootstrap, topic, [binary_event("g-3")])
    second = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern,
                                      start="earliest", group_id=group))
    assert [e.id for e in first] == ["g-1", "g-2"]
    assert [e.id for e in second] == ["g-3"]


async def test_an_unreachable_broker_is_reported_down_and_named(topic):
    from console.events.broker import free_port

    address = f"127.0.0.1:{free_port()}"
    feed = EventFeed(address, start="earliest", request_timeout=1)
    with pytest.raises(FeedError, match=re.escape(address)):
        await read_all_with_timeout(feed)
    assert feed.status.state == "down" and "bootstrap" in feed.status.error


async def read_all_with_timeout(feed: EventFeed) -> list:
    return [event async for event in feed.read_until_end(connect_timeout=1.5)]


def test_a_bad_pattern_or_start_is_refused_with_the_fix():
    with pytest.raises(FeedError, match="not a valid regular expression"):
        EventFeed("127.0.0.1:1", topic_pattern="(")
    with pytest.raises(ValueError, match="latest, earliest, an ISO-8601 time"):
        EventFeed("127.0.0.1:1", start="tomorrow")


async def test_profile_client_settings_are_taken_as_they_are(kafka_broker, topic, pattern):
    from console.config import Profile

    await produce(kafka_broker.bootstrap, topic, [binary_event("k-1")])
    profile = Profile(name="plain", kafka_bootstrap=kafka_broker.bootstrap)
    events = await read_all(EventFeed(kafka_broker.bootstrap, topic_pattern=pattern,
                                      start="earliest", kafka_kwargs=profile.kafka_client_kwargs()))
    assert [e.id for e in events] == ["k-1"]


@pytest.mark.slow
async def test_a_redelivered_event_counts_once_even_after_a_flood(kafka_broker, topic, pattern,
                                                                   tmp_path):
    """The gateway's outbox delivers at least once: the same CloudEvent id at two offsets, more
    events between them than the ring holds, is delivered, linked and counted once."""
    from types import SimpleNamespace

    from console.txlog import TransactionLog

    log = TransactionLog(tmp_path / "tx.db")
    tx_id = log.begin(method="POST", path="/customer", action="add-record")
    log.finish(tx_id, SimpleNamespace(
        outcome="committed", status=201, rolled_back=False, event_id="dup-1", elapsed_ms=1.0,
        sla_ms=None, sla_ok=None, request_id=None, trace_id=None, response_headers={},
        response_body="", request_headers={}, request_body="", error=None, attempts=[1]))
    await produce(kafka_broker.bootstrap, topic,
                  [binary_event("dup-1")] + [binary_event(f"other-{i}") for i in range(30)]
                  + [binary_event("dup-1")])
    feed = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="earliest",
                     buffer_size=10, txlog=log, link_inline=True)
    try:
        events = await read_all(feed)
    finally:
        log.close()
    ids = [e.id for e in events]
    assert len(ids) == 31 and ids.count("dup-1") == 1
    assert events[0].transaction_id == tx_id
    assert (feed.status.received, feed.status.duplicates) == (31, 1)
    assert feed.correlator.linked == 1 and feed.correlator.checked == 31


@pytest.mark.slow
async def test_batches_lose_nothing_and_keep_each_partitions_order(kafka_broker, topic, pattern):
    """Each fetched batch is decoded, deduplicated and delivered at once, but only as far as
    a reader's small queue has room: every event once, in offset order per partition, a
    redelivered id dropped wherever in a batch it falls."""
    import asyncio

    from tests.events.test_backpressure import PARTITIONS, create_topic, produce_spread

    per_partition = 300
    items = [binary_event(f"s-{i}") for i in range(PARTITIONS * per_partition)]
    items[-PARTITIONS] = binary_event("s-0")  # partition 0 ends with its first id again
    await create_topic(kafka_broker.bootstrap, topic)
    await produce_spread(kafka_broker.bootstrap, topic, items)
    called: list[tuple[int, int]] = []
    queued: list[int] = []  # what the reader had waiting at each delivery: never past 5

    def on_event(event) -> None:
        called.append((event.partition, event.offset))
        queued.append(max(len(reader) for reader in feed.readers._readers))

    feed = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="earliest",
                     buffer_size=50, max_batch=7, queue_size=5, on_event=on_event)
    read: list[tuple[int, int]] = []
    async for event in feed.read_until_end(connect_timeout=10):
        read.append((event.partition, event.offset))
        if len(read) % 3 == 0:
            await asyncio.sleep(0)  # a reader slower than the feed: its queue fills
    expected = {p: list(range(per_partition)) for p in range(PARTITIONS)}
    expected[0].remove(per_partition - 1)
    for seen in (read, called):
        by_partition: dict[int, list[int]] = {}
        for partition, offset in seen:
            by_partition.setdefault(partition, []).append(offset)
        assert by_partition == expected
    assert (feed.status.received, feed.status.duplicates) == (len(read), 1)
    assert max(queued) == 5
    assert {tp[1]: tally.count for tp, tally in feed.delivered().items()} == {
        p: len(offsets) for p, offsets in expected.items()}


async def test_feeds_and_a_gateway_share_the_collectors_settings_and_the_last_restores_them(
        kafka_broker, topic, pattern, tmp_path):
    """A feed keeps its buffer of events on purpose, as a gateway keeps its access log: while
    either runs, the collector's young passes are rarer (console.collector); the feed's full
    pass still comes now and then, the console's screens making cycles; together they take the
    more frequent; the last to stop, whichever kind, puts back what there was before."""
    import gc

    from console.collector import FEED, GATEWAY
    from console.gateway.server import GatewayServer
    from console.gateway.settings import GatewaySettings

    # Whatever there is before: the suite's own gateways may be serving in this process.
    before = gc.get_threshold()
    first = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="latest")
    second = EventFeed(kafka_broker.bootstrap, topic_pattern=pattern, start="latest")
    gateway = None
    try:
        await first.start()
        await connected(first)
        assert gc.get_threshold() == FEED == (20_000, 10, 50)
        await second.start()
        settings = GatewaySettings(port=0, db_path=tmp_path / "gw.db", client_secret="s")
        gateway = GatewayServer(settings).start()
        await connected(second)
        assert gc.get_threshold() == FEED  # with the gateway's (20,000, 50, 1,000): the more frequent
        await first.stop()
        assert gc.get_threshold() == FEED  # the second still reads
        await second.stop()
        assert gc.get_threshold() == GATEWAY  # the gateway serves on
    finally:
        await first.stop()
        await second.stop()
        if gateway is not None:
            gateway.stop()
    assert gc.get_threshold() == before
