"""Issue 12 as an operator meets it, offline: see what you type, stay where you are, know why.

Each test drives the console with keys only (Pilot) and checks what the screen shows or where
the keyboard is, as an operator would.
"""

from __future__ import annotations

from textual.widgets import Input, Sparkline, TextArea

from tests.tui.conftest import log_session, notices, screen_text, settle, wait_for
from tests.tui.sample import fill_log, pin_ids


def _line_with(text: str, wanted: str) -> str:
    return next((line for line in text.splitlines() if wanted in line), "")


# 1. The `:` prompt ---------------------------------------------------------------------------


async def test_colon_prompt_shows_what_is_typed_and_its_completion_over_the_view(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", "t")
        await settle(pilot)
        text = screen_text(app)
        line = _line_with(text, ":t")
        assert ":tx" in line, text  # typed ":t", the completion reads ":tx"
        assert "apilog · catalogue" in text and "method" in text  # the view stays visible
        prompt = app.screen.query_one(Input)
        assert prompt.region.height == 1
        await pilot.press("x")
        await settle(pilot)
        assert ":tx" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_view == "tx"


async def test_colon_q_quits_as_in_k9s(make_app):
    for word in ("q", "quit"):
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("colon", *word, "enter")
            await wait_for(
                pilot, lambda app=app: app.return_code is not None, message=f":{word} quits"
            )
        assert app.return_code == 0


# 2. Focus ------------------------------------------------------------------------------------


async def test_leaving_the_editor_stays_left_through_the_prompt_and_other_views(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the first operation, in the call view
        await settle(pilot)
        assert app.current_view == "call"
        assert isinstance(app.focused, TextArea)
        await pilot.press("escape")  # leave the editor
        await settle(pilot)
        left_to = app.focused
        assert not isinstance(left_to, TextArea)
        await pilot.press("colon", "escape")  # open and cancel the prompt
        await settle(pilot)
        assert app.focused is left_to
        assert "esc leave editor" not in screen_text(app)
        await pilot.press("colon", *"nope", "enter")  # an error message does not move focus
        await settle(pilot)
        assert "unknown view" in notices(app)
        assert app.focused is left_to
        await pilot.press("colon", *"cat", "enter")
        await settle(pilot)
        await pilot.press("escape")  # back to the call view
        await settle(pilot)
        assert app.current_view == "call"
        assert app.focused is left_to
        body = app.screen.query_one("#call-body", TextArea).text
        await pilot.press("enter")  # not a new line in the body
        await settle(pilot)
        assert app.screen.query_one("#call-body", TextArea).text == body


async def test_ctrl_f_jump_mode_reaches_any_pane_even_from_the_editor(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.focused, TextArea)
        await pilot.press("ctrl+f")
        await settle(pilot)
        targets = app.screen.targets
        text = screen_text(app)
        assert "1" in text and len(targets) >= 8  # path, method, action, …, body, response
        key = next(k for k, w in targets.items() if w.id == "call-headers")
        await pilot.press(key)
        await settle(pilot)
        assert app.focused.id == "call-headers"


async def test_the_focused_pane_is_drawn_differently(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        body = app.screen.query_one("#call-body")
        focused_border = body.styles.border_top
        await pilot.press("escape")
        await settle(pilot)
        assert body.styles.border_top != focused_border


# 7. Dialogs over the view --------------------------------------------------------------------


async def test_keys_and_confirm_leave_the_view_visible(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        first_row = _line_with(screen_text(app), "GET")
        await pilot.press("question_mark")
        await settle(pilot)
        text = screen_text(app)
        assert "keys" in text and "operations:" in text
        assert first_row[:15] in text  # the table's rows stay readable beside the panel
        await pilot.press("escape")
        await settle(pilot)
        from screens.widgets.prompts import Confirm

        app.push_screen(Confirm("Delete everything?"))
        await settle(pilot)
        text = screen_text(app)
        assert "Delete everything?" in text and "operations:" in text and first_row[:15] in text


def test_rerun_dialog_and_toast_are_sentences_naming_the_operation(catalogue):
    from types import SimpleNamespace

    from screens.i18n import Labels
    from screens.widgets.prompts import rerun_question, rerun_result

    op = next(o for o in catalogue.operations if o.action == "add-record")
    question = rerun_question(op, Labels("en"))
    assert question.startswith(f"Send again: {op.method} {op.path} Add record")
    result = SimpleNamespace(
        method=op.method, path=op.path, action=op.action, outcome="rolled_back", status=500
    )
    assert rerun_result(result, Labels("en")) == (
        f"Sent again: {op.method} {op.path} Add record → rolled back (HTTP 500)"
    )
    assert "Gửi lại" in rerun_question(op, Labels("vi"))


# 8. Check view -------------------------------------------------------------------------------


async def test_check_view_says_not_run_yet_and_shows_no_percentage_or_planned_rings(make_app):
    app = make_app(start_view="check")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = "\n".join(screen_text(app).splitlines()[1:])  # the header has its own ○
        assert "not run yet" in grid
        assert "%" not in grid and "○" not in grid, grid


async def test_read_only_ctrl_r_says_why_instead_of_nothing(make_app):
    app = make_app(start_view="check", readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "read-only mode" in notices(app)
        assert "apilog check" in notices(app)


async def test_v_filters_the_grid_by_verdict(make_app):
    from console.conformance.verdict import Verdict

    app = make_app(start_view="check")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        op = view.operations[3]
        view.cells[(*op.key, "retry")] = Verdict(
            op.path, op.method, op.action, "retry", "failed", reason="no Retry-After"
        )
        await pilot.press("v")  # failed only
        await settle(pilot)
        assert view.shown == [op]
        assert "only failed" in screen_text(app)
        for _ in range(4):  # back round to all
            await pilot.press("v")
        await settle(pilot)
        assert len(view.shown) == len(view.operations)


async def test_esc_and_ctrl_q_during_a_run_ask_first(make_app):
    app = make_app(start_view="check")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        view.running, view.ran, view.done, view.total = True, True, 3, 40
        view._show_summary()
        app.refresh_bindings()
        await settle(pilot)
        assert "stop check" in screen_text(app)
        assert "running 3/40" in screen_text(app)
        assert view.query_one("ProgressBar").percentage == 3 / 40  # the runner's count alone
        await pilot.press("escape")
        await settle(pilot)
        assert "Stop the check run? 3/40" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is view and view.running
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert "A check is running (3/40). Quit and stop it?" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert app.return_code is None
        await pilot.press("ctrl+q", "y")
        await wait_for(pilot, lambda: app.return_code is not None, message="quit after yes")


# 10. Badge legend ----------------------------------------------------------------------------


async def test_keys_list_explains_the_badges_and_the_detail_names_them(make_app):
    app = make_app(lang="vi")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        detail = str(app.screen.query_one("#catalogue-detail").render())
        op = app.screen.entries[app.screen.shown[0]]
        assert any(f"{c.label('vi')}" in detail for c in op.contracts)
        await pilot.press("question_mark")
        await settle(pilot)
        legend = screen_text(app)
        for badge in ("RB", "EV", "RT3", "LOG", "REST", "XML", "GW", "RL1000", "v1/v2", "<1s", "⚠"):
            assert badge in legend, badge
        assert "Rollback khi lỗi" in legend


# 11. One key per act -------------------------------------------------------------------------


def test_open_tx_and_open_event_have_one_key_in_every_view():
    from screens.call_view import CallView
    from screens.events_view import EventsView
    from screens.tx_view import TransactionsView

    def keys(cls, action):
        return {b.key for b in cls.BINDINGS if b.action == action}

    assert keys(CallView, "open_tx") == keys(EventsView, "open_tx") == {"ctrl+t"}
    assert keys(CallView, "open_event") == keys(TransactionsView, "open_event") == {"ctrl+g"}


async def test_paused_reads_paused_and_enter_toggles_the_detail(make_app, tmp_path):
    app = make_app(session=log_session(tmp_path / "t.db"), start_view="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        from tests.tui.sample import sample_events

        for event in sample_events():
            app.runtime.add_event(event)
        app.screen.tick()
        await settle(pilot)
        await pilot.press("space")
        await settle(pilot)
        assert "⏸ paused" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.has_class("-detail")
        await pilot.press("enter")
        await settle(pilot)
        assert not app.screen.has_class("-detail")


async def test_call_without_a_result_says_why_ctrl_t_does_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "escape")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert "send the call first" in notices(app)


# 13. Fault presets ---------------------------------------------------------------------------


async def test_fault_presets_only_when_the_gateway_has_faults_on(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        presets = app.screen.query_one("#call-faults")
        assert not presets.display
        app.update_connection(faults=True)
        await settle(pilot)
        assert presets.display
        headers = app.screen.query_one("#call-headers", Input)
        headers.value = "X-Trace: 1; X-Fault-Abort: 500"
        presets.value = "fail twice, then succeed"
        await settle(pilot)
        assert headers.value == "X-Trace: 1; X-Fault-Fail-Attempts: 2"
        presets.value = "delay past the SLA"
        await settle(pilot)
        sla = app.screen.operation.contract("latency-sla")
        limit = int(sla.params["max_ms"]) if sla is not None else 1000
        assert headers.value == f"X-Trace: 1; X-Fault-Delay-Ms: {limit + 500}"


def test_faults_on_is_read_from_the_gateway_healthz():
    from screens.runtime import _faults_on

    class Answer:
        def __init__(self, body):
            self.body = body

        def json(self):
            if self.body is None:
                raise ValueError("not json")
            return self.body

    assert _faults_on(Answer({"status": "ok", "faults": True}))
    assert not _faults_on(Answer({"status": "ok", "faults": False}))
    assert not _faults_on(Answer({"status": "ok"}))
    assert not _faults_on(Answer(None))


# 14. Overview --------------------------------------------------------------------------------


async def test_overview_draws_sparklines_latency_per_operation_and_missed_contracts(
    make_app, tmp_path, monkeypatch
):
    pin_ids(monkeypatch)
    log = tmp_path / "transactions.db"
    fill_log(log)
    app = make_app(session=log_session(log), start_view="overview")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        await wait_for(pilot, lambda: view.stats is not None, message="overview loaded")
        await settle(pilot)
        calls = view.query_one("#overview-calls", Sparkline)
        assert sum(calls.data) == 7
        assert sum(view.query_one("#overview-failures", Sparkline).data) == 4
        names = [name for name, *_ in view.trends.operations]
        assert "PUT /network/qos/monitor add-record" in names
        assert len(view.query(".op-row")) == len(names)
        text = screen_text(app)
        assert "latency-sla" in text and "1502" in text
        assert "retry" in text


async def test_a_late_tick_or_footer_refresh_after_the_widgets_went_raises_nothing(
        make_app, tmp_path):
    """Quitting while events stream: a tick or a footer refresh queued just before may run
    after the view's widgets are gone. Either used to raise (NoMatches, NoScreen), and the
    console ended in a traceback instead of quietly."""
    from screens.widgets.footer import ShellFooter

    app = make_app(session=log_session(tmp_path / "t.db"), start_view="events")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = app.screen
        footer = view.query_one(ShellFooter)
        await view.query_one("#events-summary").remove()
        view.tick()
        await footer.remove()
        await footer._recompose_now()
        await settle(pilot)
    assert app.return_code in (0, None)
