"""A table that renders only the lines on screen (Textual's Line API, as Toolong does).

DataTable measures every cell of every row on the UI loop and freezes far below 100,000 rows;
this one asks its owner for one row at a time (``row_at(index)``) while painting, so its cost
is the height of the terminal, not the length of the data.

Columns share the width the terminal has: each wants room for its title and for the widest cell
painted so far (measuring only painted rows keeps the cost the height of the terminal), never
less than its ``width``. When all fit,
the room left goes to the last column; when they do not, the columns that ``grow`` give up room
first, down to their ``width``, then the others. So nothing is
cut while there is room, and at 80 columns the narrow, fixed ones (a method, a status) stay whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: One cell: plain text, or spans of (text, rich style string) such as contract badges.
Cell = str | Sequence[tuple[str, str]]
#: Painted lines a table keeps (as Textual's own line caches do).
_CACHE_LINES = 1024


@dataclass(frozen=True)
class Column:
    title: str
    #: The least room the column keeps while others give up theirs.
    width: int
    #: Gives up room first when there is too little (a path, a free text).
    grow: int = 0


def share(columns: Sequence[Column], wanted: Sequence[int], width: int) -> list[int]:
    """Each column's width out of ``width``: ``wanted`` when all fit, spare room to the last
    column, and when they do not fit, the growing columns shrink first, then the others."""
    widths = [max(w, c.width) for c, w in zip(columns, wanted, strict=True)]
    spare = width - sum(widths)
    if spare >= 0:
        # Spare room goes to the end: the columns stay side by side, nothing floats apart.
        widths[-1] += spare
        return widths
    deficit = -spare
    for tier in ([i for i, c in enumerate(columns) if c.grow],
                 [i for i, c in enumerate(columns) if not c.grow]):
        while deficit > 0:
            slack = {i: widths[i] - columns[i].width for i in tier if widths[i] > columns[i].width}
            if not slack:
                break
            # The widest over its minimum gives up a column first: long paths shrink, not all.
            widest = max(slack, key=lambda i: (slack[i], i))
            widths[widest] -= 1
            deficit -= 1
    return widths


class LineTable(ScrollView, can_focus=True):
    """Rows come from ``row_at(index) -> list[Cell]``; ``set_rows`` swaps the source."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home,g", "edge(0)", "first", show=False),
        Binding("end,G", "edge(1)", "last", show=False),
        Binding("enter", "select", "open", id="select"),
    ]
    COMPONENT_CLASSES = {"line-table--header", "line-table--cursor", "line-table--empty"}
    DEFAULT_CSS = """
    LineTable { height: 1fr; overflow-x: hidden; }
    LineTable > .line-table--header { text-style: bold; background: $panel; }
    LineTable > .line-table--cursor { background: $accent 40%; }
    LineTable:focus > .line-table--cursor { background: $accent; color: $text; }
    LineTable > .line-table--empty { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, table: LineTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

    class Selected(Message):
        def __init__(self, table: LineTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty: str = "",
        select_label: str = "open",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        from dataclasses import replace

        table = self._bindings.key_to_bindings
        table["enter"] = [replace(b, description=select_label) for b in table["enter"]]
        self.columns = list(columns)
        self.empty_text = empty
        self.row_count = 0
        self._row_at: Callable[[int], Sequence[Cell]] = lambda index: ()
        #: Painted lines by (row, width, selected, focused), at most ``_CACHE_LINES``, the oldest
        #: dropped first. A plain dict, not Textual's ``LRUCache``: that keeps its entries in a
        #: circular list, so every clear (each time a live feed's rows change) left a ring of
        #: lists holding each line, with the seven caches a ``Strip`` carries, for the collector
        #: (in a console reading 500 events a second, 170,192 unreachable objects at the end of
        #: a 4-minute run with it, 80,444 without; docs/benchmarks.md, 6 December, midday).
        self._cache: dict[tuple, Strip] = {}
        self._styles: dict[str, Style] = {}
        #: Widest cell seen per column, and the rows already measured.
        self._measured: list[int] = [0] * len(self.columns)
        self._measured_rows: set[int] = set()
        self._widths: list[int] = []
        #: During one paint: the rows ``fit_columns`` read and the table's own style, so that
        #: neither is made again per line (the first frame's table: ~4.9 → ~3.5 ms of CPU,
        #: min of 50 paints).
        self._fetched: dict[int, Sequence[Cell]] = {}
        self._paint_style: Style | None = None

    # The data -------------------------------------------------------------------------------

    def set_rows(
        self, count: int, row_at: Callable[[int], Sequence[Cell]], *, keep_cursor: bool = False
    ) -> None:
        """Show ``count`` rows read lazily from ``row_at``; the cursor goes back to the top."""
        self.row_count = count
        self._row_at = row_at
        self._forget_widths()
        self.virtual_size = Size(self.size.width, count + 1)
        if not keep_cursor:
            self.scroll_to(y=0, animate=False)
        self.cursor = min(self.cursor, max(count - 1, 0)) if keep_cursor else 0
        self.refresh()

    def set_empty(self, text: str) -> None:
        """What the table says while it has no rows (repainted if that changed)."""
        if text != self.empty_text:
            self.empty_text = text
            self.refresh()

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self._forget_widths()
        self.refresh()

    def clear_cache(self) -> None:
        """Forget rendered lines (their data changed in place)."""
        self._forget_widths()
        self.refresh()

    def refresh_rows(self, indices: Iterable[int]) -> None:
        """Repaint only these rows (their data changed in place); the columns are fitted again
        if one of them now needs more room. Cheaper than :meth:`clear_cache` while a run
        updates a few rows at a time."""
        width = self.content_width
        for index in indices:
            self._measured_rows.discard(index)
            for selected in (False, True):
                for focused in (False, True):
                    self._cache.pop((index, width, selected, focused), None)
            self.refresh_line(index + 1)  # line 0 is the header

    def _forget_widths(self) -> None:
        self._cache.clear()
        self._measured = [0] * len(self.columns)
        self._measured_rows = set()
        self._widths = []

    @property
    def widths(self) -> list[int]:
        """The columns' widths now (after :meth:`fit_columns`)."""
        return list(self._widths)

    def fit_columns(self) -> None:
        """Measure the rows on screen not measured yet, and share the width again if a column
        now wants more room."""
        top = round(self.scroll_y)
        rows = range(top, min(top + self.size.height, self.row_count))
        measured = self._measured
        grew = not self._widths
        for index in rows:
            if index in self._measured_rows:
                continue
            self._measured_rows.add(index)
            cells = self._fetched[index] = self._row_at(index)
            for number, cell in enumerate(cells[: len(measured)]):
                size = cell_len(cell) if isinstance(cell, str) else sum(
                    cell_len(text) for text, _ in cell
                )
                if size > measured[number]:
                    measured[number] = size
                    grew = True
        if grew or sum(self._widths) != self.content_width:
            wanted = [
                max(measured[n], cell_len(c.title)) + (0 if n == len(self.columns) - 1 else 1)
                for n, c in enumerate(self.columns)
            ]
            widths = share(self.columns, wanted, self.content_width)
            if widths != self._widths:
                self._widths = widths
                self._cache.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        try:
            self._paint_style = self.rich_style
            self.fit_columns()
            return super().render_lines(crop)
        finally:
            self._fetched.clear()
            self._paint_style = None

    # Keys -----------------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(self.size.height - 2, 1))

    def action_edge(self, end: int) -> None:
        self._move(self.row_count - 1 if end else 0)

    def action_select(self) -> None:
        if self.row_count:
            self.post_message(self.Selected(self, self.cursor))

    def _move(self, index: int) -> None:
        if not self.row_count:
            return
        self.cursor = max(0, min(index, self.row_count - 1))

    def watch_cursor(self, index: int) -> None:
        visible = max(self.size.height - 1, 1)
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + visible:
            self.scroll_to(y=index - visible + 1, animate=False)
        self.refresh()
        if self.row_count:
            self.post_message(self.Highlighted(self, index))

    def on_click(self, event) -> None:
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < self.row_count:
            self.cursor = index

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.row_count + 1)
        self._cache.clear()
        self._widths = []

    # Painting -------------------------------------------------------------------------------

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def _cells(self, cells: Sequence[Cell], base: Style, width: int) -> list[Segment]:
        segments: list[Segment] = []
        used = 0
        widths = self._widths or [c.width for c in self.columns]
        for number, _column in enumerate(self.columns):
            last = number == len(self.columns) - 1
            room = max(width - used, 0) if last else min(widths[number], max(width - used, 0))
            if room <= 0:
                break
            cell = cells[number] if number < len(cells) else ""
            spans = [(cell, "")] if isinstance(cell, str) else list(cell)
            filled = 0
            for text, spec in spans:
                if filled >= room - (0 if last else 1):
                    break
                space = room - filled - (0 if last else 1)
                piece = text if cell_len(text) <= space else set_cell_size(text, space - 1) + "…"
                segments.append(Segment(piece, base + self._style(spec) if spec else base))
                filled += cell_len(piece)
            segments.append(Segment(" " * (room - filled), base))
            used += room
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return segments

    @property
    def content_width(self) -> int:
        """The width rows can use: the table's, less the vertical scrollbar when one shows."""
        return self.scrollable_content_region.width

    def render_line(self, y: int) -> Strip:
        width = self.content_width
        if y == 0:
            header = self.get_component_rich_style("line-table--header")
            return Strip(self._cells([c.title for c in self.columns], header, width), width)
        index = round(self.scroll_y) + y - 1
        if index >= self.row_count:
            if index == 0 and self.empty_text:
                style = self.get_component_rich_style("line-table--empty")
                return Strip([Segment(set_cell_size(" " + self.empty_text, width), style)], width)
            return Strip.blank(width, self.rich_style)
        selected = index == self.cursor
        key = (index, width, selected, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            base = self._paint_style or self.rich_style
            if selected:
                base = base + self.get_component_rich_style("line-table--cursor")
            cells = self._fetched.pop(index, None)
            if cells is None:
                cells = self._row_at(index)
            strip = Strip(self._cells(cells, base, width), width)
            cache = self._cache
            cache[key] = strip
            if len(cache) > _CACHE_LINES:
                del cache[next(iter(cache))]
        return strip
