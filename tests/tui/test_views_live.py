"""Each view's own work against the real gateway and broker: confirm before deleting, copy as
curl, pause the feed, re-run and export from the log, run the conformance checks on screen."""

from __future__ import annotations

import json

from tests.tui.conftest import notices, screen_text, settle, wait_for
from tests.tui.test_flows_live import connected, filter_catalogue


async def send(pilot, call) -> object:
    call.result = None
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: call.result is not None, message="the call's result")
    return call.result


async def test_a_delete_asks_first_and_no_means_nothing_is_sent(make_app, live_session, catalogue):
    delete = next(
        op for op in catalogue.operations if op.method == "DELETE" and op.action == "delete-info"
    )
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(delete, record_id="no-such-record")
        await settle(pilot)
        call = app.screen
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "deletes data" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert call.result is None
        assert app.session.txlog.count() == 0
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: call.result is not None, message="the confirmed call")
        assert app.session.txlog.count() == 1


async def test_copy_as_curl_puts_a_runnable_command_without_secrets_on_the_clipboard(
    make_app, live_session, catalogue, gateway
):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(catalogue.operation("/customer/update", "POST", "add-record"))
        await settle(pilot)
        await send(pilot, app.screen)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.clipboard.startswith("curl ")
        assert "$TOKEN" in app.clipboard and "/customer/update" in app.clipboard
        assert gateway.client_secret not in app.clipboard
        assert "OSC 52" in notices(app)


async def test_paused_feed_counts_what_waits_and_shows_it_on_resume(
    make_app, live_session, catalogue
):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.jump("events")
        await settle(pilot)
        events = app.screen
        await pilot.press("space")
        assert events.paused
        app.open_call(catalogue.operation("/security/firewall/config", "PUT", "add-record"))
        await settle(pilot)
        result = await send(pilot, app.screen)
        await wait_for(
            pilot,
            lambda: any(e.id == result.event_id for e in app.runtime.events),
            message="the event to arrive",
        )
        app.jump("events")
        await settle(pilot)
        assert all(e.id != result.event_id for e in events.shown)
        assert app.runtime.events_received - events.seen >= 1  # ours, and any late ones
        # A late event of an earlier test may land between two ticks: poll for the count.
        await wait_for(
            pilot,
            lambda: f"{app.runtime.events_received - events.seen} waiting" in screen_text(app),
            message="the summary to count what waits",
        )
        await pilot.press("space")
        await wait_for(
            pilot,
            lambda: any(e.id == result.event_id for e in events.shown),
            message="the event on screen after resume",
        )
        await wait_for(
            pilot,
            lambda: next(e for e in app.runtime.events if e.id == result.event_id).transaction_id,
            message="the event linked to its transaction",
        )
        events.tick()
        index = next(i for i, e in enumerate(events.shown) if e.id == result.event_id)
        events.table.cursor = index
        await pilot.press("ctrl+t")  # jump to the linked transaction (the same key as from a call)
        await settle(pilot)
        assert app.current_view == "tx"
        await wait_for(pilot, lambda: app.screen.selected is not None, message="the tx detail")
        assert app.screen.selected.id == result.transaction_id


async def test_rerun_and_export_from_the_log(make_app, live_session, catalogue, tmp_path, gateway):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        read = catalogue.operation("/invoice/export", "GET", "export-data")
        app.open_call(read)
        await settle(pilot)
        await send(pilot, app.screen)
        await pilot.press("escape")
        app.jump("tx")
        await settle(pilot)
        tx = app.screen
        await wait_for(pilot, lambda: len(tx.rows) == 1, message="the call in the log")
        await pilot.press("ctrl+r")  # a read: re-run at once, no question
        await wait_for(pilot, lambda: app.session.txlog.count() == 2, message="the re-run")
        await pilot.press("e")
        await settle(pilot)
        exports = list((tmp_path / "data" / "apilog" / "exports").glob("*.ndjson"))
        assert len(exports) == 1
        lines = [json.loads(line) for line in exports[0].read_text().splitlines()]
        assert len(lines) == 2 and {line["path"] for line in lines} == {"/invoice/export"}
        assert gateway.client_secret not in exports[0].read_text()


async def test_check_view_runs_the_checks_of_the_operations_on_screen(make_app, live_session):
    app = make_app(session=live_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.jump("check")
        await settle(pilot)
        check = app.screen
        await filter_catalogue(pilot, "firewall method:put action:add-record")
        assert len(check.shown) == 1
        op = check.shown[0]
        await pilot.press("ctrl+r")  # the probes write to the gateway: it asks first
        await settle(pilot)
        assert "the probes write and delete test records" in screen_text(app)
        assert not check.running
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: not check.running and check.done > 0,
            timeout=90,
            message="the checks to finish",
        )
        verdicts = {k[3]: v for k, v in check.cells.items() if k[:3] == op.key}
        assert all(not isinstance(v, str) for v in verdicts.values()), verdicts
        assert verdicts["oauth2"].verdict == "passed"
        assert verdicts["kafka-event"].verdict == "passed", verdicts["kafka-event"].reason
        await pilot.press("enter")
        await settle(pilot)
        assert "kafka-event" in screen_text(app)


async def test_the_events_buffer_size_comes_from_the_profile(make_app, live_session):
    import dataclasses

    live_session.profile = dataclasses.replace(live_session.profile, event_buffer=250)
    app = make_app(session=live_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await connected(pilot)
        assert app.runtime.events.maxlen == 250
        assert app.runtime.feed.buffer.size == 250
