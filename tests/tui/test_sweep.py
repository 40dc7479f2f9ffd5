"""The collector's full pass while the operator is idle (console.collector.sweep).

A feed's thresholds put the full pass off to about every hour; the widgets a console lets go of
(the footer's keys on each change of focus or view) are reference cycles that only a full pass
frees, and in a 50-minute session the one that came held the console for 2.5 s. The console
sweeps them itself, a little at a time, when nobody has typed for a moment.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from textual.widgets._footer import FooterKey

from console import collector
from tests.tui.conftest import wait_for


@contextmanager
def full_passes() -> Iterator[list[int]]:
    """Inside: one entry per full pass the collector makes, what it freed."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


@contextmanager
def feed_thresholds() -> Iterator[None]:
    """As while a feed reads: the collector's passes put off (console.collector.FEED)."""
    collector.hold(collector.FEED)
    try:
        yield
    finally:
        collector.release(collector.FEED)


def middle_passes(count: int) -> None:
    """``count`` middle passes: what a feed's allocations would bring, at once."""
    for _ in range(count):
        gc.collect(1)


def test_a_sweep_waits_for_an_idle_operator_and_garbage_worth_a_pass(monkeypatch):
    # This process's own holders (a gateway the suite serves from) are not this test's.
    monkeypatch.setattr(collector, "_holders", [])
    gc.disable()  # no automatic pass moves the counts under the test
    try:
        with full_passes() as seen:
            gc.collect()
            middle_passes(collector.SWEEP_AFTER)
            # Python's own thresholds bring full passes by themselves: nothing to do.
            assert not collector.sweep(idle=3600)
            with feed_thresholds():
                gc.collect()
                middle_passes(collector.SWEEP_AFTER - 1)
                assert not collector.sweep(idle=3600)  # too little since the last full pass
                middle_passes(1)
                assert not collector.sweep(idle=collector.SWEEP_IDLE / 2)  # someone is typing
                before = len(seen)
                assert collector.sweep(idle=collector.SWEEP_IDLE)
                assert len(seen) == before + 1
                assert not collector.sweep(idle=3600)  # the pass starts the count again
    finally:
        gc.enable()


async def test_the_footer_keys_the_operator_moved_past_are_freed_once_they_pause(make_app):
    """Under a feed's thresholds, the keys the footer showed before the filter took the focus,
    by then in the oldest generation, are freed a moment after the last key, not at the next
    full pass of the collector's own (about an hour later)."""
    app = make_app()
    with feed_thresholds():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.query(FooterKey), message="the footer's keys")
            shown = [weakref.ref(key) for key in app.screen.query(FooterKey)]
            middle_passes(collector.SWEEP_AFTER)  # the keys, alive, go to the oldest generation
            with full_passes() as seen:
                await pilot.press("slash")  # the filter's keys replace the table's
                await wait_for(pilot, lambda: all(ref() not in app.screen.query(FooterKey)
                                                  for ref in shown), message="the filter's keys")
                await wait_for(pilot, lambda: all(ref() is None for ref in shown), timeout=10,
                               message="the old footer keys freed")
            assert seen  # by a full pass, with no key pressed for a moment
