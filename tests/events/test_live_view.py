"""The console's Events view skips what falls out of its window, says so, and loads it back.

A real gateway-less console on the session's broker (the feed is real; the view's window is
the profile's ``event_buffer``, made small).
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest

from tests.events.conftest import binary_event, produce
from tests.tui.conftest import live_session, make_app, screen_text, settle, wait_for

pytestmark = pytest.mark.slow
__all__ = ["live_session", "make_app"]  # fixtures, used by name

WINDOW = 50


async def test_a_paused_view_reports_what_fell_out_and_loads_it_on_l(make_app, live_session,
                                                                     monkeypatch):
    live_session.profile = dataclasses.replace(live_session.profile, event_buffer=WINDOW)
    topic = f"gateway.events.skip-{uuid.uuid4().hex[:8]}"
    app = make_app(session=live_session, start_view="events")
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.connection.kafka == "connected", message="feed up")
        view = app.screen
        await pilot.press("space")
        assert view.paused
        await produce(live_session.profile.kafka_bootstrap, topic,
                      [binary_event(f"skip-{i}", subject=f"r{i}") for i in range(200)])
        await wait_for(pilot, lambda: app.runtime.feed.delivered().get((topic, 0)) and
                       app.runtime.feed.delivered()[(topic, 0)].count == 200,
                       message="the feed to deliver all 200")
        await pilot.press("space")  # live again: the window holds the newest 50 of them
        await settle(pilot)
        assert [e.offset for e in view.shown if e.topic == topic] == list(range(199, 149, -1))
        assert (f"skipped 150 events (offsets 0–149 of {topic}[0]); press l to load them"
                in screen_text(app))
        monkeypatch.setattr("screens.events_view.LOAD_LIMIT", 100)
        await pilot.press("l")  # the newest 100 of them; the oldest 50 stay reported
        await wait_for(pilot, lambda: view.paused and len(view.skipped) == 1 and
                       view.skipped[0].last == 49, message="the newest 100 skipped loaded")
        assert [e.offset for e in view.shown if e.topic == topic] == list(range(199, 49, -1))
        assert f"skipped 50 events (offsets 0–49 of {topic}[0])" in screen_text(app)
        await pilot.press("l")
        await wait_for(pilot, lambda: not view.skipped, message="the rest loaded")
        await settle(pilot)
        assert view.paused
        assert [e.offset for e in view.shown if e.topic == topic] == list(range(199, -1, -1))
        assert [e.id for e in view.shown if e.topic == topic][-1] == "skip-0"
        assert not re.search("skipped [0-9]+ events", screen_text(app))
