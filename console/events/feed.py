"""The live event feed: every record of the gateway's event topics, decoded, deduplicated,
correlated with the transaction log and kept in a bounded buffer.

One :class:`EventFeed` serves the events screen, the conformance checks and ``apilog events``.
By default it joins no consumer group (watching must change nothing for other consumers): it
assigns the matching partitions itself, refreshes the topic list every ``refresh_interval``
seconds (which doubles as the broker health probe), and tracks its own positions. Those
positions are what lets it resume after an outage without restarting apilog, and notice when
the broker came back with an empty log (Tansu's memory storage): it then reports the gap and
reads the new log from its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from console.events.buffer import EventBuffer, text_filter
from console.events.correlate import BackgroundLinker, Correlator, EventLinker
from console.events.decode import FeedEvent, decode_record
from console.events.fanout import END, Fanout, call
from console.events.positions import (
    Fingerprint,
    Start,
    TimeSkip,
    TopicPartition,
    committed_positions,
    initial_positions,
    list_partitions,
    log_ends,
    parse_start,
    verify_after_reconnect,
)
from console.events.status import FeedError, FeedGap, FeedStatus, State, event_matching
from console.kafka_login import refusal

DEFAULT_TOPIC_PATTERN = r"^gateway\.events\..*"
log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TOPIC_PATTERN", "EventFeed", "FeedError", "FeedEvent", "FeedGap",
           "FeedStatus", "State", "event_matching"]


class _ConnectionLost(Exception):
    """A connection to the broker broke: rebuild the consumer and check the positions."""


class EventFeed:
    """Read the event topics matching ``topic_pattern`` until :meth:`stop`."""

    def __init__(self, bootstrap: str, *, topic_pattern: str = DEFAULT_TOPIC_PATTERN,
                 start: Start | None = "latest", group_id: str | None = None,
                 buffer_size: int = 10_000, kafka_kwargs: dict[str, Any] | None = None,
                 on_event: Callable[[FeedEvent], object] | None = None,
                 on_status: Callable[[FeedStatus], object] | None = None,
                 on_update: Callable[[FeedEvent], object] | None = None,
                 txlog: EventLinker | None = None, link_inline: bool = False,
                 refresh_interval: float = 1.0,
                 request_timeout: float = 5.0, max_backoff: float = 5.0,
                 max_batch: int = 500) -> None:
        try:
            self.pattern = re.compile(topic_pattern)
        except re.error as exc:
            raise FeedError(f"topic pattern {topic_pattern!r} is not a valid regular "
                            f"expression ({exc}): e.g. 'gateway\\.events\\..*'") from None
        self.bootstrap = bootstrap
        self.start_at = parse_start(start)
        self.group_id = group_id
        self.buffer = EventBuffer(buffer_size)
        self.kafka_kwargs = dict(kafka_kwargs or {})
        self.on_status = on_status
        self.readers = Fanout(on_event, on_update)
        self.correlator = Correlator(txlog) if txlog is not None else None
        self.link_inline = link_inline
        self._linker: BackgroundLinker | None = None
        self.refresh_interval = refresh_interval
        self.request_timeout = request_timeout
        self.max_backoff = max_backoff
        # Decoding runs on the event loop (the console's UI loop too): 500 records are ~15 ms,
        # short enough not to stall a screen, long enough to cost nothing in throughput.
        self.max_batch = max_batch
        self._state: State = "connecting"
        self._since = datetime.now(UTC)
        self._error: str | None = None
        self._gaps: list[FeedGap] = []
        self._positions: dict[TopicPartition, int] = {}
        self._fingerprints: dict[TopicPartition, Fingerprint] = {}
        self._skips: dict[TopicPartition, TimeSkip] = {}
        self._targets: dict[TopicPartition, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._connection_lost = False
        self._connected_once = False
        #: A refused login or an untrusted certificate (console.kafka_login): the feed stopped.
        self._refused: str | None = None

    # Lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin reading in the background; returns at once (watch :attr:`status`)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="apilog-event-feed")
            if self.correlator is not None and not self.link_inline:
                self._linker = BackgroundLinker(self.correlator, self._apply_link)
                self._linker.start()

    async def stop(self) -> None:
        """Stop reading and release the consumer; iterators of :meth:`events` end."""
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, self.request_timeout + 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self.readers.close()
        if self._linker is not None:
            linker, self._linker = self._linker, None
            await linker.stop(self.request_timeout)
        if self.correlator is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.correlator.close)

    async def __aenter__(self) -> EventFeed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Reading -------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[FeedEvent]:
        """Every new event from now on, in arrival order, until the feed stops."""
        queue = self.readers.subscribe()
        try:
            while (item := await queue.get()) is not END:
                yield item
        finally:
            self.readers.unsubscribe(queue)

    async def read_until_end(self, connect_timeout: float = 15.0,
                             stop_at_end: bool = True) -> AsyncIterator[FeedEvent]:
        """Start, and yield every event up to the end offsets seen at start, then stop.

        With ``stop_at_end=False`` go on yielding new events after that, until :meth:`stop`
        (``apilog events --follow``). Raises :class:`FeedError` when the broker does not
        answer within ``connect_timeout``: a wrong address must not look like a quiet topic.
        """
        queue = self.readers.subscribe(until_end=True)
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + connect_timeout
        try:
            while True:
                if not self._connected_once:
                    if self._refused is not None:
                        raise FeedError(self._refused)
                    if loop.time() > deadline:
                        raise FeedError(f"the Kafka broker at {self.bootstrap} did not answer "
                                        f"within {connect_timeout:.0f} s ({self._error or 'no reply'}): "
                                        "check the bootstrap address or the profile")
                    try:
                        item = await asyncio.wait_for(queue.get(), 0.1)
                    except TimeoutError:
                        continue
                else:
                    item = await queue.get()
                if item is END:
                    if stop_at_end or self._task is None:
                        return
                    continue
                yield item
        finally:
            self.readers.unsubscribe(queue)
            if stop_at_end or self._task is None:
                await self.stop()

    def snapshot(self, limit: int | None = None,
                 filter: str | Callable[[FeedEvent], bool] | None = None) -> list[FeedEvent]:  # noqa: A002
        """Up to ``limit`` buffered events, newest first, matching ``filter`` (text or predicate)."""
        predicate = text_filter(filter) if isinstance(filter, str) else filter
        return self.buffer.snapshot(limit, predicate)

    async def wait_for(self, predicate: Callable[[FeedEvent], bool],
                       timeout: float) -> FeedEvent | None:
        """The first event (already buffered or yet to come) matching ``predicate``, or None."""
        found = self.buffer.find(predicate)
        if found is not None:
            return found
        return await self.readers.wait_for(predicate, timeout)

    @property
    def status(self) -> FeedStatus:
        return FeedStatus(
            state=self._state, since=self._since, error=self._error,
            lag_by_partition=self.buffer.lag(), positions=dict(self._positions),
            gaps=tuple(self._gaps), received=self.buffer.accepted,
            duplicates=self.buffer.duplicates, buffered=len(self.buffer),
            refused=self._refused is not None)

    # The loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            consumer = None
            try:
                consumer = self._make_consumer()
                await asyncio.wait_for(consumer.start(), self.request_timeout * 2)
                await self._position(consumer, verify=bool(self._positions))
                failures = 0
                self._set_state("connected")
                self._connected_once = True
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means: down, retry
                self._refused = await refusal(exc, self.bootstrap, self.kafka_kwargs)
                if self._refused is not None:  # the same refusal again at every retry: stop
                    self._set_state("down", self._refused)
                    return
                if not _is_expected(exc):
                    log.exception("event feed: unexpected failure, retrying")
                failures += 1
                self._set_state("down", _describe(exc, self.bootstrap))
                delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 8)) * random.uniform(0.5, 1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            finally:
                if consumer is not None:
                    await _quietly_stop(consumer, self.request_timeout)

    def _make_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.conn import CloseReason

        # The feed always seeks explicitly, so "none": an out-of-range position raises (and is
        # checked as a possible reset) instead of being moved silently by aiokafka.
        kwargs: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "none",
                                  "request_timeout_ms": int(self.request_timeout * 1000),
                                  "client_id": "apilog-events", "fetch_max_wait_ms": 200}
        if self.group_id is not None:
            kwargs.update(group_id=self.group_id, enable_auto_commit=True)
        kwargs.update(self.kafka_kwargs)
        kwargs["bootstrap_servers"] = self.bootstrap
        consumer = AIOKafkaConsumer(**kwargs)
        self._connection_lost = False
        # aiokafka reconnects silently, so a broker that restarted within a fetch or two would
        # go unnoticed; its client tells connections to report closing through this bound
        # method (aiokafka 0.14, pinned), which is the one place a broken connection shows.
        client = consumer._client
        original = client._on_connection_closed

        def on_closed(conn: Any, reason: Any) -> None:
            if reason in (CloseReason.CONNECTION_BROKEN, CloseReason.CONNECTION_TIMEOUT):
                self._connection_lost = True
            original(conn, reason)

        client._on_connection_closed = on_closed
        return consumer

    async def _position(self, consumer: Any, verify: bool) -> None:
        """Assign the matching partitions and seek each to where the feed must read next.

        With ``verify`` (after a reconnect or an out-of-range fetch) first check that the
        remembered positions still point into the same logs, and report a gap where not.
        """
        found = await list_partitions(consumer, self.pattern, self.request_timeout)
        if verify:
            resets = await verify_after_reconnect(consumer, self._positions, self._fingerprints,
                                                  found, self.request_timeout)
            for tp, (resume_at, reason) in resets.items():
                self._reset_partition(tp, resume_at, reason, present=tp in found)
        new = found - set(self._positions)
        if new:
            if self._targets is None:
                start, skips = await initial_positions(consumer, new, self.start_at,
                                                       self.request_timeout)
                if self.group_id is not None:
                    start.update(await committed_positions(consumer, new, self.request_timeout))
            else:  # a topic that appeared later: all of it is new to the feed
                start_at = self.start_at if isinstance(self.start_at, datetime) else "earliest"
                start, skips = await initial_positions(consumer, new, start_at,
                                                       self.request_timeout)
            self._positions.update(start)
            self._skips.update(skips)
            for tp, position in start.items():
                self.buffer.set_progress(*tp, position, None)
        if self._targets is None:
            self._targets = await log_ends(consumer, set(self._positions), self.request_timeout)
        self._assign(consumer)
        self._check_caught_up()

    def _assign(self, consumer: Any) -> None:
        from aiokafka import TopicPartition as KafkaTP

        consumer.assign([KafkaTP(*tp) for tp in self._positions])
        for tp, position in self._positions.items():
            consumer.seek(KafkaTP(*tp), position)

    async def _consume(self, consumer: Any) -> None:
        from aiokafka.errors import OffsetOutOfRangeError

        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh_interval
        while not self._stopping.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            except OffsetOutOfRangeError:
                await self._position(consumer, verify=True)
                continue
            if self._connection_lost:
                raise _ConnectionLost("the connection to the broker was lost")
            if batch:
                await self._handle(consumer, batch)
            if self.link_inline and self.correlator is not None and self.correlator.pending:
                await self._relink()
            if loop.time() >= next_refresh:
                await self._refresh(consumer)
                next_refresh = loop.time() + self.refresh_interval

    async def _refresh(self, consumer: Any) -> None:
        """Probe the broker, pick up new topics, and update the high watermarks behind the lag."""
        from aiokafka import TopicPartition as KafkaTP

        found = await list_partitions(consumer, self.pattern, self.request_timeout)
        if found - set(self._positions):
            await self._position(consumer, verify=False)
        for tp, position in self._positions.items():
            self.buffer.set_progress(*tp, position, consumer.highwater(KafkaTP(*tp)))

    async def _handle(self, consumer: Any, batch: dict[Any, list[Any]]) -> None:
        fresh: list[FeedEvent] = []
        for ktp, records in batch.items():
            tp = (ktp.topic, ktp.partition)
            if not records or tp not in self._positions:
                continue
            skip = self._skips.get(tp)
            for record in records:
                if skip is not None and skip.skips(record.offset, record.timestamp):
                    continue
                fresh.append(decode_record(record.topic, record.partition, record.offset,
                                           record.timestamp, record.key, record.value,
                                           record.headers))
            last = records[-1]
            self._positions[tp] = last.offset + 1
            self._fingerprints[tp] = Fingerprint.of(last)
            if skip is not None and last.offset + 1 >= skip.until_offset:
                del self._skips[tp]
        if self.correlator is not None and self.link_inline:
            fresh = await self.correlator.link(fresh)
        to_link = []
        for event in fresh:
            if self.buffer.add(event):
                self.readers.deliver(event)
                if event.is_cloudevent and event.transaction_id is None:
                    to_link.append(event)
        if to_link and self._linker is not None:
            await self._linker.submit(to_link)
        for ktp in batch:
            tp = (ktp.topic, ktp.partition)
            if tp in self._positions:
                self.buffer.set_progress(*tp, self._positions[tp], consumer.highwater(ktp))
        self._check_caught_up()

    async def _relink(self) -> None:
        assert self.correlator is not None
        for event in await self.correlator.retry_due():
            self._apply_link(event)

    def _apply_link(self, event: FeedEvent) -> None:
        """A linked copy replaces the buffered event and goes to waiters and ``on_update``."""
        if self.buffer.replace(event):
            self.readers.update(event)

    def _check_caught_up(self) -> None:
        if self._targets is None or not self.readers.waiting_for_end:
            return
        if all(self._positions.get(tp, 0) >= end for tp, end in self._targets.items()
               if tp in self._positions):
            self.readers.caught_up()

    def _reset_partition(self, tp: TopicPartition, resume_at: int, reason: str,
                         present: bool) -> None:
        """The partition's log is another one now: report the gap, read the new log from its start.

        A partition the feed had read nothing of (position 0) has no gap to report.
        """
        previous = self._positions.get(tp, 0)
        if previous > 0:
            gap = FeedGap(tp[0], tp[1], previous, resume_at, datetime.now(UTC), reason)
            self._gaps.append(gap)
            del self._gaps[:-100]
            log.warning("event feed gap: %s", gap.describe())
        self.buffer.new_epoch(*tp)
        self._fingerprints.pop(tp, None)
        self._skips.pop(tp, None)
        if self._targets is not None and tp in self._targets:
            self._targets[tp] = 0
        if present:
            self._positions[tp] = resume_at
        else:  # read it from its start when it comes back
            self._positions.pop(tp, None)
        self._emit_status()

    def _set_state(self, state: State, error: str | None = None) -> None:
        if state != self._state:
            self._since = datetime.now(UTC)
        changed = (state, error) != (self._state, self._error)
        self._state, self._error = state, error
        if changed:
            self._emit_status()

    def _emit_status(self) -> None:
        if self.on_status is not None:
            call(self.on_status, self.status)


def _is_expected(exc: BaseException) -> bool:
    from aiokafka.errors import KafkaError

    return isinstance(exc, KafkaError | OSError | TimeoutError | _ConnectionLost)


def _describe(exc: BaseException, bootstrap: str) -> str:
    if isinstance(exc, _ConnectionLost):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"the Kafka broker at {bootstrap} did not answer in time"
    name = type(exc).__name__
    text = " ".join(str(exc).split()).removeprefix(f"{name}: ") or name
    return f"{name}: {text}"


async def _quietly_stop(consumer: Any, timeout: float) -> None:
    try:
        await asyncio.wait_for(consumer.stop(), timeout)
    except Exception:  # noqa: BLE001 - the consumer is being thrown away
        log.debug("stopping the old consumer failed", exc_info=True)
