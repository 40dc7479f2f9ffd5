"""The garbage collector's thresholds while apilog keeps many objects alive on purpose.

A gateway keeps an access-log record per request (up to its ``log_capacity``); an event feed
keeps its buffer of events, and the screens what they drew and each event's data they read
(a gateway event's data is three nested objects, two of them tracked by the collector; since
6 December the feed parses it only when it is read). With Python's defaults (700, 10, 10) the
collector's young passes run every few hundred allocations and walk those objects again until
they reach the oldest generation, whose full passes then walk all of them: for a gateway 80–170
µs a request; for a feed of gateway events 5.8–6.8 µs of the 26–32 µs an event costs, with
full passes of 41–79 ms on the event loop (``docs/benchmarks.md``, 6 December).

Neither kind of object takes part in reference cycles (its memory goes back when the last
reference does, collector or not), so while a gateway serves or a feed reads, the young pass
runs every 20,000 allocations instead of 700. A gateway's process serves and nothing else, and
has its full passes practically never (:data:`GATEWAY`); a feed runs as long as the console
does, whose screens and widgets do make cycles, so its middle pass comes every ten young ones
and its full pass every fifty middle ones (:data:`FEED`), about every ten million allocations.
Several at once in one process take the more frequent pass of each generation; the last to
stop puts back what there was before the first started. A gateway also freezes what its
process made before it served (``freeze``): one count of running holders for both, where the
gateway used to keep its own.

A full pass that waits that long finds much to walk and free: the widgets a console discards
(the footer's keys on each change of focus or view, the nodes Textual makes to style a widget's
parts) are reference cycles, and in a 50-minute session the one full pass took 2.5 s; in 30
minutes ~494,000 unreachable objects had piled up beside ~147,000 live ones
(``docs/benchmarks.md``, 7 December). So the console also sweeps (:func:`sweep`): a full pass of
its own when the operator has not typed or clicked for a moment and the middle pass has run
twice since the last full one, a few minutes of garbage at a time, while no key waits for it.
"""

from __future__ import annotations

import gc
import threading

Thresholds = tuple[int, int, int]  # gen0 allocations, gen1 passes, gen2 passes

GATEWAY: Thresholds = (20_000, 50, 1000)
#: The middle pass every ten young ones (not fifty): in a console reading 500 events a second,
#: ~0.17–0.18 s every ~50 s instead of ~0.5–0.56 s every ~3 min (docs/benchmarks.md, 6 December,
#: night); the full pass every fifty middle ones, about every hour at that rate, with the
#: console's :func:`sweep` in between.
FEED: Thresholds = (20_000, 10, 50)

#: :func:`sweep`: seconds without a key or a click, and middle passes since the last full pass.
SWEEP_IDLE = 1.0
SWEEP_AFTER = 2

_lock = threading.Lock()
_holders: list[tuple[Thresholds, bool]] = []  # (thresholds, freezes) of each running holder
_before: Thresholds | None = None


def hold(thresholds: Thresholds, *, freeze: bool = False) -> None:
    """One more gateway or feed running, wanting ``thresholds`` until it calls :func:`release`
    with the same arguments. With ``freeze``, what the process made so far is moved out of the
    collector's sight (``gc.freeze()``) until the last holder that froze releases."""
    global _before
    with _lock:
        if not _holders:
            _before = gc.get_threshold()
        if freeze and not _freezing():
            gc.freeze()
        _holders.append((thresholds, freeze))
        _apply()


def release(thresholds: Thresholds, *, freeze: bool = False) -> None:
    """One fewer: the last puts back the thresholds there were before the first :func:`hold`."""
    global _before
    with _lock:
        if (thresholds, freeze) not in _holders:
            return
        _holders.remove((thresholds, freeze))
        if freeze and not _freezing():
            gc.unfreeze()
        if _holders:
            _apply()
        elif _before is not None:
            gc.set_threshold(*_before)
            _before = None


def _freezing() -> bool:
    return any(freeze for _, freeze in _holders)


def _apply() -> None:
    gc.set_threshold(*(min(values) for values in zip(*(t for t, _ in _holders), strict=True)))


def sweep(idle: float) -> bool:
    """A full pass now, if a holder put the full passes off, the operator has been idle for
    ``idle`` seconds (at least :data:`SWEEP_IDLE`) and the middle pass ran :data:`SWEEP_AFTER`
    times since the last full pass; whether it ran. Under Python's thresholds full passes come
    often enough by themselves, so without a holder this does nothing."""
    if not _holders or idle < SWEEP_IDLE or gc.get_count()[2] < SWEEP_AFTER:
        return False
    gc.collect()
    return True
