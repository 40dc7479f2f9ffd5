"""Painted lines that go back when the screen lets go of them.

Textual's ``Strip.divide`` caches what it returns on the strip itself; when the cut is the
strip's own width (the compositor asks exactly that of most lines it composes, every frame)
what it returns is ``[self]``, so each such line ends up referring to itself through its cache:
a reference cycle of the strip, its seven small caches, its segments and their styles. Such a
line is freed only by the garbage collector. In a console reading 500 events a second those
cycles were most of the garbage the collector's middle pass found, in a walk of 0.3–0.4 s on
the event loop about every 100 s (``docs/benchmarks.md``, 6 December, midday).

:func:`untie_divide` makes ``divide`` answer ``[self]`` without caching it (the answer costs
one list; the cache saved no more than that), and changes nothing when the installed Textual
does not make the cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import wraps

from rich.segment import Segment
from textual.strip import Strip


def makes_cycle() -> bool:
    """Whether ``Strip.divide`` as installed keeps a strip in its own cache."""
    strip = Strip([Segment("x")], 1)
    answer = strip.divide([1])
    cache = getattr(strip, "_divide_cache", None)
    return cache is not None and cache.get((1,)) is answer and strip in answer


def untie_divide() -> None:
    """Make ``Strip.divide`` stop caching ``[self]`` (once; idempotent)."""
    if getattr(Strip.divide, "_unties", False) or not makes_cycle():
        return
    original = Strip.divide

    @wraps(original)
    def divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        length = self.cell_length
        cuts = [cut for cut in cuts if cut <= length]
        if cuts == [length]:
            return [self]
        return original(self, cuts)

    divide._unties = True  # type: ignore[attr-defined]
    Strip.divide = divide  # type: ignore[method-assign]
