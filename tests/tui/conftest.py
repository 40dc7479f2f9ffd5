"""Console test helpers: a frozen clock, offline and live apps, waits that poll instead of sleep."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

FROZEN_NOW = datetime(2026, 11, 26, 9, 30, 0, tzinfo=UTC)


def frozen_clock() -> datetime:
    return FROZEN_NOW


async def settle(pilot: Any) -> None:
    """Let posted messages and every worker finish, then one more refresh."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(
    pilot: Any, condition: Callable[[], object], timeout: float = 20.0, message: str = "condition"
) -> object:
    """Poll ``condition`` while the app keeps running; fail the test at the deadline."""
    from tests.support.broker import async_wait_until

    return await async_wait_until(condition, timeout, 0.05, message, pause=pilot.pause)


async def send_call(pilot: Any, operation: Any, **prefill: Any) -> Any:
    """Open ``operation`` in the composer, send it with ctrl+s as an operator would, wait for its
    result; the call view."""
    pilot.app.open_call(operation, **prefill)
    await settle(pilot)
    call = pilot.app.screen
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: call.result is not None, message="the call's result")
    return call


def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text (from the same SVG export snapshots use)."""
    import html
    import re

    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    pattern = (
        r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+" '
        r'clip-path="[^"]*">(.*?)</text>'
    )
    for match in re.finditer(pattern, svg):
        rows.setdefault(float(match[2]), []).append((float(match[1]), html.unescape(match[3])))
    lines = []
    for y in sorted(rows):
        cells = [" "] * 400
        for x, text in rows[y]:
            column = round(x / 12.2)
            for offset, char in enumerate(text):
                if column + offset < len(cells):
                    cells[column + offset] = char
        lines.append("".join(cells).replace("\xa0", " ").rstrip())
    return "\n".join(lines)


def notices(app: Any) -> str:
    """Every toast raised so far (toasts are not part of the screenshot export)."""
    return "\n".join(n.message for n in app._notifications)


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    """Snapshots must not depend on the runner's terminal settings (a test may set them)."""
    for name in ("NO_COLOR", "COLUMNS", "LINES", "LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_app(catalogue) -> Callable[..., Any]:
    """``make_app(**kwargs)``: an offline console on the shipped catalogue with a frozen clock."""
    from screens.app import ApilogApp

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("lang", "en")
        kwargs.setdefault("clock", frozen_clock)
        return ApilogApp(kwargs.pop("catalogue", catalogue), **kwargs)

    return make


def log_session(path: Any) -> Any:
    """An unopened console session on the log file ``path`` alone (no gateway)."""
    from console.catalogue import load_catalogue
    from console.session import Session

    return Session(None, load_catalogue(), log_path=path, origin="console")


@pytest.fixture
def live_session(gateway, tmp_path) -> Any:
    """An unopened console session on the test run's real gateway and broker, a fresh log."""
    from console.config import Profile
    from console.session import Session

    profile = Profile(
        name="test",
        base_url=gateway.base_url,
        token_url=gateway.token_url,
        client_id=gateway.client_id,
        client_secret=gateway.client_secret,
        kafka_bootstrap=gateway.kafka_bootstrap,
    )
    return Session(profile, gateway.catalogue, log_path=tmp_path / "transactions.db",
                   origin="console")


@contextmanager
def left_for_the_collector() -> Iterator[list[type]]:
    """Inside: no automatic collector passes, after one that clears what came before. Yields a
    list that, on leaving, holds the type of each object made inside that only the collector
    could free (in a reference cycle)."""
    found: list[type] = []
    gc.collect()
    gc.disable()
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(type(o) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
