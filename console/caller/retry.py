"""When to try again, and how long to wait: the catalogue's retry contract, as docs/contracts.md says.

Only operations with the ``retry`` contract are retried, at most ``max_retries`` times, only after
a connection error, 429, 502, 503 or 504. The wait is full-jitter exponential backoff (AWS
architecture blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base·2^(n-1))],
and never shorter than the server's ``Retry-After``. A ``Retry-After`` longer than ``max_wait_s``
ends the call instead of hanging the operator's terminal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    """``max_retries`` 0 means a single attempt. ``base_s`` is small and injectable so tests are quick."""

    max_retries: int = 0
    base_s: float = 0.2
    cap_s: float = 10.0
    max_wait_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def retryable(self, status: int | None, connection_error: bool = False) -> bool:
        """Would this ending be worth another attempt (ignoring how many are left)?"""
        if connection_error:
            return True
        return status in RETRYABLE_STATUSES

    def backoff_s(self, attempt_number: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after attempt ``attempt_number`` (1-based) before the next one."""
        ceiling = min(self.cap_s, self.base_s * (2 ** (attempt_number - 1)))
        jitter = self.rng.uniform(0, ceiling)
        return max(jitter, retry_after_s or 0.0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) as seconds: delay-seconds or an HTTP-date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
