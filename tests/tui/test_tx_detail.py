"""The transactions view's detail, from a real log file (no gateway needed)."""

from __future__ import annotations

from tests.tui.conftest import log_session, screen_text, settle, wait_for
from tests.tui.sample import fill_log


async def test_detail_marks_an_event_the_log_linked_as_seen_on_kafka(make_app, tmp_path):
    from console.txlog import TransactionLog

    log = tmp_path / "transactions.db"
    first = fill_log(log)[0]  # committed, event evt-0000
    with TransactionLog(log) as txlog:
        txlog.link_event("evt-0000", None, "gateway.events.firewall", 0, 7, None)
    app = make_app(session=log_session(log), start_view="tx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tx = app.screen
        await wait_for(pilot, lambda: tx.rows, message="the log's rows")
        tx.show_transaction(first)
        await wait_for(pilot, lambda: tx.selected is not None, message="the detail")
        await settle(pilot)
        text = screen_text(app)
        assert "evt-0000  ✓ kafka" in text, text

