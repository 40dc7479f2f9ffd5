"""The shell's grammar and modes, offline (no gateway): jump, filter, keys, back, read-only, vi."""

from __future__ import annotations

import pytest

from tests.tui.conftest import notices, screen_text, settle


async def test_jump_completes_and_escape_goes_back(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", "e", "v")
        await settle(pilot)
        await pilot.press("tab")
        assert app.screen.query_one("Input").value == ":events"
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_view == "events"
        await pilot.press("colon", *"ov", "enter")
        await settle(pilot)
        assert app.current_view == "overview"
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_view == "events"
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_view == "catalogue"


async def test_unknown_view_is_named_and_nothing_moves(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"nope", "enter")
        await settle(pilot)
        assert app.current_view == "catalogue"
        assert "unknown view 'nope'" in notices(app)


async def test_filter_is_a_regex_with_fields_and_inversion(make_app, catalogue):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        total = len(catalogue.operations)
        assert len(view.shown) == total
        await pilot.press("slash", *"method:delete")
        await settle(pilot)
        deletes = [op for op in catalogue.operations if op.method == "DELETE"]
        assert len(view.shown) == len(deletes)
        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        assert len(view.shown) == total
        await pilot.press("slash", *"!contract:retry", "enter")
        await settle(pilot)
        assert len(view.shown) == len([op for op in catalogue.operations if not op.has("retry")])
        await pilot.press("slash", "ctrl+u", *'~"^(GET|PUT) /ivr"', "enter")
        await settle(pilot)
        expected = [
            op
            for op in catalogue.operations
            if op.path == "/ivr/callflow" and op.method in ("GET", "PUT")
        ]
        assert len(view.shown) == len(expected) > 0
        await pilot.press("slash", *" ~([")  # a broken regex: marked, the rows stay
        await settle(pilot)
        assert view.query_one("#filter").has_class("-invalid") and len(view.shown) == len(expected)


async def test_keys_lists_this_views_keys(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        text = screen_text(app)
        assert "toggle rows" in text and ":catalogue" in text and "open call" in text
        await pilot.press("escape")
        await settle(pilot)
        assert (
            app.current_view == "catalogue" and "toggle rows" not in screen_text(app).split("\n")[3]
        )


async def test_rows_toggle_shows_every_source_row_with_provenance(make_app, catalogue):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        view = app.screen
        assert len(view.shown) == len(catalogue.rows) == 320
        text = screen_text(app)
        assert "row 1, page 1" in text


async def test_enter_opens_the_composer_prefilled(make_app, catalogue):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert app.current_view == "call"
        assert app.screen.operation == catalogue.operations[2]


async def test_lint_findings_sit_beside_their_rows(make_app, catalogue):
    from console.catalogue.lint import restful_defect

    defective = next(op for op in catalogue.operations if restful_defect(op))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        assert view.findings_by_op[defective.key]
        view.table.cursor = next(
            i for i, n in enumerate(view.shown) if view.entries[n] == defective
        )
        await settle(pilot)
        worst = view.findings_by_op[defective.key][0]
        assert worst.startswith("error ")
        assert worst.split(":")[0] in screen_text(app)


async def test_readonly_offers_no_mutation(make_app, catalogue):
    from screens.catalogue_view import is_mutating

    app = make_app(readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        safe = [op for op in catalogue.operations if not is_mutating(op)]
        assert {view.entries[i] for i in view.shown} == set(safe)
        assert "read-only" in screen_text(app)
        app.jump("call")
        await settle(pilot)
        call = app.screen
        from textual.widgets import Select

        offered_methods = {
            value
            for _, value in call.query_one("#call-method", Select)._options
            if isinstance(value, str)
        }
        offered_actions = {
            value
            for _, value in call.query_one("#call-action", Select)._options
            if isinstance(value, str)
        }
        assert offered_methods <= {"GET"}
        assert offered_actions <= {"check-status", "export-data"}
        app.jump("tx")
        await settle(pilot)
        assert app.screen.check_action("rerun", ()) is False
        assert "rerun" not in screen_text(app)
        app.jump("check")
        await settle(pilot)
        assert app.screen.check_action("run_check", ()) is False


async def test_vietnamese_labels_include_the_catalogues_words(make_app):
    app = make_app(lang="vi")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Danh mục" in text and "hồ sơ" in text
        assert "Thêm bản ghi" in text
        assert "lọc" in text  # the footer's own keys


async def test_palette_offers_the_same_jumps(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*":tx")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_view == "tx"


async def test_offline_views_say_not_connected(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # What is true with no session at all: no log, no feed (a local log is no connection).
        for view, says in (("tx", "no transaction log"), ("events", "no event feed"),
                           ("overview", "not connected")):
            app.jump(view)
            await settle(pilot)
            assert says in screen_text(app), view
        app.jump("call")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "not connected" in notices(app)


async def test_views_without_a_table_offer_no_filter_and_no_table_keys(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for view in ("call", "overview"):
            app.jump(view)
            await settle(pilot)
            await pilot.press("escape" if view == "call" else "f24")  # out of the body editor
            await pilot.press("slash")
            await settle(pilot)
            assert not app.screen.query_one("#filter").has_class("-active"), view
            await pilot.press("question_mark")
            await settle(pilot)
            help_text = screen_text(app)
            assert f"keys · {view}" in help_text
            assert "filter" not in help_text and "pgup" not in help_text, help_text
            await pilot.press("escape")
            await settle(pilot)


async def test_the_headers_hint_does_not_read_as_headers_already_set(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.jump("call")
        await settle(pilot)
        assert "headers e.g. X-Fault-Fail-Attempts: 2" in screen_text(app)
        assert app.screen.build_request().headers == {}


async def test_narrow_header_tells_states_apart_without_colour(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        assert "gw ○" in header and "kafka ○" in header, header  # offline
        app.update_connection(gateway="up", kafka="down")
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        assert "gw ●" in header and "kafka ✗" in header, header
        app.update_connection(gateway="connecting")
        await settle(pilot)
        assert "gw ◌" in screen_text(app).splitlines()[0]


async def test_check_summary_keeps_every_count_at_80_columns(make_app):
    app = make_app(start_view="check")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "run checks (" in screen_text(app)  # before a run: how to start one
        view = app.screen
        view.ran, view.running, view.done, view.total = True, True, 5, 1000
        view._show_summary()
        await settle(pilot)
        text = screen_text(app)
        assert "running 5/1000" in text and "skipped 0" in text, text


async def test_read_only_check_view_does_not_hint_at_a_run(make_app):
    app = make_app(start_view="check", readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "not run yet" in text and "run checks" not in text, text


@pytest.mark.parametrize("opened_by", ["question_mark", "colon", "ctrl+p", "slash"])
async def test_ctrl_q_quits_from_any_prompt(make_app, opened_by):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(opened_by)
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        assert app.return_code == 0, f"still running behind {opened_by}"
