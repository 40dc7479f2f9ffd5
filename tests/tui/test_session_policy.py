"""The console enforces the session's policies as the CLI does: redaction and read-only."""

from __future__ import annotations

import pytest

from tests.support.profiles import write_config
from tests.tui.conftest import screen_text, send_call, settle, wait_for
from tests.tui.test_flows_live import connected

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-partner-9d1e"


async def test_a_configured_redact_key_leaves_no_trace_in_the_log_file(
    make_app, gateway, catalogue, tmp_path
):
    from console.config import Profile
    from console.session import Session

    write_config('redact_keys = ["x-partner-key"]\n')
    profile = Profile(name="test", base_url=gateway.base_url, token_url=gateway.token_url,
                      client_id=gateway.client_id, client_secret=gateway.client_secret,
                      kafka_bootstrap=gateway.kafka_bootstrap)
    log = tmp_path / "transactions.db"
    app = make_app(session=Session(profile, catalogue, log_path=log, origin="console"))
    op = next(o for o in catalogue.operations if o.method == "GET" and o.action == "check-status")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        call = await send_call(pilot, op, headers={"X-Partner-Key": SECRET})
        tx = app.session.txlog.get(call.result.transaction_id)
        assert tx.request_headers["X-Partner-Key"] == "REDACTED"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("transactions.db*"))
    assert stored, "the log file was written"
    assert SECRET.encode() not in stored


async def test_a_read_only_profile_refuses_a_write_in_the_console(make_app, gateway, catalogue, tmp_path):
    from console.config import Profile
    from console.session import Session

    profile = Profile(name="prod", base_url=gateway.base_url, token_url=gateway.token_url,
                      client_id=gateway.client_id, client_secret=gateway.client_secret,
                      kafka_bootstrap=gateway.kafka_bootstrap, readonly=True)
    session = Session(profile, catalogue, log_path=tmp_path / "tx.db", origin="console")
    app = make_app(session=session)
    assert app.readonly, "the profile's read-only reaches the console"
    write = next(o for o in catalogue.operations if o.action == "add-record")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        app.open_call(write)
        await settle(pilot)
        call = app.screen
        assert call.operation.key != write.key, "the composer does not offer a write"
        # Past the view, the session refuses: the policy lives in the core, not in a widget.
        from console.caller import CallRequest

        call._send(CallRequest(write.path, write.method, write.action, body={"id": "x1"}))
        await wait_for(pilot, lambda: "is read-only" in screen_text(app), message="the refusal")
        assert session.txlog.count() == 0, "nothing was sent"


async def test_the_log_tab_shows_the_gateways_own_record_of_the_call(make_app, live_session, catalogue):
    from textual.widgets import TabbedContent

    app = make_app(session=live_session)
    op = next(o for o in catalogue.operations if o.method == "GET" and o.action == "check-status")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await connected(pilot)
        call = await send_call(pilot, op)
        call.query_one("#call-response-tabs", TabbedContent).active = "response-log"
        await wait_for(pilot, lambda: '"client_id"' in screen_text(app),
                       message="the gateway's record on screen")
        text = screen_text(app)
        assert '"route"' in text and '"request"' in text, text
