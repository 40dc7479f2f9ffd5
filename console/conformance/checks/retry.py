"""retry: when the first k attempts fail transiently, the caller makes min(k+1, max_retries+1)
attempts and the action takes effect exactly once (or, when every attempt fails, not at all).

The gateway fails the first k attempts with 503 + ``Retry-After: 0`` (``X-Fault-Fail-Attempts``,
keyed by the Idempotency-Key or the request id). Two runs: k = max_retries (the last allowed
attempt succeeds) and k = max_retries + 1 (the retries run out). The effect is read back from
the data: added records counted by a marker (or, with nothing to count with, one fixed id whose
second insert would be a 409), a deleted record gone, a configuration key set.
"""

from __future__ import annotations

import uuid
from typing import Any

from console.conformance.checks.common import expect_success
from console.conformance.evidence import CheckSkipped, Evidence


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    if not probe.faults_enabled:
        raise CheckSkipped("the gateway ignores X-Fault-Fail-Attempts (faults off): start it with --faults")
    op = item.operation
    max_retries = int(item.contract.params.get("max_retries", 3))
    runs = [(max_retries, True), (max_retries + 1, False)]
    if probe.thorough and max_retries > 1:
        runs.insert(0, (1, True))
    for k, succeeds in runs:
        expected = min(k + 1, max_retries + 1)
        effect = await _Effect.prepare(probe, op)
        result = ev.result(await probe.call(op, body=effect.body,
                                            headers={"X-Fault-Fail-Attempts": str(k)}), f"k={k}")
        attempts = len(result.attempts)
        ev.note(f"attempts_k{k}", [a.status for a in result.attempts])
        ev.expect(attempts == expected,
                  f"first {k} attempts failing: {attempts} attempts made, expected {expected}")
        if succeeds:
            expect_success(ev, result, f"after {k} failed attempts")
        else:
            ev.expect(result.outcome == "retries_exhausted",
                      f"{k} failing attempts against max {max_retries} retries ended {result.outcome!r}, "
                      "expected retries_exhausted")
        count = await effect.count()
        want = 1 if succeeds else 0
        ev.expect(count is None or count == want,
                  f"k={k}: the action took effect {count} times, expected {want}")
    return (f"{max_retries} failures → {max_retries + 1} attempts, one effect; "
            f"{max_retries + 1} failures → {max_retries + 1} attempts, no effect")


class _Effect:
    """How many times one call's action took effect, read back from the domain's data."""

    def __init__(self, probe: Any, op: Any, body: dict[str, Any] | None, count: Any) -> None:
        self.probe, self.op, self.body, self._count = probe, op, body, count

    @classmethod
    async def prepare(cls, probe: Any, op: Any) -> _Effect:
        if op.action == "add-record" and probe.can_count(op.path):
            # No id: a gateway that ran the action on a failing attempt would add a second record.
            marker = f"chk-retry-{uuid.uuid4().hex[:12]}"
            return cls(probe, op, {"marker": marker}, lambda: probe.count_marked(op.path, marker))
        if op.action == "add-record":
            # Nothing to count with: a fixed id, so a second run of the action ends in 409.
            record_id = f"chk-retry-{uuid.uuid4().hex[:12]}"

            async def exists() -> int:
                return 1 if await probe.record_exists(op.path, record_id) else 0
            return cls(probe, op, probe.body_for(op, record_id), exists)
        if op.action == "delete-info":
            record_id = await probe.new_record(op.path)

            async def deleted() -> int:
                return 0 if await probe.record_exists(op.path, record_id) else 1
            return cls(probe, op, {"id": record_id}, deleted)
        if op.action == "update-config":
            key = f"chk-retry-{uuid.uuid4().hex[:8]}"

            async def is_set() -> int:
                return 1 if key in await probe.config_of(op.path) else 0
            return cls(probe, op, {key: "set once"}, is_set)

        return cls(probe, op, probe.body_for(op), None)

    async def count(self) -> int | None:
        """Times the action took effect; None for a read, whose effect is only its answer."""
        return None if self._count is None else await self._count()
