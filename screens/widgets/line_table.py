"""A table that renders only the lines on screen (Textual's Line API, as Toolong does).

DataTable measures every cell of every row on the UI loop and freezes far below 100,000 rows;
this one asks its owner for one row at a time (``row_at(index)``) while painting, so its cost
is the height of the terminal, not the length of the data. Columns have fixed widths chosen by
the owner; the last column takes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: One cell: plain text, or spans of (text, rich style string) such as contract badges.
Cell = str | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Column:
    title: str
    width: int


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
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._styles: dict[str, Style] = {}

    # The data -------------------------------------------------------------------------------

    def set_rows(
        self, count: int, row_at: Callable[[int], Sequence[Cell]], *, keep_cursor: bool = False
    ) -> None:
        """Show ``count`` rows read lazily from ``row_at``; the cursor goes back to the top."""
        self.row_count = count
        self._row_at = row_at
        self._cache.clear()
        self.virtual_size = Size(self.size.width, count + 1)
        if not keep_cursor:
            self.scroll_to(y=0, animate=False)
        self.cursor = min(self.cursor, max(count - 1, 0)) if keep_cursor else 0
        self.refresh()

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self._cache.clear()
        self.refresh()

    def clear_cache(self) -> None:
        """Forget rendered lines (their data changed in place)."""
        self._cache.clear()
        self.refresh()

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

    # Painting -------------------------------------------------------------------------------

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def _cells(self, cells: Sequence[Cell], base: Style, width: int) -> list[Segment]:
        segments: list[Segment] = []
        used = 0
        for number, column in enumerate(self.columns):
            last = number == len(self.columns) - 1
            room = max(width - used, 0) if last else min(column.width, max(width - used, 0))
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

    def render_line(self, y: int) -> Strip:
        width = self.size.width
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
            base = self.rich_style
            if selected:
                base = base + self.get_component_rich_style("line-table--cursor")
            strip = Strip(self._cells(self._row_at(index), base, width), width)
            self._cache[key] = strip
        return strip
