"""Transactions: the local log, newest first, with outcome badges, filter, detail, and the
acts on a logged call (copy as curl, edit & resend, rerun).

The log can hold millions of calls, so the table reads it a page at a time (keyset cursor) and
paints with the Line API. Who made the call (``origin``) and the outcome go to SQL; the rest of
the `/` grammar (words, fields, regex, ``!``) is matched here, row by row, over the text the
row shows in the console's language, so it means what it means in every other view. A filter
that matches little scans at most ``SCAN_LIMIT`` rows per page and says so.

By default the view shows the console's own calls (origin ``console``): a conformance run's
thousands of probes and the CLI's calls are one key (``a``) away, never in the way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.config import data_dir
from console.txlog.outcomes import OUTCOMES
from screens.base import TableView
from screens.catalogue_view import METHOD_STYLE
from screens.filter_prompt import INVALID_CSS, filter_note, mark_prompt
from screens.filtering import Filter, field_text, filter_hint
from screens.keymap import bindings
from screens.tx_actions import TransactionActions, TransactionCommands, tx_bindings
from screens.widgets.line_table import Cell, Column, LineTable
from screens.widgets.response import outcome_badge, render_result

PAGE = 500
#: Rows read from the log per query while a filter is matched here.
BATCH = 2_000
#: Rows scanned for one page of matches before the view stops and says how far it looked.
SCAN_LIMIT = 50_000
#: Who "mine" is: the calls this console made.
MINE = "console"


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    #: The last id read from the log (the next page starts below it), matched or not.
    cursor: str | None
    exhausted: bool
    scanned: int
    #: Matching rows in the whole log, when the database could count them.
    total: int | None
    logged: int
    mine: int


def outcome_field(outcome: str, labels: Any) -> str:
    return field_text(outcome, labels(outcome.replace("_", " ")))


def tx_fields(tx: Any, labels: Any) -> dict[str, str]:
    """The fields `/` knows, each with its slug and the label the row shows."""
    return {
        "outcome": outcome_field(tx.outcome, labels),
        "method": field_text(tx.method),
        "action": field_text(tx.action, labels.term(tx.action)),
        "path": field_text(tx.path),
        "origin": field_text(tx.origin or ""),
        "status": field_text(str(tx.status or "")),
    }


def tx_haystack(tx: Any, labels: Any) -> str:
    """What a plain word is looked for in: the row as shown, the slugs behind it, the body."""
    return (
        f"{tx.method} {tx.path} {tx.action} {labels.term(tx.action)} {tx.outcome} "
        f"{labels(tx.outcome.replace('_', ' '))} {tx.status} {tx.id} {tx.origin or ''} "
        f"{tx.event_id or ''} {(tx.response_body or '')[:4000]}"
    ).lower()


class TransactionsView(TransactionActions, TableView):
    VIEW = "tx"
    FIELDS = frozenset({"outcome", "method", "action", "path", "origin", "status"})
    COMMANDS = {TransactionCommands}
    BINDINGS = [
        *bindings("open-event"),
        *tx_bindings(),
        *bindings("toggle-mine"),
        *bindings("export"),
    ]
    DEFAULT_CSS = """
    TransactionsView #tx-summary { height: 1; padding: 0 1; color: $text-muted; }
    TransactionsView #tx-detail { height: 60%; border-top: solid $panel-lighten-2; padding: 0 1;
                                  display: none; }
    TransactionsView.-detail #tx-detail { display: block; }
    """ + INVALID_CSS

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.total: int | None = 0
        self.selected: Any = None
        self.mine_only = True
        self.page: Page | None = None
        self.applied: Filter = self.current_filter
        self._exhausted = False
        self._detail_id: str | None = None

    def compose_body(self) -> ComposeResult:
        label = self.console.labels
        yield Static(id="tx-summary")
        yield LineTable(
            [
                Column(label("time"), 8),
                Column(label("method"), 6),
                Column(label("path"), 14, grow=1),
                Column(label("action"), 8, grow=1),
                Column(label("outcome"), 10),
                Column("http", 4),
                Column("ms", 5),
                Column("tx", 6, grow=1),
            ],
            empty=self._empty_text(),
            select_label=label("detail"),
            id="tx-table",
        )
        with VerticalScroll(id="tx-detail"):
            yield Static(id="tx-detail-body")

    def on_mount(self) -> None:
        super().on_mount()
        self._show_summary()
        self.set_interval(2.0, self._refresh_if_shown)

    def on_runtime_ready(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        self.table.focus()
        self.reload(keep=True)

    @property
    def table(self) -> LineTable:
        return self.query_one("#tx-table", LineTable)

    @property
    def txlog(self) -> Any:
        session = self.console.session
        return session.txlog if session is not None and session.is_open else None

    def focus_main(self) -> None:
        self.table.focus()

    def filter_hint(self) -> str:
        return filter_hint(self.FIELDS)

    def _refresh_if_shown(self) -> None:
        """New calls appear while the operator watches the top; an open detail stays put."""
        if (self.on_top and self.table.cursor == 0 and self.txlog is not None
                and not self.has_class("-detail")):
            self.reload(keep=True)

    # Loading -------------------------------------------------------------------------------

    def reload(self, keep: bool = False) -> None:
        self._load(self.applied, None, keep, self.mine_only)

    def _sql_args(self, flt: Filter, mine: bool) -> dict[str, Any] | None:
        """What SQL can select: origin, and the outcomes the outcome terms name (by slug or
        label); None when no outcome can match."""
        args: dict[str, Any] = {"origin": MINE} if mine else {}
        wanted = flt.field_values("outcome")
        if wanted:
            labels = self.console.labels
            probe = Filter("", tuple(t for t in flt.terms if t.field == "outcome" and not t.negate))
            outcomes = [o for o in OUTCOMES if probe.matches("", {"outcome": outcome_field(o, labels)})]
            if not outcomes:
                return None
            args["outcome"] = outcomes
        return args

    @work(thread=True, exclusive=True, group="tx-load", exit_on_error=False)
    def _load(self, flt: Filter, before: str | None, keep: bool, mine: bool) -> None:
        txlog = self.txlog
        if txlog is None:
            return
        page = self._read(txlog, flt, before, mine)
        self.app.call_from_thread(self._loaded, page, flt, before is not None, keep, mine)

    def _read(self, txlog: Any, flt: Filter, before: str | None, mine: bool) -> Page:
        logged = txlog.count()
        ours = txlog.count(origin=MINE) if logged else 0
        args = self._sql_args(flt, mine)
        if args is None:
            return Page([], None, True, 0, 0, logged, ours)
        rest = Filter(flt.text, tuple(t for t in flt.terms if not (t.field == "outcome"
                                                                  and not t.negate)))
        if rest.is_empty:
            rows = txlog.query(limit=PAGE, before=before, **args)
            total = txlog.count(**args)
            cursor = rows[-1].id if rows else before
            return Page(rows, cursor, len(rows) < PAGE, len(rows), total, logged, ours)
        labels = self.console.labels
        matched: list[Any] = []
        scanned = 0
        cursor = before
        exhausted = False
        while len(matched) < PAGE and scanned < SCAN_LIMIT:
            batch = txlog.query(limit=BATCH, before=cursor, **args)
            matched += [tx for tx in batch if rest.matches(tx_haystack(tx, labels),
                                                           tx_fields(tx, labels))]
            scanned += len(batch)
            if batch:
                cursor = batch[-1].id
            if len(batch) < BATCH:
                exhausted = True
                break
        total = len(matched) if exhausted and before is None else None
        return Page(matched, cursor, exhausted, scanned, total, logged, ours)

    def _loaded(self, page: Page, flt: Filter, more: bool, keep: bool, mine: bool) -> None:
        if flt is not self.applied or mine != self.mine_only:
            return  # the operator has typed on (or toggled): a newer load is on its way
        self.rows = self.rows + page.rows if more else page.rows
        self._exhausted = page.exhausted
        if more and self.page is not None:
            total = self.page.total
            if page.exhausted and total is None:
                total = len(self.rows)
            page = Page(page.rows, page.cursor, page.exhausted, self.page.scanned + page.scanned,
                        total, page.logged, page.mine)
        self.page = page
        self.total = page.total
        table = self.table
        table.set_empty(self._empty_text())
        table.set_rows(len(self.rows), self._row_at, keep_cursor=keep or more)
        self.refresh_bindings()
        self._show_summary()

    def _empty_text(self) -> str:
        """What an empty table means, truly: no log, nothing logged, nothing of mine, no match."""
        label = self.console.labels
        session = self.console.session
        if session is None:
            return label("no transaction log")
        page = self.page
        if self.txlog is None or page is None:
            return label("opening the log…")
        if page.logged == 0:
            return label("no transactions yet")
        if not self.applied.is_empty:
            if page.exhausted:
                return label("no transactions match")
            return f"{label('no transactions match')} ({label('newest')} {page.scanned:,})"
        if self.mine_only and page.mine == 0:
            return (f"{label('no transactions from this console yet')} · a: "
                    f"{label('all')} {page.logged:,}")
        return label("no transactions yet")

    def _show_summary(self) -> None:
        label = self.console.labels
        page = self.page
        text = Text(no_wrap=True, overflow="ellipsis")
        if page is None:
            text.append(f"{label('tx')}: –")
        else:
            count = f"{page.total:,}" if page.total is not None else f"{len(self.rows):,}+"
            text.append(f"{label('tx')}: {count}")
            if not page.exhausted and page.total is None:
                text.append(f" ({label('newest')} {page.scanned:,} {label('scanned')})",
                            style="dim")
            if self.mine_only:
                others = page.logged - page.mine
                text.append(f"  {label('mine only')}", style="bold")
                if others:
                    text.append(f" · {others:,} {label('others hidden')} · a: {label('all')}",
                                style="dim")
            else:
                text.append(f"  {label('all origins')} · a: {label('mine only')}", style="dim")
        text.append_text(filter_note(self, self.applied))
        # One line (height 1): no layout of the screen for it (as the events view's summary).
        self.query_one("#tx-summary", Static).update(text, layout=False)

    def apply_filter(self, flt: Filter) -> None:
        if not mark_prompt(self, flt):
            self._show_summary()  # the rows of the last good filter stay
            return
        self.applied = flt
        self._load(flt, None, False, self.mine_only)

    def action_toggle_mine(self) -> None:
        self.mine_only = not self.mine_only
        self._label_toggle_key()
        self._load(self.applied, None, False, self.mine_only)

    def _label_toggle_key(self) -> None:
        """The footer says what `a` does next: show all, or back to mine only."""
        self.relabel("toggle_mine", self.console.labels("all" if self.mine_only else "mine only"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys with nothing to act on are dimmed, not silently ignored."""
        allowed = super().check_action(action, parameters)
        if allowed and action in ("rerun", "export", "copy_curl", "edit_call") and not self.rows:
            return None
        if allowed and action == "open_event" and not self._cursor_event():
            return None
        return allowed

    def on_line_table_highlighted(self, event: LineTable.Highlighted) -> None:
        if (event.index >= len(self.rows) - 50 and not self._exhausted and self.rows
                and self.page is not None):
            self._exhausted = True  # one page request at a time
            self._load(self.applied, self.page.cursor, True, self.mine_only)
        self.refresh_bindings()
        if self.has_class("-detail") and event.index < len(self.rows):
            self.open_detail(self.rows[event.index].id)

    # Painting ------------------------------------------------------------------------------

    def _row_at(self, index: int) -> Sequence[Cell]:
        tx = self.rows[index]
        when = datetime.fromtimestamp(tx.started_at, UTC).strftime("%H:%M:%S")
        return [
            when,
            [(tx.method, METHOD_STYLE.get(tx.method, ""))],
            tx.path,
            self.console.labels.term(tx.action),
            outcome_badge(tx.outcome, tx.attempt_count, self.console.labels),
            str(tx.status or "–"),
            f"{tx.elapsed_ms:.0f}" if tx.elapsed_ms is not None else "–",
            tx.id if tx.origin in (None, MINE) else f"{tx.id} ({tx.origin})",
        ]

    # Detail --------------------------------------------------------------------------------

    def selected_item(self) -> Any | None:
        return self.rows[self.table.cursor].id if self.rows else None

    def cursor_tx_id(self) -> str | None:
        if self.has_class("-detail") and self.selected is not None:
            return self.selected.id
        return self.selected_item()

    def after_rerun(self) -> None:
        self.reload()

    def open_detail(self, item: Any) -> None:
        if item != self._detail_id:  # a repaint of the same row does not reload its detail
            self._detail_id = item
            self._open_detail(item)

    def show_transaction(self, tx_id: str) -> None:
        """Open one transaction's detail (the Events view's jump lands here), the cursor on
        its row when the table shows it."""
        self.add_class("-detail")
        self.open_detail(tx_id)
        index = next((i for i, tx in enumerate(self.rows) if tx.id == tx_id), None)
        if index is not None and self.is_mounted:
            self.table.cursor = index

    @work(thread=True, exclusive=True, group="tx-detail", exit_on_error=False)
    def _open_detail(self, tx_id: str) -> None:
        txlog = self.txlog
        tx = txlog.get(tx_id) if txlog is not None else None
        self.app.call_from_thread(self._show_detail, tx)

    def _show_detail(self, tx: Any) -> None:
        self.selected = tx
        self.refresh_bindings()
        body = self.query_one("#tx-detail-body", Static)
        if tx is None:
            body.update(Text(self.console.labels("nothing yet"), style="dim"))
            return
        # The log links the events the feed delivered: one with the call's id has reached Kafka.
        seen = next((link for link in tx.events if link.event_id == tx.event_id), None)
        parts = [render_result(tx, self.console.labels, event_seen=seen, show_request=True)]
        if tx.events:
            parts.append(Text(f"── {self.console.labels('events')} ──", style="bold"))
            for link in tx.events:
                delay = f" +{link.delay_ms:.0f} ms" if link.delay_ms is not None else ""
                parts.append(
                    Text(f"{link.event_id}  {link.topic}[{link.partition}]@{link.offset}{delay}")
                )
        body.update(Group(*parts))

    def _cursor_event(self) -> str | None:
        if self.has_class("-detail") and self.selected is not None:
            return self.selected.event_id
        if self.rows and self.table.cursor < len(self.rows):
            return self.rows[self.table.cursor].event_id
        return None

    def action_open_event(self) -> None:
        event_id = self._cursor_event()
        if event_id:
            self.console.open_event(event_id)

    # Export --------------------------------------------------------------------------------

    def action_export(self) -> None:
        self._export(self.applied, self.mine_only)

    @work(thread=True, exclusive=True, group="tx-export", exit_on_error=False)
    def _export(self, flt: Filter, mine: bool) -> None:

        txlog = self.txlog
        if txlog is None:
            return
        stamp = self.console.clock().strftime("%Y%m%d-%H%M%S")
        target = data_dir() / "exports" / f"transactions-{stamp}.ndjson"
        # Operator activity: private, like the log itself.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        args = self._sql_args(flt, mine)
        labels = self.console.labels
        count = 0
        # What the view shows, filtered the same way (the log's own exporters have no regex).
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as out:
            for tx in txlog.iter_all(**args) if args is not None else ():
                if flt.matches(tx_haystack(tx, labels), tx_fields(tx, labels)):
                    out.write(json.dumps(tx.to_dict(), ensure_ascii=False) + "\n")
                    count += 1
        self.app.call_from_thread(self.notify, f"{labels('export')}: {count} → {target}")
