"""Hand each new event to everyone who asked: iterators, waiters and callbacks.

The feed's loop must never wait for a reader, so every reader has its own bounded queue; one
that falls more than ``QUEUE_SIZE`` events behind loses its oldest ones rather than holding up
the feed (the buffer still has them). Callbacks run on the loop; one that raises is logged and
ignored so that a screen's bug cannot stop the feed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from console.events.decode import FeedEvent

QUEUE_SIZE = 10_000
#: Put in a reader's queue when there is nothing more for it (caught up, or the feed stopped).
END = object()
log = logging.getLogger(__name__)

Predicate = Callable[[FeedEvent], bool]


class Fanout:
    """The readers of one feed."""

    def __init__(self, on_event: Callable[[FeedEvent], object] | None = None,
                 on_update: Callable[[FeedEvent], object] | None = None) -> None:
        self.on_event = on_event
        self.on_update = on_update
        self._readers: set[asyncio.Queue[Any]] = set()
        self._until_end: set[asyncio.Queue[Any]] = set()
        self._waiters: list[tuple[Predicate, asyncio.Future[FeedEvent]]] = []

    def subscribe(self, until_end: bool = False) -> asyncio.Queue[Any]:
        """A queue of every event delivered from now on; ``until_end`` also gets :data:`END`
        once the feed has caught up with the end of the topics it found at start."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._readers.add(queue)
        if until_end:
            self._until_end.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        self._readers.discard(queue)
        self._until_end.discard(queue)

    @property
    def waiting_for_end(self) -> bool:
        return bool(self._until_end)

    def deliver(self, event: FeedEvent) -> None:
        """A new event: to every reader, every matching waiter, and ``on_event``."""
        for queue in self._readers:
            offer(queue, event)
        self._notify_waiters(event)
        if self.on_event is not None:
            call(self.on_event, event)

    def update(self, event: FeedEvent) -> None:
        """A newer copy of a delivered event (now linked): to waiters and ``on_update``."""
        self._notify_waiters(event)
        if self.on_update is not None:
            call(self.on_update, event)

    def caught_up(self) -> None:
        for queue in self._until_end:
            offer(queue, END)
        self._until_end.clear()

    def close(self) -> None:
        """The feed stopped: every reader's iteration ends."""
        for queue in self._readers | self._until_end:
            offer(queue, END)

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


def offer(queue: asyncio.Queue[Any], item: object) -> None:
    """Put without blocking the feed: a reader that fell far behind loses its oldest items."""
    while True:
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            queue.get_nowait()


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
