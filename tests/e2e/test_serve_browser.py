"""``apilog serve``: the console in a real browser (Debian's headless chromium via Playwright).

The server is the installed ``apilog serve`` in a subprocess; every browser tab gets its own
console process, which starts the embedded sandbox as ``apilog`` in a terminal would. The
terminal in the page is drawn on a canvas (xterm.js), so what the page was sent is read from
the websocket frames the browser received, and keys are typed into the page as a person would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.events.broker import free_port
from tests.support.broker import wait_until

APILOG = Path(sys.executable).with_name("apilog")
CHROMIUM = shutil.which("chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not APILOG.exists(), reason=f"{APILOG} is not installed (pip install -e .)"),
]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

#: CSI and OSC escape sequences, and the other two-byte escapes Textual writes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>][0-9A-Za-z]?")


def _poll_page(page, condition, timeout: float, message: str) -> None:
    """wait_until for a Playwright page: its events (websocket frames) arrive only while
    Playwright has control, so the pauses are the page's own."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")
        page.wait_for_timeout(200)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"COLUMNS", "LINES", "APILOG_PROFILE"}}
    env.update({f"XDG_{kind}_HOME": str(tmp_path / kind.lower()) for kind in ("DATA", "CONFIG", "STATE")})
    return env


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture
def served(tmp_path) -> Iterator[str]:
    """``apilog --lang en serve`` on a free loopback port; its URL."""
    port = free_port()
    env = _env(tmp_path)
    server = subprocess.Popen([str(APILOG), "--lang", "en", "serve", "--port", str(port)],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.poll() is not None or _status(url + "/") == 200, timeout=30,
                   message=f"apilog serve answering on {url}")
        assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
        yield url
    finally:
        # SIGTERM: textual-serve closes the websockets and each console quits and stops its
        # sandbox; the sandbox stop below covers a console that did not get that far.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        subprocess.run([str(APILOG), "sandbox", "stop"], env=env, capture_output=True,
                       check=False, timeout=60)


@needs_chromium
def test_the_console_in_chromium_shows_the_catalogue_and_a_typed_filter_narrows_it(served, tmp_path):
    from playwright.sync_api import sync_playwright

    received: list[str] = []

    def screen_text() -> str:
        return ANSI.sub("", "".join(received))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # The page asks a public font service for its font: nothing leaves this machine.
            page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
            page.on("websocket", lambda ws: ws.on(
                "framereceived",
                lambda frame: received.append(frame if isinstance(frame, str)
                                              else frame.decode("utf-8", "replace"))))
            page.goto(served + "/")
            _poll_page(page, lambda: "operations: 152 shown of 152" in screen_text(), 60,
                       "the catalogue in the browser")
            page.click(".textual-terminal")
            received.clear()
            page.keyboard.press("/")
            page.keyboard.type("firewall method:put action:add-record")
            page.keyboard.press("Enter")
            _poll_page(page, lambda: "operations: 1 shown of 152" in screen_text(), 30,
                       "the filtered catalogue in the browser")
            assert "/security/firewall" in screen_text()
            page.screenshot(path=str(tmp_path / "served-console.png"))
            sandbox_state = tmp_path / "data" / "apilog" / "sandbox" / "state.json"
            _poll_page(page, sandbox_state.exists, 60, "the tab's console to start the sandbox")
        finally:
            browser.close()
    # The tab is gone: its console quits and stops the sandbox it started.
    wait_until(lambda: not sandbox_state.exists(), timeout=60,
               message="the closed tab's console to stop its sandbox")


def test_serve_refuses_other_hosts_and_websockets_from_other_sites(served):
    """Without authentication, the Host and Origin checks are what keeps another web page open
    in the operator's browser (or a DNS-rebound name) from driving the console."""
    import aiohttp

    port = served.rsplit(":", 1)[1]
    assert _status(served + "/") == 200
    assert _status(served + "/", {"Host": f"localhost:{port}"}) == 200
    assert _status(served + "/", {"Host": f"rebound.example:{port}"}) == 403

    async def handshake(origin: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(served + "/ws?width=80&height=24",
                                              headers={"Origin": origin}) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(handshake("http://evil.example")) == 403
    assert asyncio.run(handshake(f"http://attacker.example:{port}")) == 403
    assert asyncio.run(handshake(f"http://localhost:{port}")) == 101


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_a_non_loopback_host_is_refused_without_public(host, tmp_path):
    done = subprocess.run([str(APILOG), "serve", "--host", host, "--port", str(free_port())],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--host {host} is not a loopback address" in lines[0]
    assert "--public" in lines[0]
