"""Where to read each partition from: the start of a feed, and after the broker came back.

This is the only module besides the feed that talks to aiokafka, and it keeps the Tansu
quirks in one place: ``offsets_for_times`` answers 0 for any time (so a start at a time also
skips older records by their timestamp), and a broker with memory storage comes back empty,
so a remembered position may point past the new log's end or at a different record.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TopicPartition = tuple[str, int]
Start = str | datetime | int


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Enough of a record to tell, after a reconnect, whether the log still holds it."""

    offset: int
    timestamp: int
    digest: int

    @classmethod
    def of(cls, record: Any) -> Fingerprint:
        digest = zlib.crc32(record.value or b"", zlib.crc32(record.key or b""))
        return cls(record.offset, record.timestamp, digest)


@dataclass(frozen=True, slots=True)
class TimeSkip:
    """Skip records older than ``before_ms`` among those that existed when reading began."""

    before_ms: int
    until_offset: int

    def skips(self, offset: int, timestamp_ms: int) -> bool:
        return offset < self.until_offset and timestamp_ms < self.before_ms


def parse_start(value: str | datetime | int | None) -> Start:
    """``latest``, ``earliest``, an ISO-8601 time or an offset, as the feed understands them.

    Raises ``ValueError`` naming the accepted forms when ``value`` is none of them.
    """
    if value is None:
        return "latest"
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"offset {value} is negative: give an offset of 0 or more")
        return value
    text = str(value).strip()
    if text.lower() in {"latest", "earliest"}:
        return text.lower()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--from {text!r} is not understood: use latest, earliest, an ISO-8601 time "
            "(2026-11-26T18:00:00Z) or an offset (0, 42)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def list_partitions(consumer: Any, pattern: Any, timeout: float) -> set[TopicPartition]:
    """Every partition of every topic whose name matches ``pattern``, from fresh metadata.

    Raises ``KafkaError`` or ``TimeoutError`` when the broker does not answer: the feed's
    health probe.
    """
    cluster = await asyncio.wait_for(consumer._client.fetch_all_metadata(), timeout)
    found: set[TopicPartition] = set()
    for topic in cluster.topics():
        if topic.startswith("__") or not pattern.fullmatch(topic):
            continue
        for partition in cluster.partitions_for_topic(topic) or ():
            found.add((topic, partition))
    return found


async def offsets(consumer: Any, tps: set[TopicPartition], which: str,
                  timeout: float) -> dict[TopicPartition, int]:
    """Beginning or end offsets of ``tps``, keyed by (topic, partition)."""
    if not tps:
        return {}
    from aiokafka import TopicPartition as KafkaTP

    method = consumer.beginning_offsets if which == "beginning" else consumer.end_offsets
    answer = await asyncio.wait_for(method([KafkaTP(t, p) for t, p in tps]), timeout)
    return {(tp.topic, tp.partition): offset for tp, offset in answer.items()}


async def log_ends(consumer: Any, tps: set[TopicPartition],
                   timeout: float) -> dict[TopicPartition, int]:
    """The true end offset (next offset to be written) of each partition.

    Tansu 0.6 answers ListOffsets(latest) with the base offset of the last record batch plus
    one: after one batch of four records it says 1, not 4. The high watermark in a fetch
    response is right, so fetch the last batch the broker admits to and read it from there.
    Leaves the consumer assigned to the probed partitions: callers assign and seek again.
    """
    from aiokafka import TopicPartition as KafkaTP

    ends = await offsets(consumer, tps, "end", timeout)
    probe = {KafkaTP(*tp): tp for tp in tps if ends[tp] > 0}
    if not probe:
        return ends
    consumer.assign(list(probe))
    for ktp, tp in probe.items():
        consumer.seek(ktp, ends[tp] - 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while probe:
        if loop.time() > deadline:
            raise TimeoutError("the broker did not report the end of its logs in time")
        await consumer.getmany(*probe, timeout_ms=100)
        for ktp in list(probe):
            highwater = consumer.highwater(ktp)
            if highwater is not None:
                tp = probe.pop(ktp)
                ends[tp] = max(ends[tp], highwater)
    return ends


async def initial_positions(consumer: Any, tps: set[TopicPartition], start: Start,
                            timeout: float) -> tuple[dict[TopicPartition, int],
                                                     dict[TopicPartition, TimeSkip]]:
    """Where each partition starts for ``start``, and the time skips a start at a time needs."""
    begin = await offsets(consumer, tps, "beginning", timeout)
    end = await log_ends(consumer, tps, timeout)
    if start == "earliest":
        return dict(begin), {}
    if start == "latest":
        return dict(end), {}
    if isinstance(start, int):
        return {tp: min(max(start, begin[tp]), end[tp]) for tp in tps}, {}
    if not isinstance(start, datetime):
        raise ValueError(f"start {start!r}: use latest, earliest, an offset or a time")
    return await _positions_at_time(consumer, tps, start, begin, end, timeout)


async def committed_positions(consumer: Any, tps: set[TopicPartition],
                              timeout: float) -> dict[TopicPartition, int]:
    """The consumer group's committed offsets for ``tps`` (those it has), to resume from."""
    from aiokafka import TopicPartition as KafkaTP

    found: dict[TopicPartition, int] = {}
    for tp in tps:
        offset = await asyncio.wait_for(consumer.committed(KafkaTP(*tp)), timeout)
        if offset is not None and offset >= 0:
            found[tp] = offset
    return found


async def _positions_at_time(consumer: Any, tps: set[TopicPartition], when: datetime,
                             begin: dict[TopicPartition, int], end: dict[TopicPartition, int],
                             timeout: float) -> tuple[dict[TopicPartition, int],
                                                      dict[TopicPartition, TimeSkip]]:
    """Ask the broker for offsets at ``when``; then skip older records by timestamp anyway.

    Tansu answers offset 0 for any time, so the broker's answer is only a lower bound to start
    from: every record before ``when`` among those already written is skipped while reading.
    """
    from aiokafka import TopicPartition as KafkaTP

    when_ms = int(when.timestamp() * 1000)
    query = {KafkaTP(t, p): when_ms for t, p in tps}
    answer = await asyncio.wait_for(consumer.offsets_for_times(query), timeout) if query else {}
    positions: dict[TopicPartition, int] = {}
    for tp in tps:
        found = answer.get(KafkaTP(*tp))
        offset = end[tp] if found is None else found.offset
        positions[tp] = min(max(offset, begin[tp]), end[tp])
    return positions, {tp: TimeSkip(when_ms, end[tp]) for tp in tps}


async def verify_after_reconnect(consumer: Any, known: dict[TopicPartition, int],
                                 fingerprints: dict[TopicPartition, Fingerprint],
                                 present: set[TopicPartition],
                                 timeout: float) -> dict[TopicPartition, tuple[int, str]]:
    """The partitions whose log was reset while the feed was away, with where to resume.

    A partition is reset when it is gone, when its end is now below the position the feed
    reached, or when the record just before that position is no longer the one the feed read
    (a restarted memory broker that has since received as many new records). Returns
    ``{tp: (resume_at, reason)}`` for those partitions only.
    """
    from aiokafka import TopicPartition as KafkaTP

    resets: dict[TopicPartition, tuple[int, str]] = {}
    still_there = {tp for tp in known if tp in present}
    for tp in set(known) - still_there:
        resets[tp] = (0, "the topic partition no longer exists on the broker")
    begin = await offsets(consumer, still_there, "beginning", timeout)
    end = await log_ends(consumer, still_there, timeout)
    for tp in still_there:
        position = known[tp]
        if end[tp] < position:
            resets[tp] = (begin[tp], f"the log now ends at offset {end[tp]}, before the feed's "
                                     f"position {position}")
        elif begin[tp] > position:
            resets[tp] = (begin[tp], f"offsets {position}..{begin[tp] - 1} were deleted "
                                     "before the feed could read them")
    to_check = [tp for tp in still_there if tp not in resets and tp in fingerprints
                and fingerprints[tp].offset == known[tp] - 1]
    if to_check:
        consumer.assign([KafkaTP(*tp) for tp in to_check])
        for tp in to_check:
            consumer.seek(KafkaTP(*tp), known[tp] - 1)
        seen = await _first_records(consumer, to_check, timeout)
        for tp in to_check:
            if seen.get(tp) != fingerprints[tp]:
                resets[tp] = (begin[tp], f"offset {known[tp] - 1} now holds another record")
    return resets


async def _first_records(consumer: Any, tps: list[TopicPartition],
                         timeout: float) -> dict[TopicPartition, Fingerprint]:
    from aiokafka import TopicPartition as KafkaTP

    seen: dict[TopicPartition, Fingerprint] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(seen) < len(tps) and loop.time() < deadline:
        wanted = [KafkaTP(*tp) for tp in tps if tp not in seen]
        batch = await consumer.getmany(*wanted, timeout_ms=200)
        for ktp, records in batch.items():
            if records:
                seen.setdefault((ktp.topic, ktp.partition), Fingerprint.of(records[0]))
    if len(seen) < len(tps):
        raise TimeoutError("the broker did not return the records needed to check positions")
    return seen
