"""Header-driven fault injection, as Envoy's fault filter (reference gateway only).

With faults on, a request can ask the gateway to abort with a status, wait before running,
fail after the write inside the transaction, or fail its first k attempts. With faults off
the headers are ignored and the access log records which ones were.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.gateway.problems import Problem

ABORT = "x-fault-abort"
DELAY = "x-fault-delay-ms"
AFTER_WRITE = "x-fault-after-write"
FAIL_ATTEMPTS = "x-fault-fail-attempts"
HEADERS = (ABORT, DELAY, AFTER_WRITE, FAIL_ATTEMPTS)
FAULT_TYPE = "https://apilog.dev/problems/injected-fault"
MAX_DELAY_MS = 60_000


@dataclass
class FaultPlan:
    """The faults one request asked for, and which were ignored."""

    abort: int | None = None
    delay_ms: int = 0
    after_write: bool = False
    fail_attempts: int = 0
    ignored: list[str] = field(default_factory=list)

    @property
    def requested(self) -> list[str]:
        names = []
        if self.abort is not None:
            names.append("abort")
        if self.delay_ms:
            names.append("delay")
        if self.after_write:
            names.append("after-write")
        if self.fail_attempts:
            names.append("fail-attempts")
        return names


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Problem(400, "Invalid fault header", f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def read_faults(headers: Mapping[str, str], enabled: bool) -> FaultPlan:
    """The plan asked for by ``headers`` (lower-case names); bad values → 400 when enabled."""
    present = [name for name in HEADERS if name in headers]
    if not enabled:
        return FaultPlan(ignored=present)
    plan = FaultPlan()
    if ABORT in headers:
        plan.abort = _int("X-Fault-Abort", headers[ABORT], 400, 599)
    if DELAY in headers:
        plan.delay_ms = _int("X-Fault-Delay-Ms", headers[DELAY], 0, MAX_DELAY_MS)
    if AFTER_WRITE in headers:
        flag = headers[AFTER_WRITE].strip().lower()
        if flag not in {"true", "false", "1", "0"}:
            raise Problem(400, "Invalid fault header", f"X-Fault-After-Write must be true or false, got {flag!r}")
        plan.after_write = flag in {"true", "1"}
    if FAIL_ATTEMPTS in headers:
        plan.fail_attempts = _int("X-Fault-Fail-Attempts", headers[FAIL_ATTEMPTS], 0, 100)
    return plan


class AttemptCounter:
    """Counts attempts per Idempotency-Key (or X-Request-Id) for ``X-Fault-Fail-Attempts``."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[str, int] = OrderedDict()

    def next_attempt(self, key: str) -> int:
        """1 for the first attempt with ``key``, 2 for the second, …"""
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)
        return count
