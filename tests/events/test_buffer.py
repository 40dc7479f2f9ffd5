"""The bounded buffer: newest first, each event once, positions per partition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from console.events.buffer import EventBuffer, text_filter
from console.events.decode import decode_record
from tests.events.conftest import ce_headers


def raw(offset: int, partition: int = 0, value: bytes = b"v"):
    return decode_record("gateway.events.customer", partition, offset, 0, None, value, None)


def ce(offset: int, event_id: str, partition: int = 0):
    return decode_record("gateway.events.customer", partition, offset, 0, b"r1", b"{}",
                         ce_headers(event_id))


def test_keeps_only_the_newest_size_events_newest_first():
    buffer = EventBuffer(10)
    for offset in range(25):
        buffer.add(raw(offset))
    assert len(buffer) == 10 and buffer.evicted == 15
    assert [e.offset for e in buffer.snapshot()] == list(range(24, 14, -1))
    assert [e.offset for e in buffer.snapshot(3)] == [24, 23, 22]


def test_refuses_the_same_position_and_the_same_cloudevent_id():
    buffer = EventBuffer(100)
    assert buffer.add(ce(0, "e-1"))
    assert not buffer.add(ce(0, "e-1"))          # re-read of the same record
    assert not buffer.add(ce(5, "e-1", partition=1))  # redelivery of the same event elsewhere
    assert buffer.add(ce(1, "e-2"))
    assert len(buffer) == 2 and buffer.duplicates == 2


def test_an_id_still_counts_once_after_its_event_left_the_ring():
    # A redelivery after a flood (more events than the ring holds) is still a duplicate.
    buffer = EventBuffer(2, id_memory=4)
    for offset in range(4):
        buffer.add(ce(offset, f"e-{offset}"))
    assert len(buffer) == 2
    assert not buffer.add(ce(99, "e-0"))
    assert (buffer.accepted, buffer.duplicates) == (4, 1)


def test_the_id_memory_stays_bounded_and_forgets_the_oldest():
    buffer = EventBuffer(2, id_memory=4)
    for offset in range(6):
        buffer.add(ce(offset, f"e-{offset}"))
    assert len(buffer._ids) == 4
    assert buffer.add(ce(99, "e-0"))
    assert not buffer.add(ce(98, "e-5"))


def test_a_new_epoch_makes_reused_offsets_new_events():
    buffer = EventBuffer(100)
    buffer.add(raw(0, value=b"old"))
    buffer.new_epoch("gateway.events.customer", 0)
    assert buffer.add(raw(0, value=b"new"))
    assert [e.data for e in buffer.snapshot()] == ["new", "old"]


def test_evicting_the_old_epoch_keeps_the_new_events_key():
    buffer = EventBuffer(1)
    buffer.add(raw(0, value=b"old"))
    buffer.new_epoch("gateway.events.customer", 0)
    buffer.add(raw(0, value=b"new"))
    assert not buffer.add(raw(0, value=b"new"))


def test_replace_swaps_in_the_linked_copy():
    buffer = EventBuffer(10)
    event = ce(0, "e-1")
    buffer.add(event)
    assert buffer.replace(replace(event, transaction_id="tx-1"))
    assert buffer.snapshot()[0].transaction_id == "tx-1"
    assert not buffer.replace(replace(ce(9, "e-unknown"), transaction_id="tx-2"))


def test_progress_reports_lag_per_partition():
    buffer = EventBuffer(10)
    buffer.set_progress("t", 0, 5, 12)
    buffer.set_progress("t", 1, 3, None)
    buffer.set_progress("t", 0, 8, None)
    assert buffer.lag() == {("t", 0): 4, ("t", 1): 0}
    assert buffer.positions() == {("t", 0): 8, ("t", 1): 3}


def test_text_filter_words_and_inversion():
    events = [ce(0, "e-1"), raw(1, value=b'{"kind": "legacy"}')]
    assert [e.offset for e in events if text_filter("add-record R1")(e)] == [0]
    assert [e.offset for e in events if text_filter("!add-record")(e)] == [1]
    assert [e.offset for e in events if text_filter("LEGACY")(e)] == [1]
    assert text_filter("  ") is None


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        EventBuffer(0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 3), st.integers(0, 30), st.one_of(st.none(), st.integers(0, 20))),
    st.tuples(st.just("reset"), st.integers(0, 3), st.just(0), st.none())), max_size=120),
    st.integers(1, 12))
def test_never_more_than_size_and_never_the_same_event_twice(operations, size):
    buffer = EventBuffer(size, id_memory=size)
    for kind, partition, offset, event_id in operations:
        if kind == "reset":
            buffer.new_epoch("gateway.events.customer", partition)
        elif event_id is None:
            buffer.add(raw(offset, partition))
        else:
            buffer.add(ce(offset, f"e-{event_id}", partition))
        held = buffer.snapshot()
        ids = [e.id for e in held if e.id is not None]
        assert len(held) <= size and len(ids) == len(set(ids))
        assert len(buffer._ids) <= size


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 30), st.sampled_from(
    [None, "a", "b", "c", "d", "e", "f"])), max_size=60),
       st.integers(1, 8), st.integers(1, 10), st.integers(1, 20))
def test_adding_a_batch_keeps_and_counts_what_adding_one_by_one_does(items, size, id_memory,
                                                                     cut):
    """The feed adds each fetched batch at once: duplicates within it, by position or id, ids
    forgotten and events evicted along the way, all as when added one at a time."""
    events = [raw(offset, partition) if event_id is None else ce(offset, event_id, partition)
              for partition, offset, event_id in items]
    one, many = EventBuffer(size, id_memory), EventBuffer(size, id_memory)
    many.new_epoch("gateway.events.customer", 1)
    one.new_epoch("gateway.events.customer", 1)
    kept_one = [event for event in events if one.add(event)]
    kept_many = many.add_many(events[:cut]) + many.add_many(events[cut:])
    assert kept_many == kept_one
    assert list(many) == list(one)
    assert (many.accepted, many.duplicates, many.evicted) == (
        one.accepted, one.duplicates, one.evicted)
    assert many._ids == one._ids


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("add"), st.integers(1, 5)),
                          st.tuples(st.just("replace"), st.integers(0, 40))), max_size=80),
       st.integers(1, 12))
def test_the_newest_size_events_are_kept_in_arrival_order_and_a_replaced_one_keeps_its_place(
        operations, size):
    """Batches and single adds of new events, and linked copies swapped in: the ring holds the
    newest ``size`` in the order they arrived, a replaced event where its first copy was."""
    buffer = EventBuffer(size)
    arrived: list = []  # the model: every event kept, oldest first
    offset = 0
    for kind, n in operations:
        if kind == "add":
            batch = [ce(offset + i, f"e-{offset + i}") for i in range(n)]
            offset += n
            if n == 1:
                buffer.add(batch[0])
            else:
                buffer.add_many(batch)
            arrived += batch
        elif arrived:
            at = n % len(arrived)
            linked = replace(arrived[at], transaction_id=f"tx-{n}")
            if buffer.replace(linked):
                arrived[at] = linked
    assert buffer.snapshot() == list(reversed(arrived[-size:]))
    assert list(buffer) == arrived[-size:]
    assert buffer.evicted == max(0, len(arrived) - size)
