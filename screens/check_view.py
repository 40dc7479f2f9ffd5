"""Check: the conformance grid (operations × contracts), progress while it runs, drill-down.

The catalogue alone decides some cells before anything is sent (not applicable, catalogue
defects); the rest fill in as ``console.conformance.runner.Runner`` reports each verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import ProgressBar, Static

from console.conformance.plan import make_plan
from screens.base import TableView
from screens.filtering import Filter
from screens.keymap import bindings
from screens.widgets.line_table import Cell, Column, LineTable

#: How often a running check repaints its changed rows and its summary.
REPAINT_S = 1.0

GLYPHS: dict[str, tuple[str, str]] = {
    "passed": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "not-applicable": ("–", "dim"),
    "catalogue-defect": ("!", "bold yellow"),
    "skipped": ("·", "dim"),
    "planned": ("○", "dim"),
}
SHORT: dict[str, str] = {
    "oauth2": "AUTH",
    "transaction-log": "TXL",
    "rollback-on-error": "RB",
    "kafka-event": "EV",
    "latency-sla": "SLA",
    "full-log": "LOG",
    "retry": "RT",
    "rate-limit": "RL",
    "api-gateway": "GW",
    "versioning": "VER",
    "json-xml": "XML",
    "restful": "REST",
}


class CheckView(TableView):
    VIEW = "check"
    FIELDS = frozenset({"method", "action", "path", "verdict"})
    BINDINGS: ClassVar[list[BindingType]] = bindings("run-check", "verdict-filter")
    DEFAULT_CSS = """
    CheckView #check-summary { height: auto; max-height: 3; padding: 0 1; }
    CheckView ProgressBar { height: 1; padding: 0 1; display: none; }
    CheckView.-ran ProgressBar { display: block; }
    CheckView #check-detail { height: 45%; border-top: solid $panel-lighten-2; padding: 0 1;
                              display: none; }
    CheckView.-detail #check-detail { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Any] = []
        self.shown: list[Any] = []
        self.cells: dict[tuple, Any] = {}  # (path, method, action, slug) → Verdict | "planned"
        self.running = False
        #: A run has started in this console: before it, cells not decided yet are blank.
        self.ran = False
        self.done = 0
        self.total = 0
        #: `v` cycles through these: only operations with at least one such verdict are shown.
        self.verdict: str | None = None
        #: Row of each operation on screen, and the rows whose verdicts changed since the last
        #: repaint: a run repaints those few rows once a second, not the table per verdict.
        self._row_of: dict[tuple[str, str, str], int] = {}
        self._changed_rows: set[int] = set()
        self._summary_lines = 0

    def compose_body(self) -> ComposeResult:
        from console.conformance import CONTRACT_SLUGS

        yield Static(id="check-summary")
        yield ProgressBar(total=1, show_eta=False, id="check-progress")
        columns = [Column(self.console.labels("operations"), 22)]
        columns += [
            Column(SHORT[slug], 5 if len(SHORT[slug]) > 3 else 4) for slug in CONTRACT_SLUGS
        ]
        yield LineTable(
            columns,
            empty=self.console.labels("nothing yet"),
            select_label=self.console.labels("detail"),
            id="check-table",
        )
        with VerticalScroll(id="check-detail"):
            yield Static(id="check-detail-body")

    def on_mount(self) -> None:
        super().on_mount()
        self._plan()

    @property
    def table(self) -> LineTable:
        return self.query_one("#check-table", LineTable)

    def focus_main(self) -> None:
        self.table.focus()

    def _plan(self) -> None:
        from console.conformance.plan import make_plan

        plan = make_plan(self.console.catalogue)
        self.operations = list(dict.fromkeys(item.operation for item in plan))
        for item in plan:
            self.cells[(*item.operation.key, item.slug)] = item.decided or "planned"
        self.total = len(plan)
        self.apply_filter(self.current_filter)

    def apply_filter(self, flt: Filter) -> None:
        def fields(op: Any) -> dict[str, str]:
            verdicts = " ".join(
                v.verdict
                for k, v in self.cells.items()
                if k[:3] == op.key and not isinstance(v, str)
            )
            return {
                "method": op.method.lower(),
                "action": op.action,
                "path": op.path.lower(),
                "verdict": verdicts,
            }

        self.shown = [
            op
            for op in self.operations
            if flt.matches(op.label().lower(), fields(op)) and self._has_verdict(op)
        ]
        self._row_of = {op.key: index for index, op in enumerate(self.shown)}
        self._changed_rows.clear()
        self.table.set_rows(len(self.shown), self._row_at, keep_cursor=True)
        self._show_summary()

    def _has_verdict(self, op: Any) -> bool:
        if self.verdict is None:
            return True
        return any(
            getattr(value, "verdict", None) == self.verdict
            for key, value in self.cells.items()
            if key[:3] == op.key
        )

    def _show_summary(self) -> None:
        from console.conformance import VERDICTS

        label = self.console.labels
        counts = dict.fromkeys(VERDICTS, 0)
        for value in self.cells.values():
            if not isinstance(value, str):
                counts[value.verdict] += 1
        chunks: list[tuple[str, str]] = []
        if not self.ran:
            # What the catalogue alone decided is not a result: nothing has been sent yet.
            chunks.append((label("not run yet"), "bold"))
            if self.console.readonly:
                chunks.append((label("read-only: the probes write, so no run from here"), "dim"))
            else:
                key = self.console.get_key_display_for("run-check")
                chunks.append((f"{key} {label('run checks')} ({len(self.shown)})", "dim"))
        else:
            if self.running:
                chunks.append((f"{label('running')} {self.done}/{self.total}", "bold yellow"))
            chunks += [
                (f"{GLYPHS[word][0]} {label(word)} {counts[word]}", GLYPHS[word][1])
                for word in VERDICTS
            ]
        if self.verdict is not None:
            chunks.append((f"v: {label('only')} {label(self.verdict)}", "bold reverse"))
        summary = self.query_one("#check-summary", Static)
        text = _wrap_chunks(chunks, summary.content_size.width)
        # Same number of lines: repaint the summary alone, not the screen's layout.
        lines = text.plain.count("\n") + 1
        summary.update(text, layout=lines != self._summary_lines)
        self._summary_lines = lines
        bar = self.query_one(ProgressBar)
        # The runner's own count: the cells the catalogue decided alone are not progress.
        bar.update(total=max(self.total, 1), progress=self.done)

    def on_resize(self) -> None:
        self._show_summary()

    def _row_at(self, index: int) -> Sequence[Cell]:
        from console.conformance import CONTRACT_SLUGS

        op = self.shown[index]
        row: list[Cell] = [f"{op.method} {op.domain} {op.action}"]
        for slug in CONTRACT_SLUGS:
            value = self.cells.get((*op.key, slug))
            if value is None or (isinstance(value, str) and not self.ran):
                row.append("")
            else:
                glyph, style = GLYPHS["planned" if isinstance(value, str) else value.verdict]
                row.append([(f" {glyph}", style)])
        return row

    def legend(self) -> list[tuple[str, str]]:
        from screens.widgets.legend import check_legend

        return check_legend(self.console.labels, SHORT, GLYPHS)

    def action_verdict_filter(self) -> None:
        """All → failed → catalogue defects → passed → skipped → all."""
        cycle = [None, "failed", "catalogue-defect", "passed", "skipped"]
        self.verdict = cycle[(cycle.index(self.verdict) + 1) % len(cycle)]
        self.apply_filter(self.current_filter)

    def why_unavailable(self, action: str) -> str:
        if action == "run_check" and self.console.readonly:
            return self.console.labels(
                "read-only mode: the probes write and delete test records; "
                "`apilog check` runs the read-only probes"
            )
        return super().why_unavailable(action)

    # Esc while running: stop the run (after asking) ---------------------------------------

    def back_label(self) -> str | None:
        return self.console.labels("stop check") if self.running else None

    def before_back(self) -> bool:
        if not self.running:
            return False
        from screens.widgets.prompts import Confirm

        label = self.console.labels
        question = (
            f"{label('Stop the check run?')} {self.done}/{self.total} "
            f"{label('done; the verdicts so far stay on screen.')}"
        )
        self.app.push_screen(Confirm(question), lambda yes: self._stop() if yes else None)
        return True

    def _stop(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "check-run")
            self.notify(
                f"{self.console.labels('check stopped')}: {self.done}/{self.total}", severity="warning"
            )

    # Running -------------------------------------------------------------------------------

    def action_run_check(self) -> None:
        session = self.console.session
        if self.running:
            return
        if session is None or not session.connected:
            self.notify(self.console.labels("not connected"), severity="warning")
            return
        from screens.widgets.prompts import Confirm

        # The probes add, change and delete records on the profile's gateway: ask first.
        label = self.console.labels
        target = session.base_url or ""
        question = (
            f"{label('run checks')}: {len(self.shown)} {label('operations')} → {target}?\n"
            f"⚠ {label('the probes write and delete test records')}"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run()

        self.app.push_screen(Confirm(question), answered)

    @work(exclusive=True, group="check-run", exit_on_error=False)
    async def _run(self) -> None:
        session = self.console.session
        if session is None:
            return
        self.running = True
        self.ran = True
        self.add_class("-ran")
        self.done = 0
        # The plan's size before the first verdict: the operations on screen, their contracts.
        self.total = len(make_plan(self.console.catalogue, operations=[op.key for op in self.shown]))
        self.table.clear_cache()
        self._show_summary()
        self.refresh_bindings()

        def progress(done: int, total: int, verdict: Any) -> None:
            self.done, self.total = done, total
            self.cells[verdict.key] = verdict
            row = self._row_of.get(verdict.key[:3])
            if row is not None:
                self._changed_rows.add(row)

        # Drawing each verdict as it came made the console's run 2.4x the CLI's (the run and
        # the screen share one event loop): the rows and the summary follow once a second instead.
        repaint = self.set_interval(REPAINT_S, self._repaint_progress)
        try:
            # The operations on screen: `/` narrows a run to what the operator is looking at.
            # The console runs against the profile the operator chose to act on: writes are
            # allowed unless the profile or --readonly says otherwise.
            await session.check(
                operations=[op.key for op in self.shown],
                allow_writes=not session.readonly,
                on_progress=progress,
            )
        except Exception as exc:
            self.notify(f"check: {exc}", severity="error")
        finally:
            for note in session.check_notes:
                self.notify(f"check: {note}", severity="warning")
            repaint.stop()
            self.running = False
            self._repaint_progress()
            self.refresh_bindings()

    def _repaint_progress(self) -> None:
        if self._changed_rows:
            self.table.refresh_rows(sorted(self._changed_rows))
            self._changed_rows.clear()
        self._show_summary()

    # Drill-down ----------------------------------------------------------------------------

    def selected_item(self) -> Any | None:
        return self.shown[self.table.cursor] if self.shown else None

    def open_detail(self, item: Any) -> None:
        self._show_detail(item)

    def on_line_table_highlighted(self, event: LineTable.Highlighted) -> None:
        if self.has_class("-detail") and event.index < len(self.shown):
            self._show_detail(self.shown[event.index])

    def _show_detail(self, op: Any) -> None:
        from console.conformance import CONTRACT_SLUGS

        parts: list[Any] = [Text(op.label(), style="bold")]
        for slug in CONTRACT_SLUGS:
            value = self.cells.get((*op.key, slug))
            if value is None:
                continue
            word = "planned" if isinstance(value, str) else value.verdict
            glyph, style = GLYPHS[word]
            line = Text.assemble((f"{glyph} {slug:<18}", style), (self.console.labels(word), style))
            if not isinstance(value, str):
                if value.reason:
                    line.append(f"  {value.reason}")
                ids = value.transaction_ids or value.request_ids
                if ids:
                    line.append(f"  [{', '.join(ids[:3])}]", style="dim")
            parts.append(line)
        self.query_one("#check-detail-body", Static).update(Group(*parts))


def _wrap_chunks(chunks: list[tuple[str, str]], width: int) -> Text:
    """Chunks two spaces apart, wrapped between chunks only: at 80 columns the last counts fell
    off the line, and wrapping inside one would part a count from its word."""
    text = Text()
    used = 0
    for chunk, style in chunks:
        size = cell_len(chunk)
        if used and width and used + 2 + size > width:
            text.append("\n")
            used = 0
        elif used:
            text.append("  ")
            used += 2
        text.append(chunk, style=style)
        used += size
    return text
