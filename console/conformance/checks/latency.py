"""latency-sla: successes complete within ``max_ms`` (p95 over several calls), the gateway
reports ``Server-Timing: total;dur=…``, and — on one operation per distinct deadline (every one
with ``--thorough``) — a request delayed past the deadline is given up with 504, not served late.
"""

from __future__ import annotations

import math
import re
from typing import Any

from console.conformance.checks.common import expect_problem, expect_success, header
from console.conformance.evidence import Evidence

#: Calls measured per operation (``--thorough``: more, for a steadier p95).
SAMPLES = 5
THOROUGH_SAMPLES = 20
#: How far past the deadline the overrun probe asks the gateway to wait.
OVERRUN_MS = 200


def p95(values: list[float]) -> float:
    """The 95th percentile by the nearest-rank method (the largest of five samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def server_total_ms(value: str | None) -> float | None:
    match = re.search(r"(?:^|,)\s*total\s*;[^,]*dur=([0-9.]+)", value or "")
    return float(match.group(1)) if match else None


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    max_ms = int(item.contract.params.get("max_ms", 1000))
    samples = THOROUGH_SAMPLES if probe.thorough else SAMPLES
    elapsed, server = [], []
    for n in range(samples):
        result = ev.result(await probe.call(op, **await probe.prepare(op)))
        expect_success(ev, result, f"call {n + 1}")
        elapsed.append(result.attempts[-1].elapsed_ms)
        total = server_total_ms(header(result.response_headers, "server-timing"))
        ev.expect(total is not None,
                  f"call {n + 1}: no Server-Timing total;dur=… ({header(result.response_headers, 'server-timing')!r})")
        server.append(total)
    worst = p95(elapsed)
    ev.note("elapsed_ms", [round(v, 1) for v in elapsed])
    ev.note("server_timing_ms", server)
    ev.note("p95_ms", round(worst, 1))
    ev.expect(worst <= max_ms, f"p95 over {samples} calls is {worst:.0f} ms, over the {max_ms} ms SLA")
    reason = f"p95 {worst:.0f} ms ≤ {max_ms} ms over {samples} calls, Server-Timing reported"
    if not item.overrun:
        return reason
    if not probe.faults_enabled:
        return reason + "; deadline probe not run (faults off)"
    fields = await probe.prepare(op)
    late = ev.response(await probe.send(op, fields.get("body"),
                                        headers={"X-Fault-Delay-Ms": str(max_ms + OVERRUN_MS)}), "overrun")
    expect_problem(ev, late, 504, f"delayed {max_ms + OVERRUN_MS} ms past a {max_ms} ms SLA")
    return reason + f"; a call delayed past {max_ms} ms was given up with 504"
