"""Every view at 80×24 and 120×40, from fixed data, a frozen clock and pinned ids.

Run ``pytest tests/tui/test_snapshots.py --snapshot-update`` after an intended change and
review the SVGs under ``__snapshots__``; README screenshots are copied from them.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import log_session, settle
from tests.tui.sample import fill_log, pin_ids, sample_events

VIEWS = ("catalogue", "call", "events", "tx", "overview", "check")
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture
def sample_app(make_app, tmp_path, monkeypatch):
    """A console reading a filled log (no gateway), with a dozen events already received."""

    pin_ids(monkeypatch)
    log = tmp_path / "transactions.db"
    fill_log(log)

    def make(**kwargs):
        return make_app(session=log_session(log), **kwargs)

    return make


async def feed_sample(pilot) -> None:
    await settle(pilot)
    for event in sample_events():
        pilot.app.runtime.add_event(event)
    await settle(pilot)
    if hasattr(pilot.app.screen, "tick"):
        pilot.app.screen.tick()
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("view", VIEWS)
def test_view(snap_compare, sample_app, view, size):
    assert snap_compare(
        sample_app(start_view=view), terminal_size=SIZES[size], run_before=feed_sample
    )


def test_catalogue_in_vietnamese(snap_compare, make_app):
    assert snap_compare(make_app(lang="vi"), terminal_size=(120, 40), run_before=settle)


def test_catalogue_read_only_rows(snap_compare, make_app):
    async def rows(pilot):
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(make_app(readonly=True), terminal_size=(80, 24), run_before=rows)


def test_transaction_detail(snap_compare, sample_app):
    async def detail(pilot):
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")  # the rolled-back call
        await settle(pilot)

    assert snap_compare(sample_app(start_view="tx"), terminal_size=(120, 40), run_before=detail)


def test_keys_of_the_events_view(snap_compare, sample_app):
    async def keys(pilot):
        await feed_sample(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(sample_app(start_view="events"), terminal_size=(80, 24), run_before=keys)


def test_call_showing_a_retried_result(snap_compare, sample_app, catalogue):
    """The composer after a call that needed two retries (the result read back from the log)."""

    async def result(pilot):
        await settle(pilot)
        app = pilot.app
        retried = next(
            tx
            for tx in app.session.txlog.query(limit=20)
            if tx.attempt_count == 3 and tx.outcome == "committed"
        )
        app.open_call(
            catalogue.operation(retried.path, retried.method, retried.action),
            headers={"X-Fault-Fail-Attempts": "2"},
        )
        await settle(pilot)
        app.screen.result = app.session.txlog.get(retried.id)
        app.screen._show_result()
        await settle(pilot)

    assert snap_compare(sample_app(), terminal_size=(120, 40), run_before=result)
