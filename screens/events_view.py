"""Events: the live Kafka feed, newest first, paused or following, filterable, with detail.

Arrivals are not painted one by one: a 10 Hz timer takes what came since the last tick and
repaints once (a burst of thousands per second costs ten repaints), and the Line API paints only
the visible lines of the buffer.

The view shows a bounded window of the newest events, so what arrives faster than it looks
(or while it is paused or hidden) can fall out unseen. It says so in the summary, with the
offsets, and `l` reads those events again from the broker (console.events.fanout.WindowWatch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.events.fanout import WindowWatch
from console.events.status import FeedError
from screens.base import TableView
from screens.filtering import Filter
from screens.keymap import bindings
from screens.widgets.line_table import Cell, Column, LineTable

TICK_S = 0.1
#: Skipped events read again per press of `l` (the newest first; press again for older ones).
LOAD_LIMIT = 10_000


def event_haystack(event: Any) -> str:
    data = event.data if isinstance(event.data, str) else json.dumps(event.data, default=str)
    return (
        f"{event.topic} {event.type} {event.subject} {event.id} {event.key} "
        f"{event.transaction_id} {data}"
    ).lower()


def event_fields(event: Any) -> dict[str, str]:
    return {
        "type": (event.type or "").lower(),
        "topic": event.topic.lower(),
        "subject": (event.subject or "").lower(),
        "tx": (event.transaction_id or "").lower(),
    }


class EventsView(TableView):
    VIEW = "events"
    FIELDS = frozenset({"type", "topic", "subject", "tx"})
    BINDINGS = bindings("pause", "open-tx", "load-skipped")
    DEFAULT_CSS = """
    EventsView #events-summary { height: 1; padding: 0 1; color: $text-muted; }
    EventsView #events-detail { height: 55%; border-top: solid $panel-lighten-2; padding: 0 1;
                                display: none; }
    EventsView.-detail #events-detail { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.snapshot: list[Any] = []  # oldest first, as the runtime keeps them
        self.shown: list[Any] = []  # newest first, after the filter
        self.seen = 0  # runtime.events_received at the last snapshot
        self.frames = 0  # repaints caused by arrivals (the benchmark reads it)
        self._haystacks: dict[int, str] = {}
        self._target: str | None = None
        self._updates = 0
        self._watch = WindowWatch()
        self.skipped: list[Any] = []  # console.events.fanout.Skipped, not loaded yet

    def compose_body(self) -> ComposeResult:
        label = self.app.labels
        yield Static(id="events-summary")
        yield LineTable(
            [
                Column(label("time"), 13),
                Column("topic", 16),
                Column("type", 28),
                Column("subject", 12),
                Column("tx", 0),
            ],
            empty=label("nothing yet"),
            select_label=label("detail"),
            id="events-table",
        )
        with VerticalScroll(id="events-detail"):
            yield Static(id="events-detail-body")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_summary()
        self.set_interval(TICK_S, self.tick)

    def on_screen_resume(self) -> None:
        self.table.focus()
        self.tick()

    @property
    def table(self) -> LineTable:
        return self.query_one("#events-table", LineTable)

    def focus_main(self) -> None:
        self.table.focus()

    # Feed ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Take what arrived since the last tick, in one repaint (skipped while paused)."""
        runtime = self.app.runtime
        if runtime is None or self.app.screen is not self:
            return  # not on screen: catch up in one go when shown again (on_screen_resume)
        received = runtime.events_received
        changed = received != self.seen or runtime.events_updated != self._updates
        if not self.paused and changed:
            added = received - self.seen
            self.seen = received
            self._updates = runtime.events_updated
            self.snapshot = list(runtime.events)
            if runtime.feed is not None:
                new = self.snapshot[len(self.snapshot) - min(added, len(self.snapshot)):]
                skipped = self._watch.look(new, runtime.feed.delivered())
                if skipped:
                    self.skipped += skipped
                    self.refresh_bindings()
            self._refilter(shift=added)
            self.frames += 1
        self._show_summary()
        if self._target is not None:
            self._find(self._target)

    def _haystack(self, event: Any) -> str:
        key = id(event)
        text = self._haystacks.get(key)
        if text is None:
            text = self._haystacks[key] = event_haystack(event)
        return text

    def _refilter(self, shift: int = 0) -> None:
        flt = self.current_filter
        newest_first = self.snapshot[::-1]
        if flt.is_empty and not flt.invert:
            self.shown = newest_first
        else:
            self.shown = [
                e for e in newest_first if flt.matches(self._haystack(e), event_fields(e))
            ]
            live = {id(e) for e in self.snapshot}
            if len(self._haystacks) > 2 * len(live) + 1000:
                self._haystacks = {k: v for k, v in self._haystacks.items() if k in live}
        table = self.table
        cursor = table.cursor
        table.set_rows(len(self.shown), self._row_at, keep_cursor=True)
        if cursor and shift:
            table.cursor = min(cursor + shift, max(len(self.shown) - 1, 0))

    def apply_filter(self, flt: Filter) -> None:
        self._refilter()
        self._show_summary()

    def _show_summary(self) -> None:
        label = self.app.labels
        runtime = self.app.runtime
        text = Text(no_wrap=True, overflow="ellipsis")
        if runtime is None:
            text.append(label("not connected"), style="dim")
        else:
            text.append(f"{len(self.shown)} {label('shown')} {label('of')} {len(self.snapshot)}")
            if self.paused:
                waiting = runtime.events_received - self.seen
                text.append(
                    f"  ⏸ {label('pause')} · {waiting} {label('waiting')}", style="bold yellow"
                )
            else:
                text.append("  ▶ live", style="green")
            status = runtime.feed_status
            if status is not None and status.lag:
                text.append(f"  lag {status.lag}", style="yellow")
            if self.skipped:
                text.append(f"  ⚠ {self._skipped_text()}", style="bold yellow")
            if status is not None and status.gaps:
                # A broker that restarted empty: say what could not be read instead of hiding it.
                text.append(f"  ⚠ {status.gaps[-1].describe()}", style="bold red")
        if self.current_filter.text:
            text.append(f"  /{self.current_filter.text}", style="bold")
        self.query_one("#events-summary", Static).update(text)

    def _skipped_text(self) -> str:
        latest = self.skipped[-1].describe()
        if len(self.skipped) > 1:
            total = sum(s.count for s in self.skipped)
            latest = f"skipped {total} events in {len(self.skipped)} runs; latest: {latest}"
        key = next((key for key, found in self._bindings.key_to_bindings.items()
                    if any(b.action == "load_skipped" for b in found)), "l")
        return f"{latest}; press {key} to load them"

    def _row_at(self, index: int) -> Sequence[Cell]:
        event = self.shown[index]
        when = event.timestamp.strftime("%H:%M:%S.%f")[:12] if event.timestamp else ""
        topic = event.topic.removeprefix("gateway.events.")
        kind = event.type or f"raw ({event.mode})"
        linked = [("→ " + event.transaction_id, "cyan")] if event.transaction_id else ""
        return [
            when,
            topic,
            [(kind, "bold" if event.type else "dim italic")],
            event.subject or "",
            linked,
        ]

    # Actions -------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.tick()
        self._show_summary()
        self._label_pause_key()

    def action_load_skipped(self) -> None:
        runtime = self.app.runtime
        if self.skipped and runtime is not None and runtime.feed is not None:
            self.run_worker(self._load_skipped(runtime.feed), group="load-skipped",
                            exclusive=True, exit_on_error=False)

    async def _load_skipped(self, feed: Any) -> None:
        """Read the skipped events again, pause, and show them at the old end of the list (they
        arrived before every event in the window, which is why they fell out of it). Newest
        first, so that what is left for the next press is older than what is shown."""
        loaded: list[Any] = []
        for skip in reversed(list(self.skipped)):
            budget = LOAD_LIMIT - len(loaded)
            if budget <= 0:
                break
            part = replace(skip, first=max(skip.first, skip.last - budget + 1))
            try:
                events = await feed.load(part, limit=budget)
            except FeedError as exc:
                self.app.notify(str(exc), severity="error", timeout=10)
                break
            loaded = events + loaded
            index = self.skipped.index(skip)
            if part.first > skip.first:  # the budget ran out: keep the older rest
                self.skipped[index] = replace(skip, last=part.first - 1,
                                              count=max(1, skip.count - len(events)))
            else:
                del self.skipped[index]
        self.refresh_bindings()
        if not loaded:
            return
        self.paused = True
        self._label_pause_key()
        self.snapshot = sorted(loaded, key=lambda e: e.timestamp) + self.snapshot
        self._refilter()
        self._show_summary()
        self.app.notify(f"loaded {len(loaded)} skipped events; paused (space resumes live)")

    def _label_pause_key(self) -> None:
        """The footer says what space does next: "resume" while paused, "pause" while live."""
        word = self.app.labels("resume" if self.paused else "pause")
        table = self._bindings.key_to_bindings
        for key, key_bindings in table.items():
            table[key] = [
                replace(b, description=word) if b.action == "pause" else b for b in key_bindings
            ]
        self.refresh_bindings()

    def selected_item(self) -> Any | None:
        return self.shown[self.table.cursor] if self.shown else None

    def open_detail(self, item: Any) -> None:
        self._show_detail(item)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`t` is dimmed unless the event under the cursor names a transaction; `l` is only
        there when something was skipped."""
        allowed = super().check_action(action, parameters)
        if allowed and action == "load_skipped" and not self.skipped:
            return False
        if allowed and action == "open_tx" and not self._cursor_tx():
            return None
        return allowed

    def _cursor_tx(self) -> str | None:
        if not self.shown:
            return None
        cursor = self.table.cursor
        return self.shown[cursor].transaction_id if cursor < len(self.shown) else None

    def on_line_table_highlighted(self, event: LineTable.Highlighted) -> None:
        self.refresh_bindings()
        if self.has_class("-detail") and event.index < len(self.shown):
            self._show_detail(self.shown[event.index])

    def _show_detail(self, event: Any) -> None:
        parts: list[Any] = [
            Text(f"{event.type or 'raw'}  {event.id or ''}", style="bold"),
            Text(
                f"{event.topic}[{event.partition}]@{event.offset}  key={event.key}  "
                f"mode={event.mode}",
                style="dim",
            ),
        ]
        if event.transaction_id:
            parts.append(
                Text.assemble(("tx ", "dim"), (event.transaction_id, "bold cyan"), ("  t", "dim"))
            )
        if event.note:
            parts.append(Text(event.note, style="yellow"))
        parts.append(Text("── headers ──", style="dim"))
        for name, value in event.headers:
            parts.append(Text.assemble((f"{name}: ", "bold"), value))
        parts.append(Text("── data ──", style="dim"))
        if isinstance(event.data, (dict, list)):
            parts.append(
                Syntax(
                    json.dumps(event.data, indent=2, ensure_ascii=False, default=str),
                    "json",
                    word_wrap=True,
                    background_color="default",
                )
            )
        else:
            parts.append(
                Text(str(event.data if event.data is not None else event.raw_value[:2000]))
            )
        self.query_one("#events-detail-body", Static).update(Group(*parts))

    def action_open_tx(self) -> None:
        if not self.shown:
            return
        event = self.shown[self.table.cursor]
        if event.transaction_id:
            self.app.open_transaction(event.transaction_id)

    def show_event(self, event_id: str) -> None:
        """Put the cursor on ``event_id`` (now, or when it arrives) and open its detail."""
        self._target = event_id
        if self.is_mounted:
            self._find(event_id)

    def _find(self, event_id: str) -> None:
        for index, event in enumerate(self.shown):
            if event.id == event_id:
                self._target = None
                self.table.cursor = index
                self.add_class("-detail")
                self._show_detail(event)
                return
