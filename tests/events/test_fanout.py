"""A reader's queue: complete readers hold the feed back, live readers say what they skip."""

from __future__ import annotations

import asyncio

from console.events.decode import decode_record
from console.events.fanout import END, Fanout, Reader, Skipped


def event(offset: int, partition: int = 0):
    return decode_record("gateway.events.customer", partition, offset, 0, None, b"x", None)


async def test_a_complete_reader_never_loses_an_event_and_holds_the_feed_back():
    fanout = Fanout(queue_size=3)
    reader = fanout.subscribe()
    for offset in range(3):
        fanout.deliver(event(offset))
    assert fanout.blocked
    waiting = asyncio.create_task(fanout.room())
    await asyncio.sleep(0)
    assert not waiting.done()  # the feed would wait here
    assert (await reader.get()).offset == 0
    await asyncio.wait_for(waiting, 1)
    fanout.deliver(event(3))
    fanout.deliver(event(4))  # past the bound without waiting: kept all the same
    assert [(await reader.get()).offset for _ in range(4)] == [1, 2, 3, 4]


async def test_a_reader_that_goes_away_no_longer_holds_the_feed_back():
    fanout = Fanout(queue_size=1)
    reader = fanout.subscribe()
    fanout.deliver(event(0))
    assert fanout.blocked
    fanout.unsubscribe(reader)
    assert not fanout.blocked
    await asyncio.wait_for(fanout.room(), 1)
    stopped = fanout.subscribe()
    fanout.deliver(event(1))
    fanout.close()
    fanout.deliver(event(2))  # a batch finishing after stop()
    await asyncio.wait_for(fanout.room(), 1)
    assert [await stopped.get() for _ in range(2)][1] is END


async def test_a_live_reader_skips_the_oldest_and_is_told_exactly_which():
    reader = Reader(size=3, live=True)
    for offset in range(10):
        reader.put(event(offset, partition=offset % 2))
    reader.end()
    items = [await reader.get() for _ in range(6)]
    skips = [Skipped("gateway.events.customer", 1, 1, 5, 3),
             Skipped("gateway.events.customer", 0, 0, 6, 4)]
    assert items == [skips[0], event(7, 1), skips[1], event(8, 0), event(9, 1), END]
    assert reader.skipped == skips

async def test_one_notice_per_run_of_skipped_events_given_before_the_next_of_its_partition():
    reader = Reader(size=2, live=True)
    for offset in range(5):
        reader.put(event(offset))
    assert await reader.get() == Skipped("gateway.events.customer", 0, 0, 2, 3)
    assert (await reader.get()).offset == 3
    reader.put(event(5))
    reader.put(event(6))  # drops 4
    assert await reader.get_many(10) == [Skipped("gateway.events.customer", 0, 4, 4, 1),
                                         event(5), event(6)]


def test_a_skip_describes_itself_as_the_operator_reads_it():
    many = Skipped("T", 0, 17747, 18536, 790)
    assert many.describe() == "skipped 790 events (offsets 17747–18536 of T[0])"
    assert many.where == "T[0]@17747-18536"
    assert Skipped("T", 2, 5, 5, 1).describe() == "skipped 1 event (offset 5 of T[2])"


def test_a_window_watch_counts_exactly_what_fell_out_between_two_looks():
    from console.events.fanout import WindowWatch

    fanout, watch = Fanout(), WindowWatch()
    for offset in range(5):
        fanout.deliver(event(offset))
    assert watch.look([event(o) for o in range(5)], fanout.tallies()) == []
    for offset in range(5, 30):
        fanout.deliver(event(offset, partition=offset % 2))
    # a window of 4 now holds 26..29: 5..25 arrived and fell out unseen (the offsets of one
    # partition are every other number here, so a range may name one the partition lacks)
    window = [event(o, partition=o % 2) for o in range(26, 30)]
    assert watch.look(window, fanout.tallies()) == [
        Skipped("gateway.events.customer", 0, 5, 25, 10),
        Skipped("gateway.events.customer", 1, 5, 26, 11)]
    fanout.deliver(event(31, partition=1))
    assert watch.look([], fanout.tallies()) == [Skipped("gateway.events.customer", 1, 30, 31, 1)]
    fanout.new_epoch("gateway.events.customer", 0)  # the broker came back empty
    fanout.deliver(event(0))
    assert watch.look([event(0)], fanout.tallies()) == []


async def test_a_group_commits_no_further_than_every_complete_reader_finished():
    fanout = Fanout()
    reader = fanout.subscribe()
    for offset in range(5):
        fanout.deliver(event(offset))
    assert fanout.handled_position("gateway.events.customer", 0, 5) == 0
    assert [e.offset for e in await reader.get_many(2)] == [0, 1]
    assert fanout.handled_position("gateway.events.customer", 0, 5) == 0  # 0, 1 still in hand
    await reader.get()  # asking again: done with 0 and 1
    assert fanout.handled_position("gateway.events.customer", 0, 5) == 2
    fanout.unsubscribe(reader)  # went away holding 2, with 3 and 4 queued
    assert fanout.handled_position("gateway.events.customer", 0, 5) == 2
    fanout.forget("gateway.events.customer", 0)  # the group gave the partition to another
    assert fanout.handled_position("gateway.events.customer", 0, 5) == 5


def test_a_batch_to_a_live_reader_drops_and_notes_as_one_at_a_time():
    one, many = Reader(size=3, live=True), Reader(size=3, live=True)
    events = [event(offset, partition=offset % 2) for offset in range(9)]
    for item in events:
        one.put(item)
    many.put_many(events[:2])
    many.put_many(events[2:])
    assert list(many._items) == list(one._items) and many._open == one._open


async def test_a_batch_is_delivered_in_order_and_counted_per_partition():
    seen = []
    fanout = Fanout(on_event=seen.append, queue_size=4)
    reader = fanout.subscribe()
    assert fanout.room_left == 4
    fanout.deliver_many([event(offset, partition=1) for offset in range(5, 8)])
    assert fanout.room_left == 1 and not fanout.blocked
    fanout.deliver_many([event(8, partition=1)])
    assert fanout.room_left == 0 and fanout.blocked
    assert [e.offset for e in seen] == [5, 6, 7, 8]
    assert [(await reader.get()).offset for _ in range(4)] == [5, 6, 7, 8]
    assert fanout.tallies()[("gateway.events.customer", 1)].count == 4
    assert (fanout.tallies()[("gateway.events.customer", 1)].first,
            fanout.tallies()[("gateway.events.customer", 1)].last) == (5, 8)
