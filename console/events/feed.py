"""The live event feed: every record of the gateway's event topics, decoded, deduplicated,
correlated with the transaction log and kept in a bounded buffer.

One :class:`EventFeed` serves the events screen, the conformance checks and ``apilog events``.
By default it joins no consumer group (watching must change nothing for other consumers): it
assigns the matching partitions itself, refreshes the topic list every ``refresh_interval``
seconds (which doubles as the broker health probe), and tracks its own positions. Those
positions are what lets it resume after an outage without restarting apilog, and notice when
the broker came back with an empty log (Tansu's memory storage): it then reports the gap and
reads the new log from its start.

With a ``group_id`` it is a member of that consumer group instead: the group's coordinator
assigns it a share of the partitions (and moves them when members come and go), it resumes from
the group's committed offsets, and it commits only what its complete readers have finished
with, so that a member that leaves loses nothing for the others.
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

from console import collector
from console.events.buffer import EventBuffer, text_filter
from console.events.correlate import BackgroundLinker, Correlator, EventLinker
from console.events.decode import FeedEvent, decode_record, decode_records
from console.events.fanout import END, QUEUE_SIZE, Fanout, Skipped, Tally, call
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
           "FeedStatus", "Skipped", "State", "event_matching"]


class _ConnectionLost(Exception):
    """A connection to the broker broke: rebuild the consumer and check the positions."""


#: The fetch wait of a feed someone watches as it happens (``--follow``, the Events view): a
#: commit's event shows in ~10 ms instead of ~100 ms (bench/bench_event_latency.py).
LIVE_FETCH_WAIT_MS = 20


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
                 max_batch: int = 500, queue_size: int = QUEUE_SIZE,
                 fetch_wait_ms: int = 200) -> None:
        try:
            self.pattern = re.compile(topic_pattern)
        except re.error as exc:
            raise FeedError(f"topic pattern {topic_pattern!r} is not a valid regular "
                            f"expression ({exc}): e.g. 'gateway\\.events\\..*'") from None
        self.bootstrap = bootstrap
        self.start_at = parse_start(start)
        if group_id is not None and self.start_at not in ("earliest", "latest"):
            raise FeedError(f"a consumer group starts where it last committed, else at the "
                            f"earliest or latest offset, not at {start!r}: use --from earliest "
                            "or --from latest with --group")
        self.group_id = group_id
        self.buffer = EventBuffer(buffer_size)
        self.kafka_kwargs = dict(kafka_kwargs or {})
        self.on_status = on_status
        self.readers = Fanout(on_event, on_update, queue_size)
        self.correlator = Correlator(txlog) if txlog is not None else None
        self.link_inline = link_inline
        #: How long a fetch waits on the broker for new records. Small for a feed someone watches
        #: live (Tansu spreads the latency evenly up to about half of it); larger when reading to
        #: the end, where fewer round trips matter more than the first event's delay.
        self.fetch_wait_ms = fetch_wait_ms
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
        self._assigned: set[TopicPartition] = set()  # in a group: this member's share
        self._committed: dict[TopicPartition, int] = {}
        #: Next offset after what was handed to readers: ``_positions`` runs ahead of it while
        #: a batch is being delivered (a rebalance can commit meanwhile).
        self._delivered: dict[TopicPartition, int] = {}
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
        # First, so that a feed waiting for a reader that will take nothing more goes on.
        self.readers.close()
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

    async def events(self, live: bool = False) -> AsyncIterator[FeedEvent | Skipped]:
        """Every new event from now on, in arrival order, until the feed stops.

        The feed reads no further ahead than the iterating code takes (nothing is lost). A
        ``live`` reader instead never holds the feed back: past ``queue_size`` waiting events
        it loses the oldest and gets a :class:`Skipped` naming them in their place.
        """
        reader = self.readers.subscribe(live=live)
        try:
            while (item := await reader.get()) is not END:
                yield item
        finally:
            self.readers.unsubscribe(reader)

    async def read_until_end(self, connect_timeout: float = 15.0, stop_at_end: bool = True,
                             live: bool = False) -> AsyncIterator[FeedEvent | Skipped]:
        """Start, and yield every event up to the end offsets seen at start, then stop.

        With ``stop_at_end=False`` go on yielding new events after that, until :meth:`stop`
        (``apilog events --follow``). Raises :class:`FeedError` when the broker does not
        answer within ``connect_timeout``: a wrong address must not look like a quiet topic.
        ``live`` as for :meth:`events`.
        """
        async for batch in self.read_batches(connect_timeout, stop_at_end, live):
            for item in batch:
                yield item

    async def read_batches(self, connect_timeout: float = 15.0, stop_at_end: bool = True,
                           live: bool = False,
                           limit: int = 1000) -> AsyncIterator[list[FeedEvent | Skipped]]:
        """As :meth:`read_until_end`, in lists of up to ``limit`` of what is already waiting:
        a reader that writes somewhere slow can write a list at a time off the event loop
        while the feed reads on."""
        reader = self.readers.subscribe(until_end=True, live=live)
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
                        items = await asyncio.wait_for(reader.get_many(limit), 0.1)
                    except TimeoutError:
                        continue
                else:
                    items = await reader.get_many(limit)
                ended = items[-1] is END
                if ended:
                    items.pop()
                if items:
                    yield items
                    reader.done()  # the caller asked for more: it is done with those
                if ended and (stop_at_end or self._task is None):
                    return
        finally:
            self.readers.unsubscribe(reader)
            if stop_at_end or self._task is None:
                await self.stop()

    async def load(self, skipped: Skipped, limit: int = 10_000) -> list[FeedEvent]:
        """The events a live reader skipped (at most ``limit``), oldest first.

        The buffer's copy where it still has one (linked to its transaction), else the record
        read again from the broker. Raises :class:`FeedError` when the broker does not answer.
        """
        from aiokafka import AIOKafkaConsumer
        from aiokafka import TopicPartition as KafkaTP
        from aiokafka.errors import KafkaError

        tp = KafkaTP(skipped.topic, skipped.partition)
        last = min(skipped.last, skipped.first + limit - 1)
        kwargs = {**self.kafka_kwargs, "enable_auto_commit": False, "group_id": None,
                  "request_timeout_ms": int(self.request_timeout * 1000),
                  "client_id": "apilog-events-load", "bootstrap_servers": self.bootstrap}
        consumer = AIOKafkaConsumer(**kwargs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout * 2
        records: list[Any] = []
        try:
            await asyncio.wait_for(consumer.start(), self.request_timeout * 2)
            consumer.assign([tp])
            consumer.seek(tp, skipped.first)
            position = skipped.first
            while position <= last:
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=self.max_batch)
                got = [r for r in batch.get(tp, []) if r.offset <= last]
                records += got
                if got:
                    position = got[-1].offset + 1
                    deadline = loop.time() + self.request_timeout * 2
                elif (end := consumer.highwater(tp)) is not None and end <= position:
                    break  # the log ends before the range does (e.g. it was reset)
                elif loop.time() > deadline:
                    raise FeedError(f"the Kafka broker at {self.bootstrap} sent nothing for "
                                    f"{skipped.where} within {self.request_timeout * 2:.0f} s: "
                                    "check that it is up, then try again")
        except (KafkaError, OSError, TimeoutError) as exc:
            raise FeedError(f"could not re-read {skipped.where} from the Kafka broker at "
                            f"{self.bootstrap}: {_describe(exc, self.bootstrap)}") from None
        finally:
            await _quietly_stop(consumer, self.request_timeout)
        events = [self.buffer.get(r.topic, r.partition, r.offset) or decode_record(
            r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
            for r in records]
        if self.correlator is not None:
            events = await self.correlator.link(events)
        return events

    def delivered(self) -> dict[TopicPartition, Tally]:
        """Per partition, how many events the feed delivered and their first and last offset
        (what a view compares with what it showed: :class:`console.events.fanout.WindowWatch`)."""
        return self.readers.tallies()

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
            refused=self._refused is not None,
            assigned=tuple(sorted(self._assigned)) if self.group_id is not None else None)

    # The loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        # The buffer keeps thousands of events on purpose (the data of the gateway's unparsed
        # until read, other records' as parsed): while this feed reads, the collector does not
        # walk them again and again (console.collector).
        collector.hold(collector.FEED)
        try:
            await self._read_until_stopped()
        finally:
            collector.release(collector.FEED)

    async def _read_until_stopped(self) -> None:
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
                    if self.group_id is not None and self._assigned:
                        await self._commit_quietly(consumer)
                    await _quietly_stop(consumer, self.request_timeout)

    def _make_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.conn import CloseReason

        # The feed always seeks explicitly, so "none": an out-of-range position raises (and is
        # checked as a possible reset) instead of being moved silently by aiokafka.
        kwargs: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "none",
                                  "request_timeout_ms": int(self.request_timeout * 1000),
                                  "client_id": "apilog-events",
                                  "fetch_max_wait_ms": self.fetch_wait_ms}
        if self.group_id is not None:
            # Commits are the feed's own (what its readers finished with); a new topic must
            # join the subscription within seconds, not aiokafka's default five minutes.
            # A JoinGroup request waits for the whole rebalance (5-18 s on Tansu): aiokafka's
            # default request timeout, not the feed's short one, or the join never completes.
            kwargs.update(group_id=self.group_id, auto_offset_reset=self.start_at,
                          metadata_max_age_ms=5000, request_timeout_ms=40_000)
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
        if self.group_id is not None:
            # aiokafka's pattern is matched with re.match: anchor the end for a whole-name match.
            consumer.subscribe(pattern=f"(?:{self.pattern.pattern})\\Z",
                               listener=_group_listener(self, consumer))
            return
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
            if self.group_id is not None:
                await self._check_group_caught_up(consumer)
            if self.link_inline and self.correlator is not None and self.correlator.pending:
                await self._relink()
            if loop.time() >= next_refresh:
                await self._refresh(consumer)
                next_refresh = loop.time() + self.refresh_interval

    async def _refresh(self, consumer: Any) -> None:
        """Probe the broker, pick up new topics, and update the high watermarks behind the lag."""
        from aiokafka import TopicPartition as KafkaTP

        found = await list_partitions(consumer, self.pattern, self.request_timeout)
        if self.group_id is not None:
            await self._commit(consumer)
        elif found - set(self._positions):
            await self._position(consumer, verify=False)
        for tp, position in self._positions.items():
            self.buffer.set_progress(*tp, position, consumer.highwater(KafkaTP(*tp)))

    async def _handle(self, consumer: Any, batch: dict[Any, list[Any]]) -> None:
        for ktp, records in batch.items():
            tp = (ktp.topic, ktp.partition)
            if not records or (tp not in self._positions and tp not in self._assigned):
                continue
            await self._handle_records(tp, records)
            if tp in self._positions:  # still this feed's (a group may take it away meanwhile)
                # past duplicates and skipped records too
                self._delivered[tp] = self._positions[tp]
                self.buffer.set_progress(*tp, self._positions[tp], consumer.highwater(ktp))
        self._check_caught_up()

    async def _handle_records(self, tp: TopicPartition, records: list[Any]) -> None:
        """Consecutive records of one partition, decoded, deduplicated and linked as one batch,
        each event to every consumer once."""
        skip = self._skips.get(tp)
        last = records[-1]
        if skip is not None:
            records = [r for r in records if not skip.skips(r.offset, r.timestamp)]
            if last.offset + 1 >= skip.until_offset:
                del self._skips[tp]
        self._positions[tp] = last.offset + 1
        self._fingerprints[tp] = Fingerprint.of(last)
        # Duplicates go before linking: every consumer (readers, the correlator's counts, the
        # transaction log) sees an event id once.
        fresh = self.buffer.add_many(decode_records(records))
        if not fresh:
            return
        if self.correlator is not None and self.link_inline:
            fresh = await self.correlator.link(fresh)
            for event in fresh:
                if event.transaction_id is not None:
                    self.buffer.replace(event)
        readers = self.readers
        done = 0
        while done < len(fresh):
            # A complete reader holds at most its queue's size: deliver what fits, then wait.
            if readers.blocked:
                await readers.room()
            upto = done + max(1, readers.room_left)
            readers.deliver_many(fresh[done:upto])
            done = min(upto, len(fresh))
            self._delivered[tp] = fresh[done - 1].offset + 1
        if self._linker is not None:
            to_link = [e for e in fresh if e.is_cloudevent and e.transaction_id is None]
            if to_link:
                await self._linker.submit(to_link)

    async def _relink(self) -> None:
        assert self.correlator is not None
        for event in await self.correlator.retry_due():
            self._apply_link(event)

    def _apply_link(self, event: FeedEvent) -> None:
        """A linked copy replaces the buffered event and goes to waiters and ``on_update``."""
        if self.buffer.replace(event):
            self.readers.update(event)

    async def _commit(self, consumer: Any, tps: set[TopicPartition] | None = None) -> None:
        """Commit, for this member's partitions, what every complete reader has finished with."""
        from aiokafka import TopicPartition as KafkaTP

        offsets = {}
        for tp in self._assigned if tps is None else tps:
            if tp not in self._delivered:
                continue
            position = self.readers.handled_position(*tp, self._delivered[tp])
            if self._committed.get(tp) != position:
                offsets[tp] = position
        if offsets:
            await asyncio.wait_for(consumer.commit({KafkaTP(*tp): o for tp, o in offsets.items()}),
                                   self.request_timeout)
            self._committed.update(offsets)

    async def _commit_quietly(self, consumer: Any) -> None:
        try:
            await self._commit(consumer)
        except Exception as exc:  # noqa: BLE001 - leaving anyway; the group re-reads from before
            log.warning("event feed: committing before leaving group %s failed: %s",
                        self.group_id, _describe(exc, self.bootstrap))

    async def _check_group_caught_up(self, consumer: Any) -> None:
        """In a group, the end is each assigned partition's log end when first seen."""
        from aiokafka import TopicPartition as KafkaTP

        if not self.readers.waiting_for_end or not self._assigned:
            return
        targets = self._targets if self._targets is not None else {}
        self._targets = targets
        for tp in self._assigned:
            end = consumer.highwater(KafkaTP(*tp))
            if end is None and tp not in targets:
                return  # not fetched yet: its end is not known
            target = targets.setdefault(tp, end)
            position = self._positions.get(tp)
            if position is None:  # nothing delivered from it: anything to read?
                position = await consumer.position(KafkaTP(*tp))
            if position < target:
                return
        self.readers.caught_up()

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
        self.readers.new_epoch(*tp)
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


def _group_listener(feed: EventFeed, consumer: Any) -> Any:
    """What aiokafka tells when the group's coordinator takes partitions away or hands some
    over (a class made here: aiokafka is imported only once a feed runs)."""
    from aiokafka.abc import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked: Any) -> None:
            gone = {(tp.topic, tp.partition) for tp in revoked}
            try:
                await feed._commit(consumer, gone & feed._assigned)
            except Exception as exc:  # noqa: BLE001 - the next owner re-reads from the last commit
                log.warning("event feed: committing revoked partitions failed: %s", exc)
            feed._assigned -= gone
            for tp in gone:
                feed._positions.pop(tp, None)
                feed._committed.pop(tp, None)
                feed._delivered.pop(tp, None)
                feed.readers.forget(*tp)

        async def on_partitions_assigned(self, assigned: Any) -> None:
            feed._assigned = {(tp.topic, tp.partition) for tp in assigned}
            feed._emit_status()

    return Listener()


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
