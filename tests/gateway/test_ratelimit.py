"""The rate limiter: exact under 2,000 concurrent tasks, windows crossed on a fake clock, bounded
memory, and both header generations."""

from __future__ import annotations

import asyncio
import threading

import pytest

from console.gateway.problems import QUOTA_EXCEEDED
from console.gateway.ratelimit import Decision, RateLimiter, quota_problem, rate_limit_headers


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_2000_concurrent_tasks_against_1000_pass_exactly_1000():
    """Real monotonic clock; a window of a million seconds so the run cannot straddle two."""
    limiter = RateLimiter()
    start = asyncio.Event()

    async def call() -> bool:
        await start.wait()
        await asyncio.sleep(0)  # interleave the tasks as concurrent requests would be
        return limiter.hit("sandbox|POST /customer/update add-record", 1000, 1_000_000).allowed

    tasks = [asyncio.create_task(call()) for _ in range(2000)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert sum(results) == 1000


async def test_2000_concurrent_tasks_on_a_frozen_clock_pass_exactly_1000():
    limiter = RateLimiter(clock=FakeClock(30.0))

    async def call() -> Decision:
        await asyncio.sleep(0)
        return limiter.hit("k", 1000, 60)

    decisions = await asyncio.gather(*(call() for _ in range(2000)))
    allowed = [decision for decision in decisions if decision.allowed]
    assert len(allowed) == 1000
    assert sorted(decision.remaining for decision in allowed) == list(range(1000))
    refused = [decision for decision in decisions if not decision.allowed]
    assert all(decision.retry_after_s == 30 and decision.remaining == 0 for decision in refused)


def test_threads_share_the_limit_exactly():
    limiter = RateLimiter(clock=FakeClock(5.0))
    passed = []

    def worker() -> None:
        passed.extend(limiter.hit("k", 500, 60).allowed for _ in range(100))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(passed) == 500


def test_fixed_window_is_aligned_and_resets_when_crossed():
    clock = FakeClock(119.5)  # window [60, 120)
    limiter = RateLimiter(clock=clock)
    first = limiter.hit("k", 2, 60)
    assert (first.allowed, first.remaining, first.reset_s) == (True, 1, 1)
    assert limiter.hit("k", 2, 60).allowed
    refused = limiter.hit("k", 2, 60)
    assert (refused.allowed, refused.remaining, refused.retry_after_s) == (False, 0, 1)
    clock.now = 120.0  # the next window starts
    fresh = limiter.hit("k", 2, 60)
    assert (fresh.allowed, fresh.remaining, fresh.reset_s, fresh.retry_after_s) == (True, 1, 60, 0)


def test_keys_are_independent():
    limiter = RateLimiter(clock=FakeClock(0.0))
    assert limiter.hit("a", 1, 60).allowed
    assert not limiter.hit("a", 1, 60).allowed
    assert limiter.hit("b", 1, 60).allowed


def test_a_zero_limit_refuses_everything_and_bad_limits_are_errors():
    limiter = RateLimiter(clock=FakeClock(0.0))
    assert not limiter.hit("k", 0, 60).allowed
    with pytest.raises(ValueError):
        limiter.hit("k", 1, 0)


def test_counters_of_ended_windows_are_swept():
    clock = FakeClock(0.0)
    limiter = RateLimiter(clock=clock)
    for index in range(1000):
        limiter.hit(f"client-{index}", 10, 60)
    assert len(limiter) == 1000
    clock.now = 61.0
    limiter.hit("late", 10, 60)
    assert len(limiter) == 1


def test_headers_both_generations_when_allowed():
    clock = FakeClock(45.0)
    decision = RateLimiter(clock=clock).hit("k", 1000, 60)
    assert rate_limit_headers(decision, 60) == {
        "RateLimit-Policy": '"default";q=1000;w=60',
        "RateLimit": '"default";r=999;t=15',
        "X-RateLimit-Limit-Minute": "1000",
        "X-RateLimit-Remaining-Minute": "999",
    }


def test_headers_for_other_windows():
    decision = RateLimiter(clock=FakeClock(0.0)).hit("k", 5, 3600)
    headers = rate_limit_headers(decision, 3600)
    assert headers["X-RateLimit-Limit-Hour"] == "5" and headers["RateLimit-Policy"].endswith("w=3600")
    odd = rate_limit_headers(RateLimiter(clock=FakeClock(0.0)).hit("k", 5, 90), 90)
    assert not any(name.startswith("X-RateLimit") for name in odd)


def test_quota_problem_is_429_with_retry_after():
    clock = FakeClock(50.2)
    limiter = RateLimiter(clock=clock)
    limiter.hit("k", 1, 60)
    decision = limiter.hit("k", 1, 60)
    problem = quota_problem(decision)
    assert problem.status == 429 and problem.type == QUOTA_EXCEEDED
    assert problem.headers["Retry-After"] == "10"
    assert problem.headers["X-RateLimit-Remaining-Minute"] == "0"
    assert problem.headers["RateLimit"] == '"default";r=0;t=10'
    assert "1 requests per 60 s" in problem.detail
