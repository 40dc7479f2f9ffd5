"""What the feed reports about itself: its state, the gaps it found, and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from console.errors import ApilogError
from console.events.decode import FeedEvent
from console.events.positions import TopicPartition

State = Literal["connecting", "connected", "down"]


class FeedError(ApilogError, RuntimeError):
    """The feed cannot do what was asked; the message names the cause and the fix."""


@dataclass(frozen=True, slots=True)
class FeedGap:
    """Events the feed could not read: the broker's log was reset or trimmed while away."""

    topic: str
    partition: int
    previous_position: int
    resumed_at: int
    detected_at: datetime
    reason: str

    def describe(self) -> str:
        return (f"{self.topic}[{self.partition}]: {self.reason}; events after offset "
                f"{self.previous_position - 1} of the old log, if any, were not read; "
                f"reading the new log from offset {self.resumed_at}")


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """What the feed is doing, for a status bar: state, since when, and how far behind."""

    state: State
    since: datetime
    error: str | None = None
    lag_by_partition: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    gaps: tuple[FeedGap, ...] = ()
    received: int = 0
    duplicates: int = 0
    buffered: int = 0
    #: The broker refused the login or the profile does not trust its certificate: the feed
    #: stopped instead of retrying, and ``error`` says what to fix.
    refused: bool = False
    #: In a consumer group, the partitions the group gave this member (None without a group).
    assigned: tuple[TopicPartition, ...] | None = None

    @property
    def lag(self) -> int:
        return sum(self.lag_by_partition.values())


def event_matching(event_id: str | None = None,
                   trace_id: str | None = None) -> Callable[[FeedEvent], bool]:
    """A predicate for ``EventFeed.wait_for``: the event with this id or this trace id."""
    if not event_id and not trace_id:
        raise ValueError("give an event id or a trace id to wait for")
    wanted_trace = trace_id.lower() if trace_id else None
    return lambda ev: bool((event_id and ev.id == event_id)
                           or (wanted_trace and ev.trace_id == wanted_trace))
