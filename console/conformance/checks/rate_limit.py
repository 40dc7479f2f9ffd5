"""rate-limit: the policy headers on every answer, a falling remaining count, and — on one
operation per distinct limit (every one with ``--thorough``) — exactly one 429 for limit+1 calls
in one window.

Both header generations are read: the IETF draft's ``RateLimit-Policy: "default";q=L;w=W`` and
``RateLimit: "default";r=R;t=T``, and Kong's ``X-RateLimit-Limit-Minute`` /
``X-RateLimit-Remaining-Minute`` for one-minute windows. The burst goes out raw (the console's
own caller keeps a client-side budget and would never send the extra call).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

from console.conformance.checks.common import expect_problem
from console.conformance.evidence import CheckSkipped, Evidence

QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
KONG_UNITS = {1: "Second", 60: "Minute", 3600: "Hour", 86400: "Day"}
#: Raw requests in flight at once during the burst.
BURST_CONCURRENCY = 32
#: Requests per second the burst is planned at, to know if a window has room for it. The
#: sandbox's bursts ran at 600-800/s on 2 cores; at the old 100/s a burst needed 12 s of its
#: window and one run in five (the window's last 12 s) waited up to 12 s for the next one, for
#: a burst of under 2 s. A gateway slower than this is caught by the straddle test in exhaust.
BURST_RATE = 250.0


def parse_params(value: str | None) -> dict[str, int]:
    """``"default";q=1000;w=60`` → ``{"q": 1000, "w": 60}``."""
    return {k: int(v) for k, v in re.findall(r";\s*([a-z]+)=(\d+)", value or "")}


def read_headers(ev: Evidence, response: Any, limit: int, window_s: int, what: str) -> tuple[int, int]:
    """Check every rate-limit header of ``response``; (remaining, reset seconds)."""
    headers = response.headers
    policy = parse_params(headers.get("ratelimit-policy"))
    ev.expect(policy.get("q") == limit and policy.get("w") == window_s,
              f"{what}: RateLimit-Policy is {headers.get('ratelimit-policy')!r}, "
              f"expected q={limit};w={window_s}")
    state = parse_params(headers.get("ratelimit"))
    ev.expect("r" in state and "t" in state,
              f"{what}: RateLimit is {headers.get('ratelimit')!r}, expected r=<remaining>;t=<reset>")
    ev.expect(0 <= state["r"] <= limit, f"{what}: remaining {state['r']} outside 0..{limit}")
    ev.expect(0 <= state["t"] <= window_s, f"{what}: reset {state['t']} s outside 0..{window_s}")
    unit = KONG_UNITS.get(window_s)
    if unit:
        kong_limit = headers.get(f"x-ratelimit-limit-{unit.lower()}")
        kong_left = headers.get(f"x-ratelimit-remaining-{unit.lower()}")
        ev.expect(kong_limit == str(limit), f"{what}: X-RateLimit-Limit-{unit} is {kong_limit!r}, expected {limit}")
        ev.expect(kong_left == str(state["r"]),
                  f"{what}: X-RateLimit-Remaining-{unit} is {kong_left!r}, RateLimit says r={state['r']}")
    return state["r"], state["t"]


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    limit = int(item.contract.params.get("limit", 1000))
    window_s = int(item.contract.params.get("window_s", 60))
    first = ev.response(await probe.send(op, (await probe.prepare(op)).get("body")), "first")
    ev.expect(first.status_code < 400, f"first call answered {first.status_code}")
    r1, t1 = read_headers(ev, first, limit, window_s, "first call")
    second = ev.response(await probe.send(op, (await probe.prepare(op)).get("body")), "second")
    ev.expect(second.status_code < 400, f"second call answered {second.status_code}")
    r2, t2 = read_headers(ev, second, limit, window_s, "second call")
    new_window = t2 > t1
    ev.expect(r2 < r1 or new_window, f"remaining did not fall: r={r1} then r={r2} in one window")
    ev.note("remaining", [r1, r2])
    if not item.exhaust:
        return f"headers right, remaining fell {r1} → {r2}"
    if not probe.allow_load:
        raise CheckSkipped(f"headers right (remaining {r1} → {r2}); exhausting {limit} calls "
                           "puts load on the gateway: run with --allow-load")
    return await exhaust(probe, op, ev, limit, window_s)


async def exhaust(probe: Any, op: Any, ev: Evidence, limit: int, window_s: int) -> str:
    """Spend what is left of this window plus one: exactly one call must be refused.

    The runner runs bursts last and one at a time; a burst that still straddles two windows (a
    slow gateway) is run again in a fresh window, planned at the pace the first one reached.
    """
    rate = BURST_RATE
    for _attempt in range(2):
        answers, remaining, seconds, reset_s = await _burst(probe, op, ev, limit, window_s, rate)
        if seconds + 1 < reset_s:  # reset_s is rounded up to whole seconds
            break
        rate = max(1.0, (remaining + 1) / seconds)
    else:
        ev.expect(False, f"a burst of {remaining + 1} calls never fit in one {window_s} s window "
                         f"({seconds:.1f} s each time): the gateway is too slow to check its limit")
    refused = [a for a in answers if a.status_code == 429]
    admitted = [a for a in answers if a.status_code != 429]
    ev.note("refused", len(refused))
    ev.note("admitted_but_failed", sum(a.status_code >= 500 for a in admitted))
    ev.expect(len(refused) == 1,
              f"{remaining + 2} calls against {remaining + 1} left of the window "
              f"(limit {limit}/{window_s} s): {len(refused)} answered 429, expected exactly 1")
    ev.expect(len(admitted) == remaining,
              f"{len(admitted)} of {remaining + 1} burst calls were admitted, expected {remaining}")
    denial = ev.response(refused[0], "429")
    problem = expect_problem(ev, denial, 429, "over the limit")
    ev.expect(problem.get("type") == QUOTA_EXCEEDED,
              f"429 problem type is {problem.get('type')!r}, not {QUOTA_EXCEEDED}")
    ev.expect(denial.headers.get("retry-after", "").isdigit(), "429 without a Retry-After in seconds")
    r, _ = read_headers(ev, denial, limit, window_s, "429 answer")
    ev.expect(r == 0, f"429 answer says {r} calls remain")
    return f"limit+1 calls in one window: exactly one 429 with Retry-After {denial.headers['retry-after']}"


async def _burst(probe: Any, op: Any, ev: Evidence, limit: int, window_s: int,
                 rate: float) -> tuple[list[Any], int, float, int]:
    """Open a window with room for the burst at ``rate`` calls/s, then send the rest of it plus
    one; (answers, remaining after the opener, seconds the burst took, reset at the opener)."""
    body = _cheap_body(op)
    opener = await probe.send(op, body())
    remaining, reset_s = read_headers(ev, opener, limit, window_s, "burst opener")
    if reset_s < remaining / rate + 2:  # too little of the window left: start a fresh one
        await asyncio.sleep(reset_s + 0.2)
        opener = await probe.send(op, body())
        remaining, reset_s = read_headers(ev, opener, limit, window_s, "burst opener")
    gate = asyncio.Semaphore(BURST_CONCURRENCY)

    async def one() -> Any:
        async with gate:
            return await probe.send(op, body())

    started = time.monotonic()
    answers = await asyncio.gather(*(one() for _ in range(remaining + 1)))
    seconds = time.monotonic() - started
    ev.note("burst", {"calls": remaining + 2, "seconds": round(seconds, 2), "reset_s": reset_s})
    return answers, remaining, seconds, reset_s


def _cheap_body(op: Any) -> Any:
    """Payloads for a burst that need no preparation calls (a missing record answers 404)."""
    if op.action == "add-record":
        return lambda: {"id": f"chk-burst-{uuid.uuid4().hex[:12]}"}
    if op.action == "delete-info":
        return lambda: {"id": f"chk-absent-{uuid.uuid4().hex[:12]}"}
    if op.action == "update-config":
        return lambda: {"chk-burst": "conformance probe"}
    return lambda: None



async def await_quota(probe: Any, op: Any, need: int = 40) -> None:
    """Wait for a fresh window when ``op``'s quota is nearly spent (an earlier run exhausted it),
    so that the checks before the burst are not refused."""
    contract = op.contract("rate-limit")
    limit = int(contract.params.get("limit", 1000)) if contract else need
    answer = await probe.send(op, _cheap_body(op)())
    left = parse_params(answer.headers.get("ratelimit"))
    if answer.status_code == 429 or left.get("r", limit) < min(need, limit // 2):
        wait = left.get("t") or int(answer.headers.get("retry-after") or 0)
        await asyncio.sleep(wait + 0.2)
