"""Catalogue: operations or source rows, filterable, with contract badges, provenance and lint.

The table is a Line API widget fed from a precomputed index, so a 100,000-operation catalogue
costs one pass to index (in a thread) and then only the visible lines to paint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from console.catalogue.model import Operation, Row
from console.catalogue.vocabulary import may_change_state
from screens.base import View
from screens.filter_prompt import INVALID_CSS, filter_note, mark_prompt
from screens.filtering import Filter, FilterCache, SearchIndex, Stale, field_text, filter_hint
from screens.keymap import bindings
from screens.widgets.legend import BADGES, badge_text, contract_legend
from screens.widgets.line_table import Cell, Column, LineTable

METHOD_STYLE = {
    "GET": "bold green",
    "POST": "bold yellow",
    "PUT": "bold blue",
    "PATCH": "bold cyan",
    "DELETE": "bold red",
}


def is_mutating(operation: Row | Operation) -> bool:
    """A call that may change state: a write action, or a method that is not safe."""
    return may_change_state(operation.method, operation.action)


#: A catalogue with more entries than this is indexed in a thread (100,000 take seconds).
INDEX_IN_THREAD_ABOVE = 20_000
#: A keystroke that must look at more rows than this (all of them, or the earlier result it
#: narrows) filters in a thread, which a newer keystroke stops; below it, on the loop, at once.
#: At 100,000 rows the loop was faster to rows on screen: filter work p95 39-43 ms against
#: 48-86 ms through a thread, which competes with the loop for the GIL and must hand its rows
#: back (bench/bench_tui.py, same run, load 4 on 2 cores).
FILTER_IN_THREAD_ABOVE = 200_000


class _LabelCache:
    """Labels of the catalogue's words, rendered once per distinct word, not once per row."""

    def __init__(self, labels) -> None:
        self.labels = labels
        self._terms: dict[str, str] = {}
        self._fields: dict[str, str] = {}
        #: By the contracts' keys (computed once per row here: Contract's own hash and equality
        #: rebuild its key every time, which made indexing the shipped 152 operations take
        #: ~60 ms instead of ~15 ms under cProfile).
        self._contracts: dict[tuple, tuple[str, str]] = {}

    def term(self, slug: str) -> str:
        if slug not in self._terms:
            self._terms[slug] = self.labels.term(slug)
        return self._terms[slug]

    def field(self, value: str, label: str = "") -> str:
        """:func:`field_text` of a value and its label, made once per distinct value."""
        text = self._fields.get(value)
        if text is None:
            text = self._fields[value] = field_text(value, label)
        return text

    def contracts(self, contracts: Sequence) -> tuple[str, str]:
        """A row's contracts as search text (slugs, then labels) and as its contract field
        (:func:`field_text` of the same), made once per combination."""
        key = tuple(c.key for c in contracts)
        made = self._contracts.get(key)
        if made is None:
            slugs = [c.slug for c in contracts]
            labels = [c.label(self.labels.lang) for c in contracts]
            made = self._contracts[key] = (
                f"{' '.join(slugs)} {' '.join(labels)}",
                field_text(*slugs, *labels),
            )
        return made


class CatalogueView(View):
    VIEW = "catalogue"
    FIELDS = frozenset({"method", "action", "contract", "path"})
    BINDINGS: ClassVar[list[BindingType]] = bindings("toggle-rows")
    #: Drawn from the catalogue alone: the app reaches the session once the rows are on screen.
    DRAWS_OFFLINE = True
    DEFAULT_CSS = """
    CatalogueView #catalogue-detail { height: 6; border-top: solid $panel-lighten-2; padding: 0 1; }
    CatalogueView #catalogue-summary { height: 1; padding: 0 1; color: $text-muted; }
    """ + INVALID_CSS

    def __init__(self) -> None:
        super().__init__()
        self.mode = "operations"
        self.entries: list[Row | Operation] = []
        self.haystacks: SearchIndex = SearchIndex([])
        self.columns: dict[str, list[str]] = {}
        self.filters = FilterCache(self.haystacks, self.columns)
        self.shown: list[int] = []
        #: Lint messages by row number and by operation key.
        self.findings_by_row: dict[int, list[str]] = {}
        self.findings_by_op: dict[tuple, list[str]] = {}
        self.hidden_mutating = 0
        self.linted = False
        #: The filter the table shows: the last one typed that could be used.
        self.applied: Filter = self.current_filter
        self._wanted: Filter = self.current_filter

    def compose_body(self) -> ComposeResult:
        yield Static(id="catalogue-summary")
        yield LineTable(
            self._columns(),
            empty=self.console.labels("nothing yet"),
            select_label=self.console.labels("open call"),
            id="catalogue-table",
        )
        yield Static(id="catalogue-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.build_index()

    @property
    def table(self) -> LineTable:
        return self.query_one("#catalogue-table", LineTable)

    def focus_main(self) -> None:
        self.table.focus()

    # Index and filter ---------------------------------------------------------------------

    def _columns(self) -> list[Column]:
        label = self.console.labels
        if self.mode == "rows":
            return [
                Column("#", 4),
                Column(label("page"), 3),
                Column(label("method"), 6),
                Column(label("path"), 12, grow=1),
                Column(label("action"), 10, grow=1),
                Column("⚠", 2),
                Column(label("result"), 10, grow=1),
                Column(label("policy"), 10, grow=1),
            ]
        return [
            Column(label("method"), 6),
            Column(label("path"), 12, grow=1),
            Column(label("action"), 10, grow=1),
            Column("⚠", 2),
            Column(label("source"), 6, grow=1),
            Column(label("contracts"), 12),
        ]

    def build_index(self) -> None:
        """Lower-case search text and fields per line, once: for a big catalogue off the UI
        loop; for a small one at once, so the first frame already has its rows (the shipped
        152 operations index in ~15 ms; through a thread the rows came ~60 ms after the view
        mounted, and in a second frame)."""
        catalogue = self.console.catalogue
        items: Sequence[Row | Operation] = (
            catalogue.rows if self.mode == "rows" else catalogue.operations
        )
        if len(items) > INDEX_IN_THREAD_ABOVE:
            self._index_in_thread(items)
        else:
            self.app.workers.cancel_group(self, "catalogue-index")  # an older, bigger one
            self._index_ready(*self._index(items))

    @work(thread=True, exclusive=True, group="catalogue-index", exit_on_error=False)
    def _index_in_thread(self, items: Sequence[Row | Operation]) -> None:
        index = self._index(items)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._index_ready, *index)

    def _index(
        self, items: Sequence[Row | Operation]
    ) -> tuple[list[Row | Operation], SearchIndex, dict[str, list[str]], int]:
        """The entries shown (read-only mode hides what changes state), their search text and
        fields, and how many were hidden."""
        readonly = self.console.readonly
        words = _LabelCache(self.console.labels)
        entries: list[Row | Operation] = []
        haystacks: list[str] = []
        columns: dict[str, list[str]] = {"method": [], "action": [], "path": [], "contract": []}
        hidden = 0
        for item in items:
            if readonly and is_mutating(item):
                hidden += 1
                continue
            contracts = (item.result, item.policy) if isinstance(item, Row) else item.contracts
            described, contract_field = words.contracts(contracts)
            text = f"{item.method} {item.path} {item.action} {words.term(item.action)} {described}"
            if isinstance(item, Row):
                text = f"{item.row} {item.page} {text} {item.description}"
            entries.append(item)
            haystacks.append(text.lower())
            columns["method"].append(words.field(item.method))
            columns["action"].append(words.field(item.action, words.term(item.action)))
            columns["path"].append(words.field(item.path))
            columns["contract"].append(contract_field)
        return entries, SearchIndex(haystacks), columns, hidden

    def _index_ready(
        self,
        entries: list[Row | Operation],
        haystacks: SearchIndex,
        columns: dict[str, list[str]],
        hidden: int,
    ) -> None:
        self.entries, self.haystacks, self.columns = entries, haystacks, columns
        self.filters = FilterCache(haystacks, columns)
        self.hidden_mutating = hidden
        self.apply_filter(self.current_filter if self.current_filter.error is None else self.applied)
        if not self.linted:
            self.linted = True
            # After the rows are drawn: lint and drawing both hold the GIL, the rows matter first.
            self.app.call_after_refresh(self.run_lint)

    def filter_hint(self) -> str:
        return filter_hint(self.FIELDS)

    def apply_filter(self, flt: Filter) -> None:
        if not mark_prompt(self, flt):
            self._show_summary()  # the rows of the last good filter stay
            return
        self._wanted = flt
        if self.filters.work(flt) > FILTER_IN_THREAD_ABOVE:
            self._filter_in_thread(flt)
        else:
            # At once, with no thread to start and hand back from; a filter still running in a
            # thread is now stale: stop it.
            self.app.workers.cancel_group(self, "catalogue-filter")
            self._show_filtered(flt, self.filters.select(flt))

    @work(thread=True, exclusive=True, group="catalogue-filter", exit_on_error=False)
    def _filter_in_thread(self, flt: Filter) -> None:
        """Big catalogues filter off the UI loop; a newer keystroke cancels an older filter,
        which then stops within a few thousand rows instead of competing with the new one."""
        worker = get_current_worker()
        filters = self.filters
        try:
            shown = filters.select(flt, stop=lambda: worker.is_cancelled)
        except Stale:
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_filtered, flt, shown)

    def _show_filtered(self, flt: Filter, shown: list[int]) -> None:
        if flt is not self._wanted:
            return  # the operator typed on; a newer filter is on its way
        self.shown = shown
        self.applied = flt
        label = self.console.labels
        self.table.set_empty(label("no operations match") if self.entries else label("nothing yet"))
        self.table.set_rows(len(self.shown), self._row_at)
        self._show_summary()
        self._show_detail(0)
        self.app.call_after_refresh(self.console.start_runtime)  # once; later calls do nothing

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # No rows to wait for (the index failed): the session must still be reached.
        if event.worker.group == "catalogue-index" and event.state == WorkerState.ERROR:
            self.console.start_runtime()

    def _show_summary(self) -> None:
        label = self.console.labels
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(
            f"{label(self.mode)}: {len(self.shown)} {label('shown')} "
            f"{label('of')} {len(self.entries)}"
        )
        text.append_text(filter_note(self, self.applied))
        if self.hidden_mutating:
            text.append(
                f"  {self.hidden_mutating} {label('hidden in read-only mode')}", style="yellow"
            )
        self.query_one("#catalogue-summary", Static).update(text)

    # Painting ------------------------------------------------------------------------------

    def _row_at(self, index: int) -> Sequence[Cell]:
        item = self.entries[self.shown[index]]
        labels = self.console.labels
        if isinstance(item, Row):  # the rows mode's entries
            findings = serious(self.findings_by_row.get(item.row, []))
            return [
                str(item.row),
                str(item.page or ""),
                [(item.method, METHOD_STYLE.get(item.method, ""))],
                item.path,
                labels.term(item.action),
                [("⚠", "bold yellow")] if findings else "",
                item.result.label(labels.lang),
                item.policy.label(labels.lang),
            ]
        findings = serious(self.findings_by_op.get(item.key, []))
        source = f"r{item.rows[0]}" + (f"+{len(item.rows) - 1}" if len(item.rows) > 1 else "")
        if item.pages:
            source += f" p{item.pages[0]}"
        badges = []
        for contract in item.contracts:
            badges.append(
                (badge_text(contract.slug, contract.params), BADGES.get(contract.slug, ("", ""))[1])
            )
            badges.append((" ", ""))
        return [
            [(item.method, METHOD_STYLE.get(item.method, ""))],
            item.path,
            labels.term(item.action),
            [(f"⚠{findings}", "bold yellow")] if findings else "",
            source,
            badges,
        ]

    def on_line_table_highlighted(self, event: LineTable.Highlighted) -> None:
        self._show_detail(event.index)

    def _show_detail(self, index: int) -> None:
        detail = self.query_one("#catalogue-detail", Static)
        if not self.shown or index >= len(self.shown):
            detail.update("")
            return
        item = self.entries[self.shown[index]]
        labels = self.console.labels
        text = Text(no_wrap=False)
        if isinstance(item, Row):
            text.append(f"{item.method} {item.path}?action={item.action}", style="bold")
            text.append(
                f"  {labels('row')} {item.row}, {labels('page')} {item.page}\n", style="dim"
            )
            text.append(
                f"{labels('result')}: {item.result.label(labels.lang)} · "
                f"{labels('policy')}: {item.policy.label(labels.lang)}\n"
            )
            findings = self.findings_by_row.get(item.row, [])
        else:
            text.append(item.label(), style="bold")
            text.append(f"  {item.scope}\n", style="dim")
            text.append_text(contract_legend(item.contracts, labels.lang))  # badge + its words
            text.append("\n")
            text.append(f"{labels('rows')} {', '.join(map(str, item.rows))}", style="dim")
            if item.pages:
                text.append(f"  {labels('page')} {', '.join(map(str, item.pages))}", style="dim")
            text.append("\n")
            findings = self.findings_by_op.get(item.key, [])
        for message in findings[:2]:
            style = "bold red" if message.startswith("error") else "yellow"
            text.append(f"⚠ {message}\n", style="dim" if message.startswith("info") else style)
        detail.update(text)

    # Actions -------------------------------------------------------------------------------

    def action_toggle_rows(self) -> None:
        self.mode = "rows" if self.mode == "operations" else "operations"
        self.table.set_columns(self._columns())
        self.entries, self.haystacks, self.columns, self.shown = [], SearchIndex([]), {}, []
        self.filters = FilterCache(self.haystacks, self.columns)
        self.table.set_rows(0, self._row_at)
        self.build_index()

    def action_open_call(self) -> None:
        if not self.shown:
            return
        item = self.entries[self.shown[self.table.cursor]]
        operation = (
            self.console.catalogue.operation(item.path, item.method, item.action)
            if isinstance(item, Row)
            else item
        )
        if operation is not None:
            self.console.open_call(operation)

    def on_line_table_selected(self, event: LineTable.Selected) -> None:
        event.stop()
        self.action_open_call()

    # Lint ----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="catalogue-lint", exit_on_error=False)
    def run_lint(self) -> None:
        """Findings from the catalogue lint, beside the rows and operations they concern."""
        by_row, by_op = lint_findings(self.console.catalogue)
        self.app.call_from_thread(self._lint_ready, by_row, by_op)

    def _lint_ready(self, by_row: dict, by_op: dict) -> None:
        self.findings_by_row, self.findings_by_op = by_row, by_op
        self.table.clear_cache()
        self._show_detail(self.table.cursor)


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def lint_findings(catalogue) -> tuple[dict[int, list[str]], dict[tuple, list[str]]]:
    """Lint messages (``"error restful-method-action: …"``) by row and by operation, worst first.

    Info findings (a duplicate row, say) are listed in the detail but not counted in the ⚠ column.
    """
    from console.catalogue.lint import lint

    by_row: dict[int, list[tuple[int, str]]] = {}
    for finding in lint(catalogue):
        if finding.row is not None:
            by_row.setdefault(finding.row, []).append(
                (
                    SEVERITY_ORDER.get(finding.severity, 3),
                    f"{finding.severity} {finding.rule}: {finding.message}",
                )
            )
    rows = {row: [text for _, text in sorted(found)] for row, found in by_row.items()}
    ops: dict[tuple, list[str]] = {}
    for op in catalogue.operations:
        found = sorted({item for r in op.rows for item in by_row.get(r, [])})
        if found:
            ops[op.key] = [text for _, text in found]
    return rows, ops


def serious(findings: list[str]) -> int:
    return sum(1 for text in findings if not text.startswith("info "))
