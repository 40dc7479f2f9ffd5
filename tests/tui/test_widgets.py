"""Widget-level behaviour that the flows rely on: visible-only painting, NO_COLOR, the feed view."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from screens.widgets.line_table import Column, LineTable
from tests.tui.conftest import left_for_the_collector, log_session, screen_text, settle
from tests.tui.sample import sample_events


class TableApp(App):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.asked: set[int] = set()

    def compose(self) -> ComposeResult:
        yield LineTable([Column("n", 10), Column("text", 0)], id="table")

    def on_mount(self) -> None:
        def row_at(index: int) -> list[str]:
            self.asked.add(index)
            return [str(index), f"row {index}"]

        self.query_one(LineTable).set_rows(self.rows, row_at)


async def test_a_million_rows_cost_only_the_visible_lines():
    app = TableApp(1_000_000)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.asked and max(app.asked) < 24
        table = app.query_one(LineTable)
        table.focus()
        app.asked.clear()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 999_999
        assert min(app.asked) >= 1_000_000 - 24 and len(app.asked) <= 24


async def test_forgotten_lines_go_back_at_once_and_leave_the_collector_nothing():
    """A live feed makes the table forget its painted lines several times a second: they must
    be freed when forgotten, not left in a reference cycle for the collector's middle pass
    (which walked them on the event loop, ~0.3 s at a time)."""
    from textual.strip import Strip

    app = TableApp(100)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(LineTable)
        assert len(table._cache) >= 20  # the lines on screen, painted and kept
        with left_for_the_collector() as garbage:
            table.clear_cache()
        left = [kind for kind in garbage if kind is Strip]
        assert left == []
        await pilot.pause()
        assert "row 0" in screen_text(app)  # and painted again


async def test_refresh_rows_repaints_a_row_changed_in_place_and_reads_no_other():
    app = TableApp(100)
    labels: dict[int, str] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LineTable)

        def row_at(index: int) -> list[str]:
            app.asked.add(index)
            return [str(index), labels.get(index, f"row {index}")]

        table.set_rows(100, row_at)
        await pilot.pause()
        labels[7] = "row 7 changed in place"
        app.asked.clear()
        table.refresh_rows([7])
        await pilot.pause()
        assert "row 7 changed in place" in screen_text(app)
        assert app.asked == {7}


async def test_no_color_paints_in_grey_only(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        svg = app.export_screenshot()
    colours = set(re.findall(r"fill: #([0-9a-f]{6})", svg))
    assert colours

    def grey(code: str) -> bool:  # Rich's SVG export adds its own near-grey default (#c5c8c6)
        channels = [int(code[i : i + 2], 16) for i in (0, 2, 4)]
        return max(channels) - min(channels) <= 4

    assert all(grey(c) for c in colours), sorted(c for c in colours if not grey(c))


async def test_events_filter_by_type_and_raw_records_stay_visible(make_app, tmp_path):

    app = make_app(
        session=log_session(tmp_path / "tx.db"), start_view="events"
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for event in sample_events():
            app.runtime.add_event(event)
        view = app.screen
        view.tick()
        assert len(view.shown) == 12
        assert view.shown[0].offset == 11  # newest first
        await pilot.press("slash", *"type:firewall")
        await settle(pilot)
        assert {e.type for e in view.shown} == {"apilog.firewall.add-record"}
        await pilot.press("ctrl+u", *"!ada")  # everything but the CloudEvents' data
        await settle(pilot)
        assert [e.mode for e in view.shown] == ["raw"]
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert view.has_class("-detail")


async def test_log_filter_fields_and_inversion(make_app, tmp_path, monkeypatch):
    from tests.tui.sample import CALLS, fill_log, pin_ids

    pin_ids(monkeypatch)
    log = tmp_path / "tx.db"
    fill_log(log)
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        assert len(view.rows) == len(CALLS)
        await pilot.press("slash", *"outcome:committed")
        await settle(pilot)
        assert {tx.outcome for tx in view.rows} == {"committed"} and len(view.rows) == 2
        await pilot.press("ctrl+u", *"!outcome:committed")
        await settle(pilot)
        assert len(view.rows) == len(CALLS) - 2 and "committed" not in {
            t.outcome for t in view.rows
        }
        await pilot.press("ctrl+u", *"rec-3")  # full text over the stored response bodies
        await settle(pilot)
        assert [tx.path for tx in view.rows] == [CALLS[3][1]]


async def test_a_painted_frame_leaves_no_line_for_the_collector(make_app):
    """Textual's ``Strip.divide`` kept most composed lines in their own cache (a cycle per line,
    freed only by the collector, whose middle pass then walked thousands of them at once on the
    event loop). Frames the console paints must leave none: lines go back when dropped."""
    from textual.strip import Strip

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        with left_for_the_collector() as garbage:
            for view in ("events", "tx", "overview", "catalogue"):
                app.jump(view)
                await pilot.pause()
        left = garbage.count(Strip)
        assert "apilog · catalogue" in screen_text(app)  # back where it started
        assert left == 0


async def test_status_lines_that_change_do_not_lay_out_the_screen_again(make_app):
    """The header (its token countdown, every second) and the events view's summary (every
    tick of a live feed) are one line each: redrawing them must not arrange the whole screen,
    whose map of every widget's place each arrangement leaves for the collector."""
    from screens.widgets.status import StatusHeader

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.jump("events")
        await settle(pilot)
        view = app.screen
        header = view.query_one(StatusHeader)
        with left_for_the_collector() as garbage:
            for _ in range(5):
                header._show(app.connection)
                view._show_summary()
                await pilot.pause()
        left = sum(kind.__name__ == "MapGeometry" for kind in garbage)
        lines = screen_text(app).splitlines()
        assert lines[0].startswith(" apilog · events") and "kafka" in lines[0]
        assert "no event feed" in screen_text(app) or "connecting" in screen_text(app)
        assert left == 0
