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
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Static

from console.events.fanout import WindowWatch
from console.events.status import FeedError
from screens.base import FilterBar, TableView
from screens.filter_prompt import INVALID_CSS, filter_note, mark_prompt
from screens.filtering import Filter, field_text, filter_hint
from screens.keymap import bindings
from screens.tx_actions import TransactionActions, TransactionCommands, tx_bindings
from screens.widgets.line_table import Cell, Column, LineTable

TICK_S = 0.1
#: How often the view asks the log which calls the checks and the CLI made (their events are
#: hidden until `a`), and how far back.
OTHERS_POLL_S = 1.0
OTHERS_WINDOW_S = 6 * 3600
OTHERS_LIMIT = 100_000
#: Skipped events read again per press of `l` (the newest first; press again for older ones).
LOAD_LIMIT = 10_000


def event_haystack(event: Any) -> str:
    data = event.data  # parsed (and redacted) on each read: once here
    data = data if isinstance(data, str) else json.dumps(data, default=str)
    return (
        f"{event.topic} {event.type} {event.subject} {event.id} {event.key} "
        f"{event.transaction_id} {data}"
    ).lower()


def event_fields(event: Any) -> dict[str, str]:
    """The fields `/` knows; a topic matches with or without its ``gateway.events.`` prefix."""
    return {
        "type": field_text(event.type or "", *(event.type or "").split(".")),
        "topic": field_text(event.topic, event.topic.removeprefix("gateway.events.")),
        "subject": field_text(event.subject or ""),
        "tx": field_text(event.transaction_id or ""),
    }


class EventsView(TransactionActions, TableView):
    VIEW = "events"
    FIELDS = frozenset({"type", "topic", "subject", "tx"})
    COMMANDS = {TransactionCommands}
    BINDINGS = [
        *bindings("pause", "open-tx", "load-skipped"),
        *tx_bindings(),
        *bindings("toggle-mine"),
    ]
    DEFAULT_CSS = """
    EventsView #events-summary { height: 1; padding: 0 1; color: $text-muted; }
    EventsView #events-detail { height: 55%; border-top: solid $panel-lighten-2; padding: 0 1;
                                display: none; }
    EventsView.-detail #events-detail { display: block; }
    """ + INVALID_CSS

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.snapshot: list[Any] = []  # oldest first, as the runtime keeps them
        self.shown: list[Any] = []  # newest first, after the filter
        self.seen = 0  # runtime.events_received at the last snapshot
        self.frames = 0  # repaints caused by arrivals (the benchmark reads it)
        self._haystacks: dict[int, tuple[str, dict[str, str]]] = {}
        self._target: str | None = None
        self._updates = 0
        self.applied: Filter = self.current_filter
        #: Hide the events of calls the checks and the CLI made (`a` shows them).
        self.mine_only = True
        #: Transaction ids of this log's calls made by the checks or the CLI.
        self.others: frozenset[str] = frozenset()
        self.hidden = 0
        self._watch = WindowWatch()
        self.skipped: list[Any] = []  # console.events.fanout.Skipped, not loaded yet

    def compose_body(self) -> ComposeResult:
        label = self.console.labels
        yield Static(id="events-summary")
        yield LineTable(
            [
                Column(label("time"), 12),
                Column("topic", 8, grow=1),
                Column("type", 12, grow=1),
                Column("subject", 8, grow=1),
                Column("tx", 10, grow=1),
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
        self.set_interval(OTHERS_POLL_S, self._poll_others)

    def filter_hint(self) -> str:
        return filter_hint(self.FIELDS)

    def _poll_others(self) -> None:
        if self.on_top and self.mine_only:
            self._read_others()

    @work(thread=True, exclusive=True, group="events-others", exit_on_error=False)
    def _read_others(self) -> None:
        session = self.console.session
        if session is None or not session.is_open:
            return
        since = self.console.clock().timestamp() - OTHERS_WINDOW_S
        rows = session.txlog.query(origin=("check", "cli"), since=since, limit=OTHERS_LIMIT)
        others = frozenset(tx.id for tx in rows)
        if others != self.others:
            self.app.call_from_thread(self._others_changed, others)

    def _others_changed(self, others: frozenset[str]) -> None:
        self.others = others
        self._refilter()
        self._show_summary()

    def on_screen_resume(self) -> None:
        self.table.focus()
        self.tick()
        self._say_if_waiting()

    @property
    def table(self) -> LineTable:
        return self.query_one("#events-table", LineTable)

    def focus_main(self) -> None:
        self.table.focus()

    # Feed ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Take what arrived since the last tick, in one repaint (skipped while paused)."""
        runtime = self.console.runtime
        if runtime is None or not self.on_top:
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

    def _searchable(self, event: Any) -> tuple[str, dict[str, str]]:
        key = id(event)
        found = self._haystacks.get(key)
        if found is None:
            found = self._haystacks[key] = (event_haystack(event), event_fields(event))
        return found

    def _refilter(self, shift: int = 0) -> None:
        flt = self.applied
        newest_first = self.snapshot[::-1]
        if self.mine_only and self.others:
            others = self.others
            count = len(newest_first)
            newest_first = [e for e in newest_first if e.transaction_id not in others]
            self.hidden = count - len(newest_first)
        else:
            self.hidden = 0
        if flt.is_empty:
            self.shown = newest_first
        else:
            searchable = self._searchable
            self.shown = [e for e in newest_first if flt.matches(*searchable(e))]
            live = {id(e) for e in self.snapshot}
            if len(self._haystacks) > 2 * len(live) + 1000:
                self._haystacks = {k: v for k, v in self._haystacks.items() if k in live}
        table = self.table
        cursor = table.cursor
        table.set_rows(len(self.shown), self._row_at, keep_cursor=True)
        if cursor and shift:
            table.cursor = min(cursor + shift, max(len(self.shown) - 1, 0))

    def apply_filter(self, flt: Filter) -> None:
        if mark_prompt(self, flt):
            self.applied = flt
            self._refilter()
        self._show_summary()

    def action_toggle_mine(self) -> None:
        self.mine_only = not self.mine_only
        if self.mine_only:
            self._read_others()
        self._label_toggle_key()
        self._refilter()
        self._show_summary()

    def _label_toggle_key(self) -> None:
        """The footer says what `a` does next: show all, or hide the checks' and CLI's again."""
        self.relabel("toggle_mine", self.console.labels("all" if self.mine_only else "mine only"))

    def _show_summary(self) -> None:
        try:
            summary = self.query_one("#events-summary", Static)
            table = self.table
        except NoMatches:  # a late tick while the view's widgets go (the app quitting)
            return
        label = self.console.labels
        runtime = self.console.runtime
        text = Text(no_wrap=True, overflow="ellipsis")
        if runtime is None:
            text.append(label("no event feed") if self.console.session is None
                        else label("connecting"), style="dim")
        else:
            text.append(f"{len(self.shown)} {label('shown')} {label('of')} {len(self.snapshot)}")
            if self.paused:
                waiting = runtime.events_received - self.seen
                text.append(
                    f"  ⏸ {label('paused')} · {waiting} {label('waiting')}", style="bold yellow"
                )
            else:
                text.append("  ▶ live", style="green")
            if self.hidden:
                text.append(f"  {self.hidden:,} {label('from checks/CLI hidden')} · a: "
                            f"{label('all')}", style="dim")
            elif not self.mine_only:
                text.append(f"  {label('all origins')} · a: {label('mine only')}", style="dim")
            if self._target is not None:
                text.append(f"  … {self._target}: {label('event not received yet')}",
                            style="bold yellow")
            status = runtime.feed_status
            if status is not None and status.lag:
                text.append(f"  lag {status.lag}", style="yellow")
            if self.skipped:
                text.append(f"  ⚠ {self._skipped_text()}", style="bold yellow")
            if status is not None and status.gaps:
                # A broker that restarted empty: say what could not be read instead of hiding it.
                text.append(f"  ⚠ {status.gaps[-1].describe()}", style="bold red")
        text.append_text(filter_note(self, self.applied))
        # One line whatever it says (height 1, the screen's width): no layout of the screen
        # for it, which a live feed would ask several times a second (each layout leaves the
        # screen's whole map of widgets for the collector; docs/benchmarks.md, 6 December,
        # midday).
        summary.update(text, layout=False)
        table.set_empty(self._empty_text())

    def _empty_text(self) -> str:
        label = self.console.labels
        if self.console.runtime is None:
            return label("no event feed") if self.console.session is None else label("connecting")
        if not self.snapshot:
            return label("no events yet")
        if self.hidden and self.hidden == len(self.snapshot):
            return f"{label('only checks/CLI events so far')} · a: {label('all')}"
        return label("no events match")

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
        self.relabel("pause", self.console.labels("resume" if self.paused else "pause"))

    def selected_item(self) -> Any | None:
        return self.shown[self.table.cursor] if self.shown else None

    def open_detail(self, item: Any) -> None:
        self._show_detail(item)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The acts on a call are dimmed unless the event under the cursor names one; `l` is
        only there when something was skipped."""
        allowed = super().check_action(action, parameters)
        if allowed and action == "load_skipped" and not self.skipped:
            return False
        if allowed and action in ("open_tx", "copy_curl", "edit_call", "rerun") and not (
            self._cursor_tx()
        ):
            return None
        return allowed

    def cursor_tx_id(self) -> str | None:
        return self._cursor_tx()

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
                Text.assemble(
                    ("tx ", "dim"),
                    (event.transaction_id, "bold cyan"),
                    (f"  {self.console.get_key_display_for('open-tx')}", "dim"),
                )
            )
        if event.note:
            parts.append(Text(event.note, style="yellow"))
        parts.append(Text("── headers ──", style="dim"))
        for name, value in event.headers:
            parts.append(Text.assemble((f"{name}: ", "bold"), value))
        parts.append(Text("── data ──", style="dim"))
        data = event.data  # parsed (and redacted) on each read: once here
        if isinstance(data, (dict, list)):
            parts.append(
                Syntax(
                    json.dumps(data, indent=2, ensure_ascii=False, default=str),
                    "json",
                    word_wrap=True,
                    background_color="default",
                )
            )
        else:
            parts.append(
                Text(str(data if data is not None else event.raw_value[:2000]))
            )
        self.query_one("#events-detail-body", Static).update(Group(*parts))

    def action_open_tx(self) -> None:
        if not self.shown:
            return
        event = self.shown[self.table.cursor]
        if event.transaction_id:
            self.console.open_transaction(event.transaction_id)

    def show_event(self, event_id: str) -> None:
        """Put the cursor on ``event_id`` and open its detail; an event not received yet is
        said so, and followed when it arrives (never another event in its place)."""
        self._target = event_id
        if self.is_mounted and self.on_top:
            self.tick()
            self._say_if_waiting()

    def _say_if_waiting(self) -> None:
        if self._target is None:
            return
        self.remove_class("-detail")  # another event's detail would read as this one's
        self.notify(f"{self._target}: {self.console.labels('event not received yet')}",
                    severity="warning")
        self._show_summary()

    def _find(self, event_id: str) -> bool:
        for index, event in enumerate(self.shown):
            if event.id == event_id:
                self._target = None
                self.table.cursor = index
                self.add_class("-detail")
                self._show_detail(event)
                self._show_summary()
                return True
        if any(event.id == event_id for event in self.snapshot):
            # Received, but the filter or `a` hides it: show it rather than wait for nothing.
            self.mine_only = False
            self.applied = self.current_filter = Filter("")
            for bar in self.query("#filter").results(FilterBar):
                bar.value = ""
            self._refilter()
            return self._find(event_id)
        return False
