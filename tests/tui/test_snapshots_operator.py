"""Issue 12's screens, from fixed data: Vietnamese at 80×24 and 120×40, probe traffic hidden, a
body that does not parse, an event not received yet. Review the SVGs after `--snapshot-update`."""

from __future__ import annotations

import pytest

from tests.tui.conftest import log_session, settle
from tests.tui.sample import fill_log, fill_others, pin_ids
from tests.tui.test_snapshots import feed_sample


@pytest.fixture
def probe_app(make_app, tmp_path, monkeypatch):
    """The sample log plus a conformance run's 40 probe calls and three from the CLI."""
    pin_ids(monkeypatch)
    log = tmp_path / "transactions.db"
    fill_log(log)
    fill_others(log, 40, origin="check")
    fill_others(log, 3, origin="cli")

    def make(**kwargs):
        return make_app(session=log_session(log), **kwargs)

    return make


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("view", ["catalogue", "tx", "events"])
def test_vietnamese(snap_compare, probe_app, view, size):
    assert snap_compare(probe_app(start_view=view, lang="vi"), terminal_size=size,
                        run_before=feed_sample)


def test_all_origins_after_a(snap_compare, probe_app):
    async def all_origins(pilot):
        await feed_sample(pilot)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(probe_app(start_view="tx"), terminal_size=(120, 40),
                        run_before=all_origins)


def test_broken_json_body(snap_compare, probe_app):
    async def broken(pilot):
        await settle(pilot)
        app = pilot.app
        app.open_call(app.catalogue.operation("/crm/lead/import", "POST", "add-record"),
                      body='{\n  "name": "Ada",\n}\n')
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(probe_app(), terminal_size=(80, 24), run_before=broken)


def test_event_not_received_yet(snap_compare, probe_app):
    async def waiting(pilot):
        await feed_sample(pilot)
        pilot.app.open_event("evt-9999")
        await settle(pilot)
        pilot.app.screen.tick()
        await settle(pilot)

    assert snap_compare(probe_app(start_view="tx"), terminal_size=(80, 24), run_before=waiting)
