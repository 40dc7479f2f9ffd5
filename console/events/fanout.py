"""Hand each new event to everyone who asked: readers, waiters and callbacks.

A reader is one of two kinds, and the difference is what happens when it falls behind:

- a **complete** reader (the default: ``apilog events`` into a file or a script, anything that
  counts) holds the feed back. Once ``size`` events wait in its queue the feed stops reading
  until the reader has taken some, so the feed reads no further ahead of it than that and
  nothing is ever dropped;
- a **live** reader (a screen, ``--follow`` on a terminal) must not hold the feed back, so once
  ``size`` events wait it drops the oldest. It is never silent about it: before the next event
  of that partition (or the end) it receives a :class:`Skipped` naming the offsets it missed,
  which the feed's buffer or the broker can still supply.

Callbacks run on the loop; one that raises is logged and ignored so that a screen's bug cannot
stop the feed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.events.decode import FeedEvent

#: Events a reader may have waiting before the feed waits (complete) or drops (live).
QUEUE_SIZE = 10_000
#: Put in a reader's queue when there is nothing more for it (caught up, or the feed stopped).
END = object()
log = logging.getLogger(__name__)

Predicate = Callable[[FeedEvent], bool]


@dataclass(frozen=True, slots=True)
class Skipped:
    """``count`` events of ``topic[partition]`` from ``first`` to ``last`` that a live reader
    fell too far behind to receive."""

    topic: str
    partition: int
    first: int
    last: int
    count: int

    @property
    def where(self) -> str:
        """``T[0]@17747-18536``: what ``apilog events --load`` takes."""
        return f"{self.topic}[{self.partition}]@{self.first}-{self.last}"

    def describe(self) -> str:
        offsets = f"offset {self.first}" if self.first == self.last else \
            f"offsets {self.first}–{self.last}"
        noun = "event" if self.count == 1 else "events"
        return f"skipped {self.count} {noun} ({offsets} of {self.topic}[{self.partition}])"

    def merged(self, offset: int) -> Skipped:
        return Skipped(self.topic, self.partition, min(self.first, offset),
                       max(self.last, offset), self.count + 1)


class Reader:
    """One reader's queue: events, :class:`Skipped` notices (live readers) and :data:`END`."""

    def __init__(self, size: int = QUEUE_SIZE, live: bool = False, until_end: bool = False) -> None:
        if size < 1:
            raise ValueError(f"a reader's queue must hold at least 1 event, not {size}")
        self.size = size
        self.live = live
        self.until_end = until_end
        #: Every event this reader missed, in the order it missed them (live readers only).
        self.skipped: list[Skipped] = []
        self._items: deque[Any] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._open: dict[tuple[str, int], Skipped] = {}
        self._closed = False
        #: What the last get()/get_many() returned: handled once the reader asks again.
        self._handed: list[Any] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return not self._room.is_set()

    def put(self, event: FeedEvent) -> None:
        """Queue ``event``; a live reader past ``size`` drops its oldest event (noting it)."""
        self.put_many((event,))

    def put_many(self, events: Sequence[FeedEvent]) -> None:
        """Queue ``events`` in order; a live reader past ``size`` drops its oldest events."""
        items = self._items
        items.extend(events)
        if self.live:
            for _ in range(len(items) - self.size):
                self._drop_oldest()
        elif len(items) >= self.size and not self._closed:
            self._room.clear()
        self._ready.set()

    @property
    def room_left(self) -> int:
        """Events this reader takes before it holds a complete feed back."""
        return sys.maxsize if self._closed or self.live else self.size - len(self._items)

    def end(self) -> None:
        """Nothing more for now: the reader's iteration ends once it has taken what is queued."""
        self._items.append(END)
        self._ready.set()

    def close(self) -> None:
        """The reader is gone, or the feed stopped: never hold the feed back for it again."""
        self._closed = True
        self._room.set()

    async def room(self) -> None:
        """Return once the reader can take another event (or no longer takes any)."""
        await self._room.wait()

    async def get(self) -> Any:
        """The next event, :class:`Skipped` notice, or :data:`END`.

        Asking again means the reader is done with what it was given before (see
        :meth:`pending_from`)."""
        self._handed = [await self._next()]
        return self._handed[0]

    async def get_many(self, limit: int) -> list[Any]:
        """At least one item, and up to ``limit`` of those already waiting (ending at END)."""
        self._handed = []
        out = self._handed
        out.append(await self._next())
        while len(out) < limit and out[-1] is not END and (self._items or self._open):
            out.append(await self._next())  # returns at once: something is waiting
        return list(out)

    def pending_from(self, topic: str, partition: int) -> int | None:
        """The offset of the oldest event of the partition this reader has not finished with
        (still queued, or handed out and not yet followed by another request), if any."""
        for item in self._handed:
            if isinstance(item, FeedEvent) and (item.topic, item.partition) == (topic, partition):
                return item.offset
        for item in self._items:
            if isinstance(item, FeedEvent) and (item.topic, item.partition) == (topic, partition):
                return item.offset
        return None

    def done(self) -> None:
        """The reader has finished with everything it was given."""
        self._handed = []

    def unfinished(self) -> dict[tuple[str, int], int]:
        """Per partition, the oldest offset this reader has not finished with."""
        oldest: dict[tuple[str, int], int] = {}
        for item in (*self._handed, *self._items):
            if isinstance(item, FeedEvent):
                oldest.setdefault((item.topic, item.partition), item.offset)
        return oldest

    async def _next(self) -> Any:
        while True:
            if self._open:
                notice = self._due_notice()
                if notice is not None:
                    return notice
            if self._items:
                item = self._items.popleft()
                if len(self._items) < self.size:
                    self._room.set()
                return item
            self._ready.clear()
            await self._ready.wait()

    def _drop_oldest(self) -> None:
        items = self._items
        for index, item in enumerate(items):
            if isinstance(item, FeedEvent):
                del items[index]
                tp = (item.topic, item.partition)
                current = self._open.get(tp)
                self._open[tp] = (current.merged(item.offset) if current is not None else
                                  Skipped(item.topic, item.partition, item.offset, item.offset, 1))
                return

    def _due_notice(self) -> Skipped | None:
        """A run of dropped events ends where the reader would take the next event of the same
        partition, or the end: tell it then, so one notice covers the whole run."""
        head = self._items[0] if self._items else END
        if isinstance(head, FeedEvent):
            tp = (head.topic, head.partition)
            if tp not in self._open:
                return None
        else:
            tp = next(iter(self._open))
        notice = self._open.pop(tp)
        self.skipped.append(notice)
        del self.skipped[:-1000]
        return notice


@dataclass(frozen=True, slots=True)
class Tally:
    """How many events of one partition the feed has delivered, and the first and last offset,
    since the partition's log last started over (``epoch``: how many times it did)."""

    count: int
    first: int
    last: int
    epoch: int = 0


class WindowWatch:
    """What a view of the newest delivered events never showed.

    A screen that copies a bounded window of the newest events (the console's Events view)
    sees, at each look, the events that arrived since its last look and are still in the
    window; the rest of those arrivals fell out of the window unseen. Per partition the
    feed's :class:`Tally` says how many were delivered, so the count is exact, and the offsets
    run from just after what the view last accounted for to just before what it sees now.
    """

    def __init__(self) -> None:
        #: tp -> (epoch, count, last offset) accounted for: shown, or reported skipped
        self._accounted: dict[tuple[str, int], tuple[int, int, int]] = {}

    def look(self, new: Sequence[FeedEvent], tallies: Mapping[tuple[str, int], Tally]
             ) -> list[Skipped]:
        """``new``: the events that arrived since the last look and are still in the window,
        oldest first; ``tallies``: the feed's :meth:`Fanout.tallies` now."""
        seen: dict[tuple[str, int], list[int]] = {}
        for event in new:
            seen.setdefault((event.topic, event.partition), []).append(event.offset)
        skips = []
        for tp, tally in tallies.items():
            epoch, count, last = self._accounted.get(tp, (tally.epoch, 0, tally.first - 1))
            if epoch != tally.epoch:  # the partition's log started over: so does the count
                count, last = 0, tally.first - 1
            offsets = seen.get(tp, [])
            missed = tally.count - count - len(offsets)
            if missed > 0:
                upto = offsets[0] - 1 if offsets else tally.last
                skips.append(Skipped(tp[0], tp[1], last + 1, upto, missed))
            self._accounted[tp] = (tally.epoch, tally.count, offsets[-1] if offsets else tally.last)
        return skips


class Fanout:
    """The readers of one feed."""

    def __init__(self, on_event: Callable[[FeedEvent], object] | None = None,
                 on_update: Callable[[FeedEvent], object] | None = None,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.on_event = on_event
        self.on_update = on_update
        self.queue_size = queue_size
        self._readers: set[Reader] = set()
        self._complete: set[Reader] = set()
        self._waiters: list[tuple[Predicate, asyncio.Future[FeedEvent]]] = []
        self._tallies: dict[tuple[str, int], list[int]] = {}  # tp -> [count, first, last, epoch]
        #: tp -> oldest offset a complete reader left behind unfinished when it unsubscribed
        self._abandoned: dict[tuple[str, int], int] = {}

    def tallies(self) -> dict[tuple[str, int], Tally]:
        """Per partition: how many events were delivered, the first and the last offset."""
        return {tp: Tally(*values) for tp, values in self._tallies.items()}

    def new_epoch(self, topic: str, partition: int) -> None:
        """The partition's log started over (a broker with memory storage restarted)."""
        tally = self._tallies.get((topic, partition))
        if tally is not None:
            tally[:] = [0, -1, -1, tally[3] + 1]

    def subscribe(self, until_end: bool = False, live: bool = False,
                  size: int | None = None) -> Reader:
        """A reader of every event delivered from now on (see the module doc for ``live``);
        ``until_end`` also gets :data:`END` once the feed has caught up with the end of the
        topics it found at start."""
        reader = Reader(size or self.queue_size, live=live, until_end=until_end)
        self._readers.add(reader)
        if not live:
            self._complete.add(reader)
        return reader

    def unsubscribe(self, reader: Reader) -> None:
        """The reader is gone; what it left unfinished still holds a group's commit back."""
        reader.close()
        self._readers.discard(reader)
        if reader in self._complete:
            self._complete.discard(reader)
            for tp, offset in reader.unfinished().items():
                self._abandoned[tp] = min(offset, self._abandoned.get(tp, offset))

    def forget(self, topic: str, partition: int) -> None:
        """The partition is no longer this feed's to commit (a group took it away)."""
        self._abandoned.pop((topic, partition), None)

    @property
    def waiting_for_end(self) -> bool:
        return any(reader.until_end for reader in self._readers)

    @property
    def blocked(self) -> bool:
        """True when a complete reader has ``size`` events waiting: the feed must wait."""
        return any(reader.full for reader in self._complete)

    async def room(self) -> None:
        """Return once every complete reader can take another event."""
        for reader in list(self._complete):
            await reader.room()

    def handled_position(self, topic: str, partition: int, delivered: int) -> int:
        """Where a consumer group may resume this partition without losing anything: the
        oldest event a complete reader has not finished with, else ``delivered``."""
        pending = [offset for reader in self._complete
                   if (offset := reader.pending_from(topic, partition)) is not None]
        if (topic, partition) in self._abandoned:
            pending.append(self._abandoned[(topic, partition)])
        return min(pending, default=delivered)

    @property
    def room_left(self) -> int:
        """Events every complete reader takes before the feed must wait for :meth:`room`."""
        return min((reader.room_left for reader in self._complete), default=sys.maxsize)

    def deliver_many(self, events: Sequence[FeedEvent]) -> None:
        """:meth:`deliver` for each of ``events``: consecutive new events of one partition.

        Every reader gets them all in one go, then waiters and ``on_event`` see each in turn.
        """
        if not events:
            return
        first, last = events[0], events[-1]
        tally = self._tallies.get((first.topic, first.partition))
        if tally is None:
            self._tallies[(first.topic, first.partition)] = [len(events), first.offset,
                                                             last.offset, 0]
        else:
            if tally[0] == 0:
                tally[1] = first.offset
            tally[0] += len(events)
            tally[2] = last.offset
        for reader in self._readers:
            reader.put_many(events)
        if self._waiters:
            for event in events:
                self._notify_waiters(event)
        if self.on_event is not None:
            on_event = self.on_event
            for event in events:
                call(on_event, event)

    def deliver(self, event: FeedEvent) -> None:
        """A new event: to every reader, every matching waiter, and ``on_event``.

        Never drops for a complete reader: a caller that did not wait for :meth:`room` only
        makes its queue longer.
        """
        self.deliver_many((event,))

    def update(self, event: FeedEvent) -> None:
        """A newer copy of a delivered event (now linked): to waiters and ``on_update``."""
        self._notify_waiters(event)
        if self.on_update is not None:
            call(self.on_update, event)

    def caught_up(self) -> None:
        for reader in self._readers:
            if reader.until_end:
                reader.until_end = False
                reader.end()

    def close(self) -> None:
        """The feed stopped: every reader's iteration ends after what it already has."""
        for reader in self._readers:
            reader.close()
            reader.end()

    async def wait_for(self, predicate: Predicate, timeout: float) -> FeedEvent | None:
        """The next delivered or updated event matching ``predicate``, or None at the timeout."""
        future: asyncio.Future[FeedEvent] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _notify_waiters(self, event: FeedEvent) -> None:
        for predicate, future in self._waiters:
            if not future.done() and _matches(predicate, event):
                future.set_result(event)


def call(callback: Callable[[Any], object], value: Any) -> None:
    try:
        callback(value)
    except Exception:  # a screen's callback must not stop the feed
        log.exception("event feed callback %r failed", callback)


def _matches(predicate: Predicate, event: FeedEvent) -> bool:
    try:
        return bool(predicate(event))
    except Exception:  # noqa: BLE001 - a faulty predicate simply does not match
        return False
