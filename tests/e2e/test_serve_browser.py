"""``apilog serve``: the console in a real browser (Debian's headless chromium via Playwright).

The server is the installed ``apilog serve`` in a subprocess; every browser tab gets its own
console process, which starts the embedded sandbox as ``apilog`` in a terminal would. The
terminal in the page is drawn on a canvas (xterm.js), so what the page was sent is read from
the websocket frames the browser received, and keys are typed into the page as a person would.
"""

from __future__ import annotations

import asyncio
import json
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


class Served:
    """``apilog --lang en serve`` on a free loopback port, in a session of its own."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = _env(tmp_path)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.sandbox_state = tmp_path / "data" / "apilog" / "sandbox" / "state.json"
        self.process = subprocess.Popen(
            [str(APILOG), "--lang", "en", "serve", "--port", self.url.rsplit(":", 1)[1]],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)

    def tabs(self) -> int:
        """Console processes running for browser tabs (in the server's process session)."""
        count = 0
        for entry in Path("/proc").iterdir():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) != self.process.pid:
                    continue
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if b"console.cli" in args and args[args.index(b"console.cli") + 1:] == [b"--lang", b"en", b""]:
                count += 1
        return count

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    server = Served(tmp_path)
    try:
        # On the embedded default the server starts the sandbox before it listens.
        wait_until(lambda: server.process.poll() is not None or _status(server.url + "/") == 200,
                   timeout=60, message=f"apilog serve answering on {server.url}")
        assert server.process.poll() is None, (
            server.process.stdout.read().decode() if server.process.stdout else "")
        yield server
    finally:
        server.stop()
        # Covers a server that did not get as far as stopping its sandbox.
        subprocess.run([str(APILOG), "sandbox", "stop"], env=server.env, capture_output=True,
                       check=False, timeout=60)


class Tab:
    """A browser tab on the served console, with what its websocket received as plain text."""

    def __init__(self, browser, url: str) -> None:
        self.received: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        # The page asks a public font service for its font: nothing leaves this machine.
        self.page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.page.goto(url + "/")

    def _frame(self, frame: str | bytes) -> None:
        self.received.append(frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))

    def text(self) -> str:
        return ANSI.sub("", "".join(self.received))

    def wait_for(self, wanted: str, timeout: float = 60) -> None:
        _poll_page(self.page, lambda: wanted in self.text(), timeout, repr(wanted))


@needs_chromium
def test_the_console_in_chromium_shows_the_catalogue_and_a_typed_filter_narrows_it(served, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            first = Tab(browser, served.url)
            first.wait_for("operations: 152 shown of 152")
            first.page.click(".textual-terminal")
            first.received.clear()
            first.page.keyboard.press("/")
            first.page.keyboard.type("firewall method:put action:add-record")
            first.page.keyboard.press("Enter")
            first.wait_for("operations: 1 shown of 152", timeout=30)
            assert "/security/firewall" in first.text()
            first.page.screenshot(path=str(tmp_path / "served-console.png"))

            # A second tab is a console of its own, on the same sandbox.
            second = Tab(browser, served.url)
            second.wait_for("operations: 152 shown of 152")
            second.wait_for("gateway ● up")
            assert served.tabs() == 2
            first.page.close()
            _poll_page(second.page, lambda: served.tabs() == 1, 30, "the closed tab's console to quit")
            # What the first tab's console used is still there for the second.
            assert served.sandbox_state.exists(), "closing a tab stopped the others' sandbox"
            state = json.loads(served.sandbox_state.read_text())
            assert _status(state["base_url"].rstrip("/") + "/healthz") == 200
        finally:
            browser.close()
    wait_until(lambda: served.tabs() == 0, timeout=30, message="the last tab's console to quit")
    served.stop()
    assert served.process.returncode == 0
    assert not served.sandbox_state.exists(), "the server's sandbox outlived it"


def test_serve_refuses_other_hosts_and_websockets_from_other_sites(served):
    """Without authentication, the Host and Origin checks are what keeps another web page open
    in the operator's browser (or a DNS-rebound name) from driving the console."""
    import aiohttp

    served = served.url
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
