"""Per client and operation rate limiting: exactly ``limit`` calls per window, however concurrent.

Fixed windows aligned to multiples of ``window_s`` on the limiter's clock: window ``n`` covers
``[n * window_s, (n + 1) * window_s)``. A fixed window is exact (the catalogue promises
"exactly 1000 in a minute"), cheap (one counter per key) and gives an honest reset time; the
price is that a client may spend a full quota at the end of one window and again at the start of
the next. ``hit`` is synchronous and does no I/O, so on one event loop no two calls interleave:
2,000 concurrent requests against a limit of 1,000 admit exactly 1,000. A lock makes it exact
across threads as well.

Memory stays bounded: counters of windows that have ended are swept at most once a second.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from console.gateway.problems import QUOTA_EXCEEDED, Problem

POLICY_NAME = "default"

#: Kong's header suffix for each window length it names.
_KONG_UNITS = {1: "Second", 60: "Minute", 3600: "Hour", 86400: "Day"}


@dataclass(frozen=True)
class Decision:
    """The outcome of one :meth:`RateLimiter.hit`.

    ``reset_s``: whole seconds until the window ends (at least 1). ``retry_after_s``: 0 when
    allowed, else the seconds to wait before the next call can pass.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int
    window_s: int = 60


class RateLimiter:
    """Fixed-window counters keyed by caller-chosen strings (``"<client>|<METHOD> <path> <action>"``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int, int]] = {}  # key -> (window_s, window index, count)
        self._lock = threading.Lock()
        self._next_sweep = -math.inf

    def hit(self, key: str, limit: int, window_s: int) -> Decision:
        """Count one call against ``key`` and say whether it may pass."""
        if limit < 0 or window_s <= 0:
            raise ValueError(f"a rate limit needs limit >= 0 and window_s > 0, not {limit}/{window_s}s")
        now = self._clock()
        window = math.floor(now / window_s)
        reset_s = max(1, math.ceil((window + 1) * window_s - now))
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            stored_window_s, stored_window, count = self._windows.get(key, (window_s, window, 0))
            if (stored_window_s, stored_window) != (window_s, window):
                count = 0
            allowed = count < limit
            if allowed:
                count += 1
            self._windows[key] = (window_s, window, count)
        return Decision(
            allowed=allowed, limit=limit, remaining=max(0, limit - count), reset_s=reset_s,
            retry_after_s=0 if allowed else reset_s, window_s=window_s,
        )

    def __len__(self) -> int:
        """How many keys hold a counter (for tests and metrics)."""
        return len(self._windows)

    def _sweep(self, now: float) -> None:
        """Drop counters whose window has ended; called under the lock."""
        expired = [
            key for key, (window_s, window, _) in self._windows.items()
            if (window + 1) * window_s <= now
        ]
        for key in expired:
            del self._windows[key]
        self._next_sweep = now + 1.0


def rate_limit_headers(decision: Decision, window_s: int) -> dict[str, str]:
    """Both header generations: the IETF draft's ``RateLimit-Policy``/``RateLimit`` and Kong's
    ``X-RateLimit-Limit-<Unit>``/``X-RateLimit-Remaining-<Unit>``, plus ``Retry-After`` when refused.

    Kong names only second, minute, hour and day windows; for any other length its pair is
    left out rather than mislabelled.
    """
    headers = {
        "RateLimit-Policy": f'"{POLICY_NAME}";q={decision.limit};w={window_s}',
        "RateLimit": f'"{POLICY_NAME}";r={decision.remaining};t={decision.reset_s}',
    }
    unit = _KONG_UNITS.get(window_s)
    if unit:
        headers[f"X-RateLimit-Limit-{unit}"] = str(decision.limit)
        headers[f"X-RateLimit-Remaining-{unit}"] = str(decision.remaining)
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_s)
    return headers


def quota_problem(decision: Decision) -> Problem:
    """The 429 problem for a refused call, carrying every rate-limit header and ``Retry-After``."""
    return Problem(
        429, "Too Many Requests",
        f"the rate limit of {decision.limit} requests per {decision.window_s} s is used up; "
        f"retry in {decision.retry_after_s} s",
        type=QUOTA_EXCEEDED,
        headers=rate_limit_headers(decision, decision.window_s),
        limit=decision.limit, window_s=decision.window_s, retry_after_s=decision.retry_after_s,
    )
