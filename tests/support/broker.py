"""A real Kafka broker (Tansu, memory storage) for the test session."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from console.events.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Iterator[EmbeddedBroker]:
    """One broker for the session; topics are per-test by naming (use unique names)."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def private_broker(tmp_path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for tests that stop and restart it."""
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f} s waiting for {message}")
        time.sleep(interval)


async def async_wait_until(condition: Callable[[], object], timeout: float = 10.0,
                           interval: float = 0.02, message: str = "condition",
                           pause: Callable[[float], Awaitable[object]] | None = None,
                           state: Callable[[], str] | None = None) -> object:
    """As :func:`wait_until`, for async tests (``condition`` is a plain callable).

    ``pause`` waits between polls (default ``asyncio.sleep``; a Pilot passes ``pilot.pause`` so
    the app keeps processing messages while the test waits). ``state``, when given, is asked
    what things looked like when the wait timed out, for the failure's message.
    """
    import asyncio

    pause = pause or asyncio.sleep
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f" ({state()})" if state is not None else ""
            pytest.fail(f"timed out after {timeout:.1f} s waiting for {message}{seen}")
        await pause(interval)
