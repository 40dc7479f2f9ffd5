"""Operator flows against the real gateway (uvicorn on loopback) and the real Tansu broker."""

from __future__ import annotations

import uuid

from tests.tui.conftest import screen_text, settle, wait_for


async def connected(pilot) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: app.session is not None and app.session.connected,
        message="the caller to open",
    )
    await wait_for(pilot, lambda: app.connection.gateway == "up", message="gateway health up")
    await wait_for(pilot, lambda: app.connection.kafka == "connected", message="feed connected")


async def filter_catalogue(pilot, text: str) -> None:
    await pilot.press("slash")
    await pilot.press(*text)
    await pilot.press("enter")
    await settle(pilot)


async def test_filter_open_send_201_then_its_event(make_app, live_session):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        await filter_catalogue(pilot, "firewall method:put action:add-record")
        view = app.screen
        assert len(view.shown) == 1, screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_view == "call"
        call = app.screen
        assert call.operation.key == ("/security/firewall/config", "PUT", "add-record")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: call.result is not None, message="the call's result")
        result = call.result
        assert result.status == 201, result
        assert result.outcome == "committed"
        assert result.event_id
        await wait_for(
            pilot, lambda: "✓ kafka" in screen_text(app), message="the event in the feed"
        )
        text = screen_text(app)
        assert "201 Created" in text and result.event_id in text
        await pilot.press("ctrl+g")  # jump to the event
        await settle(pilot)
        assert app.current_view == "events"
        events = app.screen
        await wait_for(
            pilot,
            lambda: events.shown and events.shown[events.table.cursor].id == result.event_id,
            message="the cursor on the call's event",
        )
        assert "apilog.firewall.add-record" in screen_text(app)


async def test_transient_failures_show_retries(make_app, live_session, catalogue):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(
            catalogue.operation("/ivr/callflow", "POST", "add-record"),
            headers={"X-Fault-Fail-Attempts": "2"},
        )
        await settle(pilot)
        call = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: call.result is not None, message="the call's result")
        assert call.result.outcome == "committed", call.result
        assert [a.status for a in call.result.attempts] == [503, 503, 201]
        text = screen_text(app)
        assert "#1 503" in text and "#3 201" in text and "↻×2" in text


async def test_fault_after_write_shows_rolled_back(make_app, live_session, catalogue):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(
            catalogue.operation("/crm/lead/import", "POST", "add-record"),
            headers={"X-Fault-After-Write": "true"},
        )
        await settle(pilot)
        call = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: call.result is not None, message="the call's result")
        assert call.result.rolled_back is True
        assert call.result.outcome == "rolled_back"
        text = screen_text(app)
        assert "rolled back: yes" in text


async def test_transactions_view_finds_a_call_by_search(make_app, live_session, catalogue):
    marker = f"grace{uuid.uuid4().hex[:8]}"
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        for name in ("ada", marker):
            app.open_call(
                catalogue.operation("/customer/update", "POST", "add-record"),
                body=f'{{"name": "{name}"}}',
            )
            await settle(pilot)
            call = app.screen
            call.result = None
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda call=call: call.result is not None, message="a result")
        wanted = call.result.transaction_id
        await pilot.press("escape")  # leave the body editor: the shell's keys work again
        await pilot.press("colon", *"tx", "enter")
        await settle(pilot)
        assert app.current_view == "tx"
        tx = app.screen
        await wait_for(pilot, lambda: len(tx.rows) >= 2, message="both calls in the log")
        await filter_catalogue(pilot, marker)
        await wait_for(pilot, lambda: [t.id for t in tx.rows] == [wanted], message="search result")
        await pilot.press("enter")
        await settle(pilot)
        assert marker in screen_text(app)


async def test_a_quick_failure_says_why_it_misses_the_sla(make_app, live_session, catalogue):
    op = catalogue.operation("/ivr/callflow", "POST", "add-record")
    assert op.has("latency-sla")
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(op, headers={"X-Fault-After-Write": "true"})
        await settle(pilot)
        call = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: call.result is not None, message="the call's result")
        result = call.result
        assert result.status == 500 and result.elapsed_ms < result.sla_ms
        assert f"SLA {result.sla_ms} ms ✗ (not a success)" in screen_text(app)
