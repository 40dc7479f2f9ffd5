"""A bounded ring of recent events with duplicate suppression and per-partition positions.

The feed may run for days: the ring keeps the newest ``size`` events and forgets the rest, so
memory stays flat. Kafka delivery is at-least-once and the feed re-reads after a broker outage,
so the ring refuses an event it already holds, by position (topic, partition, offset), and
an event whose CloudEvent id it has seen among the last ``id_memory`` (or ``size``, if more)
ids, whether or not the event is still in the ring: a redelivery after a long flood still
counts once. When a partition's log is reset (a broker with memory storage restarted), its
offsets start again from 0: :meth:`EventBuffer.new_epoch` makes the old positions stop
counting as duplicates while their events stay visible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from console.events.decode import FeedEvent

TopicPartition = tuple[str, int]
PositionKey = tuple[str, int, int, int]  # topic, partition, epoch, offset
#: CloudEvent ids remembered for duplicate suppression (~8 MB for 100,000 36-character ids).
ID_MEMORY = 100_000


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """How far the feed has read one partition: ``position`` is the next offset to read."""

    position: int
    end: int | None

    @property
    def lag(self) -> int:
        return 0 if self.end is None else max(0, self.end - self.position)


class EventBuffer:
    """The newest ``size`` events in arrival order, each at most once."""

    def __init__(self, size: int = 10_000, id_memory: int = ID_MEMORY) -> None:
        if size < 1:
            raise ValueError(f"buffer size must be at least 1, not {size}")
        self.size = size
        #: Insertion order is arrival order (a replaced event keeps its place); the oldest key is
        #: the head of ``_order``. A dict and a deque, not an OrderedDict: evicting the oldest
        #: cost 0.74 µs an event with ``popitem(last=False)``, 0.36 µs this way.
        self._events: dict[PositionKey, FeedEvent] = {}
        self._order: deque[PositionKey] = deque()
        self._ids: set[str] = set()
        self._id_order: deque[str] = deque()
        self._id_memory = max(size, id_memory)
        self._epochs: dict[TopicPartition, int] = {}
        self._progress: dict[TopicPartition, PartitionProgress] = {}
        self.duplicates = 0
        self.evicted = 0
        self.accepted = 0

    def __len__(self) -> int:
        return len(self._events)

    def _key(self, event: FeedEvent) -> PositionKey:
        epoch = self._epochs.get((event.topic, event.partition), 0)
        return (event.topic, event.partition, epoch, event.offset)

    def holds(self, event: FeedEvent) -> bool:
        """True when this event (same position, or same CloudEvent id) is already here."""
        return self._key(event) in self._events or event.id in self._ids

    def add(self, event: FeedEvent) -> bool:
        """Keep ``event`` unless it is a duplicate; evict the oldest past ``size``."""
        if self.holds(event):
            self.duplicates += 1
            return False
        key = self._key(event)
        self._events[key] = event
        self._order.append(key)
        if event.id is not None:
            self._ids.add(event.id)
            self._id_order.append(event.id)
            if len(self._id_order) > self._id_memory:
                self._ids.discard(self._id_order.popleft())
        self.accepted += 1
        while len(self._events) > self.size:
            del self._events[self._order.popleft()]
            self.evicted += 1
        return True

    def add_many(self, events: list[FeedEvent]) -> list[FeedEvent]:
        """:meth:`add` for each of ``events`` in order (a fetched batch): the ones kept.

        The same outcome as adding them one by one, with the lookups done once per batch.
        """
        held = self._events
        arrived = self._order
        ids = self._ids
        order = self._id_order
        epochs = self._epochs
        size = self.size
        id_memory = self._id_memory
        kept: list[FeedEvent] = []
        tp: TopicPartition | None = None
        epoch = 0
        for event in events:
            if (event.topic, event.partition) != tp:
                tp = (event.topic, event.partition)
                epoch = epochs.get(tp, 0)
            key = (event.topic, event.partition, epoch, event.offset)
            event_id = event.id
            if key in held or event_id in ids:
                self.duplicates += 1
                continue
            held[key] = event
            arrived.append(key)
            if event_id is not None:
                ids.add(event_id)
                order.append(event_id)
                if len(order) > id_memory:
                    ids.discard(order.popleft())
            kept.append(event)
            if len(held) > size:
                del held[arrived.popleft()]
                self.evicted += 1
        self.accepted += len(kept)
        return kept

    def replace(self, event: FeedEvent) -> bool:
        """Swap in a newer copy of an event still held (e.g. once it is linked to a call)."""
        key = self._key(event)
        if key not in self._events:
            return False
        self._events[key] = event
        return True

    def get(self, topic: str, partition: int, offset: int) -> FeedEvent | None:
        """The held event at this position (of the partition's current log), if any."""
        return self._events.get((topic, partition, self._epochs.get((topic, partition), 0),
                                 offset))

    def new_epoch(self, topic: str, partition: int) -> None:
        """The partition's log was reset: its offsets start over and are new events again."""
        tp = (topic, partition)
        self._epochs[tp] = self._epochs.get(tp, 0) + 1
        self._progress.pop(tp, None)

    def snapshot(self, limit: int | None = None,
                 predicate: Callable[[FeedEvent], bool] | None = None) -> list[FeedEvent]:
        """Up to ``limit`` events, newest first, that satisfy ``predicate``."""
        out: list[FeedEvent] = []
        for event in reversed(self._events.values()):
            if predicate is None or predicate(event):
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def find(self, predicate: Callable[[FeedEvent], bool]) -> FeedEvent | None:
        """The newest event that satisfies ``predicate``."""
        found = self.snapshot(1, predicate)
        return found[0] if found else None

    def __iter__(self) -> Iterator[FeedEvent]:
        return iter(list(self._events.values()))

    # Per-partition progress ------------------------------------------------------------

    def set_progress(self, topic: str, partition: int, position: int, end: int | None) -> None:
        previous = self._progress.get((topic, partition))
        if end is None and previous is not None:
            end = previous.end
        if end is not None:
            end = max(end, position)
        self._progress[(topic, partition)] = PartitionProgress(position, end)

    def progress(self) -> dict[TopicPartition, PartitionProgress]:
        return dict(self._progress)

    def positions(self) -> dict[TopicPartition, int]:
        return {tp: p.position for tp, p in self._progress.items()}

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: p.lag for tp, p in self._progress.items()}


def text_filter(text: str | None) -> Callable[[FeedEvent], bool] | None:
    """A predicate for an operator's filter: case-insensitive substring, ``!`` to invert.

    Words separated by spaces must all match (``customer add-record``), as in k9s.
    """
    if text is None or not text.strip():
        return None
    query = text.strip()
    invert = query.startswith("!")
    words = query[1:].lower().split() if invert else query.lower().split()

    def matches(event: FeedEvent) -> bool:
        haystack = event.search_text()
        hit = all(word in haystack for word in words)
        return not hit if invert else hit

    return matches
