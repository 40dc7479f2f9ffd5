"""Transactions: the local log, newest first, with outcome badges, search, detail, re-run, export.

The log can hold millions of calls, so the table reads it a page at a time (keyset cursor) and
paints with the Line API; the filter's words go to the log's full-text index and its fields to
SQL, so search costs the same however long the log is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.errors import ApilogError
from screens.base import TableView
from screens.catalogue_view import METHOD_STYLE, is_mutating
from screens.filtering import Filter
from screens.keymap import bindings
from screens.widgets.line_table import Cell, Column, LineTable
from screens.widgets.response import outcome_badge, render_result

PAGE = 500


class TransactionsView(TableView):
    VIEW = "tx"
    FIELDS = frozenset({"outcome", "method", "action", "path"})
    BINDINGS = bindings("open-event", "rerun", "export")
    DEFAULT_CSS = """
    TransactionsView #tx-summary { height: 1; padding: 0 1; color: $text-muted; }
    TransactionsView #tx-detail { height: 60%; border-top: solid $panel-lighten-2; padding: 0 1;
                                  display: none; }
    TransactionsView.-detail #tx-detail { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.total = 0
        self.selected: Any = None
        self._exhausted = False

    def compose_body(self) -> ComposeResult:
        label = self.app.labels
        yield Static(id="tx-summary")
        yield LineTable(
            [
                Column(label("time"), 9),
                Column(label("method"), 7),
                Column(label("path"), 22),
                Column(label("action"), 14),
                Column(label("outcome"), 16),
                Column("http", 5),
                Column("ms", 6),
                Column("tx", 0),
            ],
            empty=label("not connected"),
            select_label=label("detail"),
            id="tx-table",
        )
        with VerticalScroll(id="tx-detail"):
            yield Static(id="tx-detail-body")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(2.0, self._refresh_if_shown)

    def on_runtime_ready(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        self.table.focus()
        self.reload()

    @property
    def table(self) -> LineTable:
        return self.query_one("#tx-table", LineTable)

    @property
    def txlog(self) -> Any:
        session = self.app.session
        return session.txlog if session is not None and session.is_open else None

    def focus_main(self) -> None:
        self.table.focus()

    def _refresh_if_shown(self) -> None:
        if self.app.screen is self and self.table.cursor == 0 and self.txlog is not None:
            self.reload(keep=True)

    # Loading -------------------------------------------------------------------------------

    def _query_args(self, flt: Filter) -> dict[str, Any]:
        args: dict[str, Any] = {name: value for name, value in flt.fields}
        if "outcome" in args:
            args["outcome"] = args["outcome"].replace(" ", "_")
        words = flt.literal or (flt.pattern.pattern if flt.pattern is not None else "")
        if words and not flt.invert:
            args["text"] = words
        return args

    def reload(self, keep: bool = False) -> None:
        self._load(self.current_filter, None, keep)

    @work(thread=True, exclusive=True, group="tx-load", exit_on_error=False)
    def _load(self, flt: Filter, before: str | None, keep: bool) -> None:
        txlog = self.txlog
        if txlog is None:
            return
        if flt.invert:
            # SQL and full text cannot say "not"; invert over the newest page instead.
            page = txlog.query(limit=PAGE, before=before)
            page = [tx for tx in page if flt.matches(_haystack(tx), _fields(tx))]
            total = None
        else:
            args = self._query_args(flt)
            page = txlog.query(limit=PAGE, before=before, **args)
            total = txlog.count(**args)
        self.app.call_from_thread(self._loaded, page, total, before is not None, keep)

    def _loaded(self, page: list[Any], total: int | None, more: bool, keep: bool) -> None:
        self.rows = self.rows + page if more else page
        self._exhausted = len(page) < PAGE
        self.total = total if total is not None else len(self.rows)
        self.table.set_rows(len(self.rows), self._row_at, keep_cursor=keep or more)
        self.refresh_bindings()
        label = self.app.labels
        summary = f"{label('tx')}: {self.total}"
        if self.current_filter.text:
            summary += f"  /{self.current_filter.text}"
        self.query_one("#tx-summary", Static).update(summary)

    def apply_filter(self, flt: Filter) -> None:
        self._load(flt, None, False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys with nothing to act on are dimmed, not silently ignored."""
        allowed = super().check_action(action, parameters)
        if allowed and action in ("rerun", "export") and not self.rows:
            return None
        if allowed and action == "open_event" and not getattr(self.selected, "event_id", None):
            return None
        return allowed

    def on_line_table_highlighted(self, event: LineTable.Highlighted) -> None:
        if event.index >= len(self.rows) - 50 and not self._exhausted and self.rows:
            self._exhausted = True  # one page request at a time
            self._load(self.current_filter, self.rows[-1].id, True)
        if self.has_class("-detail") and event.index < len(self.rows):
            self._open_detail(self.rows[event.index].id)

    # Painting ------------------------------------------------------------------------------

    def _row_at(self, index: int) -> Sequence[Cell]:
        tx = self.rows[index]
        when = datetime.fromtimestamp(tx.started_at, UTC).strftime("%H:%M:%S")
        return [
            when,
            [(tx.method, METHOD_STYLE.get(tx.method, ""))],
            tx.path,
            self.app.labels.term(tx.action),
            outcome_badge(tx.outcome, tx.attempt_count, self.app.labels),
            str(tx.status or "–"),
            f"{tx.elapsed_ms:.0f}" if tx.elapsed_ms is not None else "–",
            tx.id,
        ]

    # Detail --------------------------------------------------------------------------------

    def selected_item(self) -> Any | None:
        return self.rows[self.table.cursor].id if self.rows else None

    def open_detail(self, item: Any) -> None:
        self._open_detail(item)

    def show_transaction(self, tx_id: str) -> None:
        """Open one transaction's detail (the Events view's jump lands here)."""
        self.add_class("-detail")
        self._open_detail(tx_id)

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
            body.update(Text(self.app.labels("nothing yet"), style="dim"))
            return
        # The log links the events the feed delivered: one with the call's id has reached Kafka.
        seen = next((link for link in tx.events if link.event_id == tx.event_id), None)
        parts = [render_result(tx, self.app.labels, event_seen=seen, show_request=True)]
        if tx.events:
            parts.append(Text(f"── {self.app.labels('events')} ──", style="bold"))
            for link in tx.events:
                delay = f" +{link.delay_ms:.0f} ms" if link.delay_ms is not None else ""
                parts.append(
                    Text(f"{link.event_id}  {link.topic}[{link.partition}]@{link.offset}{delay}")
                )
        body.update(Group(*parts))

    def action_open_event(self) -> None:
        if self.selected is not None and self.selected.event_id:
            self.app.open_event(self.selected.event_id)

    # Re-run and export ---------------------------------------------------------------------

    def action_rerun(self) -> None:
        if not self.rows:
            return
        tx = self.rows[self.table.cursor]
        op = self.app.catalogue.operation(tx.path, tx.method, tx.action)
        if op is None:
            return
        if is_mutating(op):
            from screens.widgets.prompts import Confirm, rerun_question

            self.app.push_screen(
                Confirm(rerun_question(op, self.app.labels)),
                lambda yes: self._rerun(tx.id) if yes else None,
            )
        else:
            self._rerun(tx.id)

    @work(exclusive=True, group="tx-rerun", exit_on_error=False)
    async def _rerun(self, tx_id: str) -> None:
        session = self.app.session
        if session is None or not session.connected:
            self.notify(self.app.labels("not connected"), severity="warning")
            return
        try:
            result = await session.rerun(tx_id)
        except ApilogError as exc:  # a policy refused it, or the row is gone: say which
            self.notify(str(exc), severity="warning")
            return
        from screens.widgets.prompts import rerun_result

        self.notify(rerun_result(result, self.app.labels))
        self.reload()

    def action_export(self) -> None:
        self._export(self.current_filter)

    @work(thread=True, exclusive=True, group="tx-export", exit_on_error=False)
    def _export(self, flt: Filter) -> None:
        from console.config import data_dir
        from console.txlog import export as txexport

        txlog = self.txlog
        if txlog is None:
            return
        stamp = self.app.clock().strftime("%Y%m%d-%H%M%S")
        target = data_dir() / "exports" / f"transactions-{stamp}.ndjson"
        target.parent.mkdir(parents=True, exist_ok=True)
        # The log's exporters filter in SQL, which has no "not": an inverted filter exports all.
        args = {} if flt.invert else self._query_args(flt)
        with target.open("w", encoding="utf-8") as out:
            count = txexport.export_ndjson(txlog, out, **args)
        note = " (! ignored: the whole log)" if flt.invert else ""
        self.app.call_from_thread(
            self.notify, f"{self.app.labels('export')}: {count} → {target}{note}"
        )


def _fields(tx: Any) -> dict[str, str]:
    return {
        "outcome": tx.outcome,
        "method": tx.method.lower(),
        "action": tx.action,
        "path": tx.path.lower(),
    }


def _haystack(tx: Any) -> str:
    return f"{tx.method} {tx.path} {tx.action} {tx.outcome} {tx.status} {tx.id}".lower()
