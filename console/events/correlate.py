"""Link CloudEvents to the calls that caused them, through the transaction log.

The log does the matching (``TransactionLog.link_events`` finds the transaction by event id or
trace id, records the link both ways with the delay, and returns the transaction id). This
module decides when to ask: every CloudEvent once, and again a few times over a few seconds
when no transaction matched yet, because the gateway publishes right after its commit and the
event can reach the feed before the caller has written its transaction. Only recent events are
retried: an old event (read from the start of a topic) whose call is not in the log now never
will be, and most events on a shared cluster belong to other operators' calls. Nor is an event
the log did not match while no call in it was under way: a call is begun before its request
leaves, so a call that could claim the event would have been under way.

Delivery is at least once, so the same event id can come again (a redelivery, or the operator
loading what a screen skipped): the correlator asks about each id once and counts it once,
answering a repeat from what it learnt (for the last ``ID_MEMORY`` ids it asked about).

SQLite wants one thread per connection and must not block the event loop, so every call to the
log runs on one dedicated worker thread.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import operator
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from console.events.decode import FeedEvent, linked_copy, trace_ids_of

log = logging.getLogger(__name__)

_ID = operator.attrgetter("id")
_TRANSACTION_ID = operator.attrgetter("transaction_id")
_MODE = operator.attrgetter("mode")

#: Seconds to wait before each new attempt for an event no transaction matched yet.
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
#: Events the background linker hands the log at most in one go (one write transaction).
MAX_LINK_BATCH = 5000
#: Seconds the background linker lets a small batch gather company before linking it. A live
#: feed (the console's) hands over events a few milliseconds after their commit, before the
#: caller has written its outcome: linked at once, most found no call yet and were asked again
#: 0.2 s later, each ask one write transaction of the log (linking was 8 % of the console's
#: CPU during a :check against 3.5 % in the CLI's, py-spy). The line is shown at once either
#: way; only its link to the call follows this much later.
LINK_SETTLE_S = 0.1
#: ... when it holds fewer events than this: a trickle, not a backlog, which links at once.
LINK_SETTLE_BELOW = 100
#: Event ids whose answer is remembered, so that a repeat is neither asked nor counted again.
ID_MEMORY = 100_000


class EventLinker(Protocol):
    """What the correlator needs from the transaction log: each event's transaction id (or
    None), in order. An answer whose ``claimable`` is false (``TransactionLog.link_events``
    says so when no call was under way) spares the retries of the events it did not match:
    no call can claim them later. An answer without it is retried as if one could."""

    def link_events(self, events: Iterable[tuple[Any, ...]]) -> Sequence[str | None]: ...


@dataclass(order=True)
class _Pending:
    due: float
    order: int
    attempt: int = field(compare=False)
    event: FeedEvent = field(compare=False)


class Correlator:
    """Ask the transaction log which call each CloudEvent belongs to."""

    def __init__(self, txlog: EventLinker, *, retry_delays: Sequence[float] = RETRY_DELAYS,
                 max_pending: int = 10_000, recent_s: float = 30.0,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self.txlog = txlog
        self.retry_delays = tuple(retry_delays)
        self.max_pending = max_pending
        self.recent_s = recent_s
        self._own_executor = executor is None
        self._executor = executor
        self._pending: list[_Pending] = []
        #: event id -> its transaction id, or None while none matched (pending or given up)
        self._answers: dict[str, str | None] = {}
        #: The ids of ``_answers`` in the order first asked about: the first to forget.
        self._asked: deque[str] = deque()
        self._counter = itertools.count()
        #: How many times answers were kept: ``link`` tells by it whether its ids are still new.
        self._learnt = 0
        self.linked = 0
        self.checked = 0
        self.unmatched = 0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def link(self, events: Sequence[FeedEvent]) -> list[FeedEvent]:
        """The same events, CloudEvents carrying their ``transaction_id`` where one matched.

        Events no transaction matched yet are kept for a few retries (see :meth:`retry_due`).
        """
        ids, places, again = self._to_ask(events)
        out = list(events)
        if ids:
            learnt = self._learnt
            found = await self._run(list(map(events.__getitem__, places)))
            # New when asked; still new unless answers were kept while the log was asked.
            self._remember(ids, found, new=learnt == self._learnt)
            # Per event in C where it can be: most events of a shared topic match no call.
            for at, transaction_id in itertools.compress(zip(places, found, strict=True), found):
                out[at] = linked_copy(out[at], transaction_id)
            if misses := len(found) - sum(map(bool, found)):
                if _claimable(found):
                    unmatched = [out[at] for at, transaction_id in zip(places, found, strict=True)
                                 if not transaction_id]
                    self._schedule(unmatched, 0, time.monotonic(), self._too_old())
                else:
                    self.unmatched += misses
        if again:
            answer = self._answers.get
            out = [linked_copy(ev, transaction_id)
                   if ev.transaction_id is None and (transaction_id := answer(ev.id or "")) else ev
                   for ev in out]
        return out

    async def retry_due(self) -> list[FeedEvent]:
        """Ask again for the events whose retry time has come; return those now linked."""
        now = time.monotonic()
        due: list[_Pending] = []
        while self._pending and self._pending[0].due <= now:
            due.append(heapq.heappop(self._pending))
        if not due:
            return []
        found = await self._run([p.event for p in due])
        linked = []
        answered: dict[str, str | None] = {}
        too_old = self._too_old()
        claimable = _claimable(found)
        for item, transaction_id in zip(due, found, strict=True):
            if transaction_id and item.event.id:
                answered[item.event.id] = transaction_id
                linked.append(linked_copy(item.event, transaction_id))
            elif claimable:
                self._schedule([item.event], item.attempt + 1, now, too_old)
            else:
                self.unmatched += 1
        self._remember(list(answered), list(answered.values()))
        return linked

    def close(self) -> None:
        """Release the worker thread (a later call starts a new one: a feed may be restarted)."""
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _to_ask(self, events: Sequence[FeedEvent]) -> tuple[list[str], Sequence[int], bool]:
        """The ids to ask the log about, each once and none asked before, with their places in
        ``events``; and whether some event is to be answered from what was learnt instead (its
        id asked before, or twice in this batch)."""
        answers = self._answers
        ids = list(map(_ID, events))
        if (None not in ids and "" not in ids and {None}.issuperset(map(_TRANSACTION_ID, events))
                and "raw" not in map(_MODE, events) and answers.keys().isdisjoint(ids)
                and len(set(ids)) == len(ids)):
            # The usual batch: CloudEvents, none linked, each new. Checked in C, not per event.
            return ids, range(len(ids)), False
        todo: dict[str, int] = {}  # event id -> its place in ``events``
        again = False
        for at, (ev, event_id) in enumerate(zip(events, ids, strict=True)):
            if event_id and ev.transaction_id is None and ev.mode != "raw":
                if event_id in answers or event_id in todo:
                    again = True
                else:
                    todo[event_id] = at
        return list(todo), list(todo.values()), again

    def _remember(self, ids: Sequence[str], found: Sequence[str | None], *, new: bool = False) -> None:
        """Keep these answers (event id -> transaction id); past ``ID_MEMORY`` ids, forget the
        ones first asked about longest ago, once for the whole batch. ``new``: none of ``ids``
        is known yet (the caller checked, and nothing was kept since)."""
        answers = self._answers
        self._learnt += 1
        if new or answers.keys().isdisjoint(ids):  # all new (a first question): in C
            self._asked.extend(ids)
        else:
            self._asked.extend([event_id for event_id in ids if event_id not in answers])
        answers.update(zip(ids, found, strict=True))
        while len(answers) > ID_MEMORY and self._asked:
            answers.pop(self._asked.popleft(), None)

    def _too_old(self) -> datetime:
        """Events from before this are past retrying: their call, if any, ended long ago."""
        return datetime.now(UTC) - timedelta(seconds=self.recent_s)

    def _schedule(self, events: list[FeedEvent], attempt: int, now: float,
                  too_old: datetime) -> None:
        """Ask again for ``events`` after the delay of ``attempt``; an event past retrying (too
        old, out of attempts, no room) counts as unmatched."""
        if attempt >= len(self.retry_delays):
            self.unmatched += len(events)
            return
        recent = [event for event in events if (event.time or event.timestamp) >= too_old]
        room = max(0, self.max_pending - len(self._pending))
        due = now + self.retry_delays[attempt]
        for event in recent[:room]:
            heapq.heappush(self._pending, _Pending(due, next(self._counter), attempt, event))
        self.unmatched += len(events) - min(len(recent), room)

    async def _run(self, events: list[FeedEvent]) -> Sequence[str | None]:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="apilog-correlate")
        return await loop.run_in_executor(self._executor, self._link_all, events)

    def _link_all(self, events: list[FeedEvent]) -> Sequence[str | None]:
        """Link a batch in one write transaction of the log (``link_events``): one SQLite commit
        per fetched batch instead of one per event. A log that fails answers nothing found, and
        the events are asked about again."""
        traces = trace_ids_of([event.traceparent for event in events])
        try:
            found = self.txlog.link_events(
                [(event.id, trace_id, event.topic, event.partition, event.offset,
                  event.time or event.timestamp) for event, trace_id in zip(events, traces, strict=True)])
        except Exception as exc:  # noqa: BLE001 - a log failure must not stop the feed
            self.errors += 1
            self.last_error = f"linking {len(events)} events failed: {type(exc).__name__}: {exc}"
            found = [None] * len(events)
        self.checked += len(events)
        self.linked += sum(map(bool, found))
        return found


def _claimable(found: Sequence[str | None]) -> bool:
    """Whether an event this answer did not match may still be claimed by a call (see
    :class:`EventLinker`): unless the log says otherwise, it may."""
    return getattr(found, "claimable", True)


class BackgroundLinker:
    """Link events on the side, so that a slow transaction log never slows the feed down.

    The feed submits each batch of new CloudEvents after delivering it; ``on_linked`` gets the
    linked copy of every event a transaction matched (now or on a retry). A full queue makes
    ``submit`` wait: under a sustained flood the feed slows to the log's pace rather than
    forgetting to link.
    """

    def __init__(self, correlator: Correlator, on_linked: Callable[[FeedEvent], None],
                 max_batches: int = 64) -> None:
        self.correlator = correlator
        self.on_linked = on_linked
        self._queue: asyncio.Queue[list[FeedEvent] | None] = asyncio.Queue(maxsize=max_batches)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="apilog-event-links")

    async def submit(self, events: list[FeedEvent]) -> None:
        await self._queue.put(events)

    async def stop(self, timeout: float) -> None:
        """Link what was already submitted, for at most ``timeout`` seconds, then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(self._drain(task), timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()

    async def _drain(self, task: asyncio.Task[None]) -> None:
        await self._queue.put(None)
        await task

    def _coalesce(self, batch: list[FeedEvent]) -> tuple[list[FeedEvent], bool]:
        """``batch`` with the batches queued behind it (up to MAX_LINK_BATCH events); True when
        the stop came among them."""
        while not self._queue.empty() and len(batch) < MAX_LINK_BATCH:
            more = self._queue.get_nowait()
            if more is None:
                return batch, True
            batch = batch + more
        return batch, False

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            if self._queue.empty():
                try:
                    batch = await asyncio.wait_for(self._queue.get(), 0.2)
                except TimeoutError:
                    batch = []
            else:  # a backlog: no timer and no task for the wait
                batch = self._queue.get_nowait()
            if batch is None:
                return
            # What else waits goes along in the same write transaction of the log: when the
            # log is behind, fewer and larger transactions let it catch up.
            batch, stopping = self._coalesce(batch)
            if batch and not stopping and len(batch) < LINK_SETTLE_BELOW:
                await asyncio.sleep(LINK_SETTLE_S)
                batch, stopping = self._coalesce(batch)
            try:
                linked = [e for e in await self.correlator.link(batch) if e.transaction_id]
                if self.correlator.pending:
                    linked += await self.correlator.retry_due()
            except Exception:  # the feed goes on without links rather than stopping
                log.exception("linking events to the transaction log failed")
                continue
            for event in linked:
                self.on_linked(event)
