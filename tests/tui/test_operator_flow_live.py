"""Issue 12 against the real gateway (faults on) and broker: fault presets send what they say,
a running check stops on esc after asking, a re-run answers in a sentence."""

from __future__ import annotations

import pytest
from textual.widgets import Select

from tests.tui.conftest import notices, screen_text, send_call, settle, wait_for
from tests.tui.test_flows_live import connected

pytestmark = pytest.mark.slow


async def test_fault_preset_fail_twice_then_succeed_is_offered_and_sent(
    make_app, live_session, catalogue
):
    # An operation whose contract promises retries: the caller retries it, so the preset's
    # two failures are followed by the commit.
    op = next(
        o
        for o in catalogue.operations
        if o.action == "add-record" and o.method == "POST" and o.has("retry")
    )
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        await wait_for(pilot, lambda: app.connection.faults, message="/healthz says faults on")
        app.open_call(op)
        await settle(pilot)
        call = app.screen
        presets = call.query_one("#call-faults", Select)
        assert presets.display
        presets.value = "fail twice, then succeed"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: call.result is not None, message="the call's result")
        assert [a.status for a in call.result.attempts][-1] == 201
        assert len(call.result.attempts) == 3, call.result.attempts


async def test_esc_asks_then_stops_a_running_check(make_app, live_session):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.jump("check")
        await settle(pilot)
        check = app.screen
        # Every operation: far more than the test waits for. No settle() from here: it waits
        # for every worker, the run included.
        await pilot.press("ctrl+r", "y")
        await wait_for(pilot, lambda: check.running and check.done > 0, message="a run under way")
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: "Stop the check run?" in screen_text(app), message="the question"
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: not check.running, timeout=30, message="the run to stop")
        assert check.done < check.total
        assert "check stopped" in notices(app)
        assert app.current_view == "check"  # esc stopped the run; it did not also go back


async def test_rerun_answers_with_the_operation_and_its_outcome(make_app, live_session, catalogue):
    op = catalogue.operation("/invoice/export", "GET", "export-data")
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        await send_call(pilot, op)
        await pilot.press("ctrl+t")  # the call's transaction, the same key as from an event
        await settle(pilot)
        assert app.current_view == "tx"
        await wait_for(pilot, lambda: app.screen.rows, message="the log's rows")
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: "Sent again: GET /invoice/export" in notices(app), message="toast"
        )
        assert "Export data → ok (HTTP 200)" in notices(app)
