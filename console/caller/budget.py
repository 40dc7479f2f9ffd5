"""A client-side rate budget: never send an operation more often than its declared limit.

The gateway counts every request, retries included, per client and operation in windows of
``window_s``; the budget counts the same way, with a sliding window (stricter than a fixed one,
so it can never push the gateway over). When the budget is spent the call is **refused** at
once, as ``rate_limited`` with the seconds until a slot frees, unless the caller allows a wait
(``max_wait_s``): then it waits for the slot when that comes soon enough. Refusing is the default
because an operator's keypress should answer now, not after a minute.

The budget lives in one process (one ``Caller``); separate processes have separate budgets.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from console.errors import ApilogError


@dataclass
class BudgetRefused(ApilogError):
    """No slot in the window; the next one frees in ``retry_in_s``."""

    key: tuple[str, str, str]
    limit: int
    window_s: float
    retry_in_s: float

    def __str__(self) -> str:
        path, method, action = self.key
        return (f"client-side rate budget spent for {method} {path}?action={action}: "
                f"{self.limit} per {self.window_s:g} s; next slot in {self.retry_in_s:.1f} s")


@dataclass
class RateBudget:
    """Sliding-window send log per operation key."""

    clock: Callable[[], float] = time.monotonic
    _sent: dict[tuple[str, str, str], deque[float]] = field(default_factory=dict)

    def _window(self, key: tuple[str, str, str], window_s: float) -> deque[float]:
        sent = self._sent.setdefault(key, deque())
        horizon = self.clock() - window_s
        while sent and sent[0] <= horizon:
            sent.popleft()
        return sent

    def remaining(self, key: tuple[str, str, str], limit: int, window_s: float) -> int:
        return max(0, limit - len(self._window(key, window_s)))

    def try_take(self, key: tuple[str, str, str], limit: int, window_s: float) -> float:
        """Take a slot and return 0, or take nothing and return the seconds until one frees."""
        sent = self._window(key, window_s)
        if len(sent) < limit:
            sent.append(self.clock())
            return 0.0
        return max(0.0, sent[0] + window_s - self.clock())

    async def acquire(self, key: tuple[str, str, str], limit: int, window_s: float,
                      max_wait_s: float = 0.0) -> None:
        """Take a slot, waiting up to ``max_wait_s`` in all for one; raise :class:`BudgetRefused` otherwise.

        ``try_take`` never awaits, so on one event loop it is atomic: no lock, and a call
        waiting for one operation's slot never holds up another operation.
        """
        deadline = self.clock() + max_wait_s
        while True:
            wait = self.try_take(key, limit, window_s)
            if wait == 0.0:
                return
            if self.clock() + wait > deadline:
                raise BudgetRefused(key, limit, window_s, wait)
            await asyncio.sleep(wait)
