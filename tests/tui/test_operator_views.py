"""The console as an operator uses it (issue 12), offline on a real log file: one filter grammar,
empty states that say what is true, "mine only", acts on a logged call, the event not received
yet, the response pane and its body check, columns that share the width."""

from __future__ import annotations

import json
import stat

import pytest
from msgspec.structs import replace
from textual.widgets import Input, Select, TabbedContent, TextArea

from screens.widgets.line_table import Column, share
from tests.tui.conftest import log_session, notices, screen_text, settle, wait_for
from tests.tui.sample import CALLS, fill_log, fill_others, pin_ids, sample_events


@pytest.fixture
def log(tmp_path, monkeypatch):
    pin_ids(monkeypatch)
    path = tmp_path / "transactions.db"
    fill_log(path)
    return path


async def type_filter(pilot, text: str) -> None:
    await pilot.press("slash", "ctrl+u", *text)
    await settle(pilot)


async def loaded(pilot, view) -> None:
    await wait_for(pilot, lambda: view.page is not None, message="the log's first page")
    await settle(pilot)


# Item 4: one filter grammar ---------------------------------------------------------------------


async def test_catalogue_regex_only_when_asked_and_a_broken_one_is_marked_not_emptied(
    make_app, catalogue
):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        expected = [op for op in catalogue.operations
                    if op.path == "/ivr/callflow" and op.method in ("GET", "PUT")]
        await type_filter(pilot, '~"^(GET|PUT) /ivr"')
        assert len(view.shown) == len(expected) > 0
        await type_filter(pilot, "(GET|PUT)")  # no ~: plain words, nothing has that text
        assert view.shown == []
        assert "no operations match" in screen_text(app)
        await type_filter(pilot, "method:delete")
        deletes = list(view.shown)
        await pilot.press(*" ~([")  # a broken regex: the rows of the last good filter stay
        await settle(pilot)
        bar = view.query_one("#filter")
        assert bar.has_class("-invalid")
        assert view.shown == deletes
        assert "✗ regex ~([" in screen_text(app)
        await pilot.press("backspace", "backspace", "backspace")
        await settle(pilot)
        assert not bar.has_class("-invalid") and view.shown == deletes
        await type_filter(pilot, "!contract:retry")
        assert len(view.shown) == len([op for op in catalogue.operations if not op.has("retry")])


async def test_values_match_the_slug_and_the_label_on_screen_in_vietnamese(make_app, catalogue):
    app = make_app(lang="vi")
    adds = [op for op in catalogue.operations if op.action == "add-record"]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        for typed in ("action:Thêm", "action:thêm", "action:them", "action:add"):
            await type_filter(pilot, typed)
            assert len(view.shown) == len(adds), typed


async def test_log_fields_match_what_the_column_shows_and_words_are_not_regex(make_app, log):
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await loaded(pilot, view)
        assert len(view.rows) == len(CALLS)
        await type_filter(pilot, "outcome:rolled")  # the column says "rolled back"
        assert [tx.outcome for tx in view.rows] == ["rolled_back"]
        await type_filter(pilot, "outcome:back")
        assert [tx.outcome for tx in view.rows] == ["rolled_back"]
        await type_filter(pilot, "rolled|committed")  # words, not a regex
        assert view.rows == []
        assert "no transactions match" in screen_text(app)
        assert view.table.empty_text == "no transactions match"
        await type_filter(pilot, "~rolled|committed")
        assert sorted(tx.outcome for tx in view.rows) == ["committed", "committed", "rolled_back"]
        await type_filter(pilot, "!outcome:committed method:post")
        assert {(tx.method, tx.outcome) for tx in view.rows} == {
            ("POST", "rolled_back"), ("POST", "rate_limited")}
        await type_filter(pilot, "rec-3")  # the stored response body is searched too
        assert [tx.path for tx in view.rows] == [CALLS[3][1]]
        await pilot.press(*" ~(")
        await settle(pilot)
        assert view.query_one("#filter").has_class("-invalid")
        assert [tx.path for tx in view.rows] == [CALLS[3][1]]  # not an empty view


async def test_log_outcome_labels_in_vietnamese(make_app, log):
    app = make_app(session=log_session(log), start_view="tx", lang="vi")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await loaded(pilot, view)
        await type_filter(pilot, "outcome:hoàn")  # "đã hoàn tác", rolled back
        assert [tx.outcome for tx in view.rows] == ["rolled_back"]
        await type_filter(pilot, "action:thêm outcome:ghi")  # "đã ghi", committed
        assert [tx.outcome for tx in view.rows] == ["committed", "committed"]


async def test_an_empty_local_log_says_no_transactions_yet_not_not_connected(make_app, tmp_path):
    app = make_app(session=log_session(tmp_path / "empty.db"), start_view="tx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await loaded(pilot, app.screen)
        assert "no transactions yet" in screen_text(app)
        assert app.screen.table.empty_text == "no transactions yet"


async def test_events_topic_without_its_prefix_and_an_empty_match(make_app, tmp_path):
    app = make_app(session=log_session(tmp_path / "tx.db"), start_view="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "no events yet" in screen_text(app)
        for event in sample_events():
            app.runtime.add_event(event)
        view = app.screen
        view.tick()
        await type_filter(pilot, "topic:fire")
        assert {e.topic for e in view.shown} == {"gateway.events.firewall"}
        await type_filter(pilot, "topic:nothing-like-it")
        assert "no events match" in screen_text(app)


# Item 12: mine only --------------------------------------------------------------------------


async def test_probe_traffic_stays_out_of_the_log_view_until_a(make_app, log):
    fill_others(log, 40, origin="check")
    fill_others(log, 3, origin="cli")
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await loaded(pilot, view)
        assert len(view.rows) == len(CALLS)
        assert {tx.origin for tx in view.rows} == {"console"}
        assert "43 others hidden" in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert len(view.rows) == len(CALLS) + 43
        assert view.rows[0].origin == "cli"  # the newest first, whoever made it
        await type_filter(pilot, "origin:check")
        assert len(view.rows) == 40
        await pilot.press("escape", "a")
        await settle(pilot)
        assert len(view.rows) == len(CALLS)


async def test_only_probe_calls_in_the_log_says_so(make_app, tmp_path):
    path = tmp_path / "transactions.db"
    fill_others(path, 5, origin="check")
    app = make_app(session=log_session(path), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await loaded(pilot, app.screen)
        assert "no transactions from this console yet · a: all 5" in screen_text(app)


async def test_events_of_probe_calls_are_hidden_until_a(make_app, tmp_path):
    path = tmp_path / "transactions.db"
    probes = fill_others(path, 4, origin="check")
    app = make_app(session=log_session(path), start_view="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        events = sample_events()
        for number, tx_id in enumerate(probes):  # the probes' events, linked to their calls
            events[number] = replace(events[number], transaction_id=tx_id)
        for event in events:
            app.runtime.add_event(event)
        view = app.screen
        await wait_for(pilot, lambda: view.hidden == 4, message="the probes' events hidden")
        assert len(view.shown) == len(events) - 4
        assert not {e.transaction_id for e in view.shown} & set(probes)
        assert "4 from checks/CLI hidden" in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert len(view.shown) == len(events)


# Item 3: acts on a logged call ---------------------------------------------------------------


async def test_copy_as_curl_from_the_log_keeps_the_token_out(make_app, log):
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await loaded(pilot, view)
        await pilot.press("ctrl+o")
        await settle(pilot)
        newest = view.rows[0]
        assert app.clipboard.startswith("curl ") and newest.path in app.clipboard
        assert '"Authorization: Bearer $TOKEN"' in app.clipboard
        assert "secret-token" not in app.clipboard
        assert "OSC 52" in notices(app)


async def test_the_palette_finds_curl_for_the_transaction_under_the_cursor(make_app, log):
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await loaded(pilot, app.screen)
        await pilot.press("down", "down")
        chosen = app.screen.rows[2]
        await pilot.press("ctrl+p", *"curl")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.clipboard.startswith("curl ") and chosen.path in app.clipboard


async def test_edit_and_resend_opens_the_logged_call_in_the_composer(make_app, log):
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await loaded(pilot, view)
        index = next(i for i, tx in enumerate(view.rows) if tx.outcome == "rolled_back")
        view.table.cursor = index
        await pilot.press("c")
        await settle(pilot)
        assert app.current_view == "call"
        call = app.screen
        assert call.query_one("#call-path", Select).value == "/crm/lead/import"
        assert call.query_one("#call-method", Select).value == "POST"
        assert call.query_one("#call-action", Select).value == "add-record"
        assert '"Ada Lovelace"' in call.query_one("#call-body", TextArea).text
        # Only the operator's own headers come back: the token and Content-Type are the caller's.
        assert call.query_one("#call-headers", Input).value == ""


async def test_acts_on_an_events_call_and_rerun_says_what_is_missing(make_app, log):
    app = make_app(session=log_session(log), start_view="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rolled = next(tx for tx in app.session.txlog.query(limit=20)
                      if tx.outcome == "rolled_back")
        event = replace(sample_events()[0], transaction_id=rolled.id)
        app.runtime.add_event(event)
        view = app.screen
        await wait_for(pilot, lambda: view.shown, message="the event")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert "/crm/lead/import" in app.clipboard and "$TOKEN" in app.clipboard
        await pilot.press("ctrl+r", "y")  # a write asks first; with no gateway, says so
        await settle(pilot)
        assert "not connected" in notices(app)
        await pilot.press("c")
        await settle(pilot)
        assert app.current_view == "call"
        assert app.screen.query_one("#call-path", Select).value == "/crm/lead/import"


# Item 5: ^g and an event not received yet ---------------------------------------------------


async def test_ctrl_g_waits_for_the_calls_event_and_never_lands_on_another(make_app, log):
    app = make_app(session=log_session(log))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        other = sample_events()[3]
        app.runtime.add_event(other)
        app.open_event(other.id)  # the events view shows another call's event in detail
        await settle(pilot)
        events = app.view("events")
        assert events.has_class("-detail")
        committed = next(tx for tx in app.session.txlog.query(limit=20) if tx.event_id)
        op = app.catalogue.operation(committed.path, committed.method, committed.action)
        app.open_call(op)
        await settle(pilot)
        call = app.screen
        call.result = app.session.txlog.get(committed.id)
        call._show_result()
        await settle(pilot)
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert app.current_view == "events"
        assert not events.has_class("-detail")  # not the other call's event
        assert "event not received yet" in notices(app)
        assert f"… {committed.event_id}: event not received yet" in screen_text(app)
        app.runtime.add_event(replace(sample_events()[0], id=committed.event_id))
        await wait_for(pilot, lambda: events.has_class("-detail"), message="followed on arrival")
        assert events.shown[events.table.cursor].id == committed.event_id
        assert "event not received yet" not in screen_text(app)


# Item 6: the response pane and the body check -----------------------------------------------


async def test_response_pane_shows_the_body_first_with_tabs(make_app, log):
    app = make_app(session=log_session(log))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rolled = next(tx for tx in app.session.txlog.query(limit=20)
                      if tx.outcome == "rolled_back")
        app.open_call(app.catalogue.operation(rolled.path, rolled.method, rolled.action))
        await settle(pilot)
        call = app.screen
        call.result = app.session.txlog.get(rolled.id)
        call._show_result()
        await settle(pilot)
        tabs = call.query_one("#call-response-tabs", TabbedContent)
        assert tabs.active == "response-body"
        text = screen_text(app)
        assert "fault after write" in text  # the reason, without scrolling past headers
        assert "Content-Type" not in text
        tabs.active = "response-headers"
        await settle(pilot)
        assert "X-Request-Id: req-2" in screen_text(app)
        tabs.active = "response-attempts"
        await settle(pilot)
        assert "#1  500 Internal Server Error" in screen_text(app)


async def test_tab_in_the_body_moves_on_and_esc_leaves_the_editor(make_app):
    app = make_app(start_view="call")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        body = app.screen.query_one("#call-body", TextArea)
        body.focus()
        await settle(pilot)
        before = body.text
        await pilot.press("tab")
        await settle(pilot)
        assert body.text == before and app.focused is not body


@pytest.mark.parametrize(
    ("fmt", "text", "where"),
    [
        ("json", '{\n  "name": "Ada",\n}\n', (3, 1)),
        ("xml", "<request>\n  <name>Ada</nam>\n</request>\n", (2, 14)),
    ],
)
async def test_a_broken_body_is_shown_where_it_breaks_and_not_sent(make_app, log, fmt, text,
                                                                    where):
    sent = []
    app = make_app(session=log_session(log))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.session.call = lambda request: sent.append(request)  # would be sent
        app.open_call(app.catalogue.operation("/crm/lead/import", "POST", "add-record"),
                      body=text, fmt=fmt)
        await settle(pilot)
        call = app.screen
        assert call.query_one("#call-format", Select).value == fmt
        await pilot.press("ctrl+s")
        await settle(pilot)
        body = call.query_one("#call-body", TextArea)
        line, column = where
        assert body.has_class("-invalid")
        assert f"line {line}, column {column}" in str(body.border_subtitle)
        assert body.cursor_location == (line - 1, column - 1)
        assert f"line {line}, column {column}" in notices(app)
        assert sent == [] and "not connected" not in notices(app)
        await pilot.press("x")  # editing clears the mark
        await settle(pilot)
        assert not body.has_class("-invalid")


# Item 9: columns share the width --------------------------------------------------------------


def test_columns_share_the_width():
    columns = [Column("method", 6), Column("path", 12, grow=1), Column("tx", 10, grow=1)]
    assert share(columns, [7, 40, 26], 200) == [7, 40, 153]  # all whole, spare at the end
    assert share(columns, [7, 40, 26], 60) == [7, 28, 25]  # the longest gives first
    assert share(columns, [7, 40, 26], 30) == [7, 13, 10]  # growing ones first


async def test_wide_terminal_paths_are_whole(make_app, log):
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await loaded(pilot, app.screen)
        text = screen_text(app)
        for _, path, *_ in CALLS:
            assert path in text
        assert "…" not in text.split("\n")[3]


async def test_narrow_vietnamese_catalogue_keeps_headers_and_contracts(make_app):
    app = make_app(lang="vi")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "phương thức" in line)
        for title in ("phương thức", "hành động", "cam kết"):
            assert title in header, header
        row = app.screen._row_at(0)
        badges = "".join(text for text, _ in row[-1]).strip()
        assert badges in "\n".join(lines), badges


async def test_export_writes_what_the_view_shows_into_a_private_file(make_app, log, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("APILOG_DATA_DIR", str(tmp_path / "data"))
    fill_others(log, 5, origin="check")
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await loaded(pilot, app.screen)
        await type_filter(pilot, "~rolled|rate")
        await pilot.press("enter", "e")
        await settle(pilot)
    exports = list((tmp_path / "data" / "exports").glob("*.ndjson"))
    assert len(exports) == 1
    rows = [json.loads(line) for line in exports[0].read_text().splitlines()]
    assert sorted(row["outcome"] for row in rows) == ["rate_limited", "rolled_back"]
    assert stat.S_IMODE(exports[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(exports[0].parent.stat().st_mode) == 0o700


async def test_a_views_refresh_timer_that_fires_while_the_app_closes_does_nothing(make_app, log):
    """Quitting while a view's refresh is due must not end in a traceback. While the app
    closes, every screen is popped before the views' timers stop, and asking for the screen on
    top then raises: seen once in CI, as ``ScreenStackError: No screens on stack`` at exit."""
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tx, events, overview = (app.view(name) for name in ("tx", "events", "overview"))
        stack = app._screen_stack
        kept = list(stack)
        stack.clear()  # as while the app closes
        try:
            tx._refresh_if_shown()
            events._poll_others()
            events.tick()
            overview._refresh_if_shown()
        finally:
            stack.extend(kept)
        assert app.screen is tx  # and the console is as it was
