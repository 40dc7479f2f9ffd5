"""The installed ``apilog`` in a real terminal (tmux): it paints, connects, calls, and cleans up.

No Pilot here: keys go through tmux as an operator's would, and the screen is read back with
``capture-pane``. The embedded sandbox (gateway + Tansu broker) is started by apilog itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

APILOG = Path(sys.executable).with_name("apilog")

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(not APILOG.exists(), reason=f"{APILOG} is not installed (pip install -e .)"),
]


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def tmux(self) -> list[str]:
        """tmux on a server of this test's own (no interference with anyone else's sessions)."""
        return ["tmux", "-L", self.name]

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def text(self) -> str:
        done = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout

    def wait_for(self, wanted: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if wanted in screen:
                return screen
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{wanted!r} never appeared within {timeout:.0f} s; the screen:\n{screen}"
                )
            time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path):
    name = f"apilog-e2e-{uuid.uuid4().hex[:8]}"
    env = " ".join(
        f"XDG_{kind}_HOME={tmp_path}/{kind.lower()}" for kind in ("DATA", "CONFIG", "STATE")
    )
    # COLUMNS/LINES from the test runner would override the pane size inside apilog.
    command = (
        f"env -u COLUMNS -u LINES {env} TERM=xterm-256color {APILOG} --lang en; "
        "echo APILOG-EXIT=$?; sleep 60"
    )
    terminal = Terminal(name)
    subprocess.run(
        [*terminal.tmux, "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command],
        check=True,
    )
    try:
        yield terminal
    finally:
        subprocess.run([*terminal.tmux, "kill-server"], check=False)
        # Whatever happened above, no sandbox child may outlive the test.
        subprocess.run(
            [str(APILOG), "sandbox", "stop"],
            check=False,
            capture_output=True,
            env={
                "PATH": "/usr/bin:/bin",
                "XDG_DATA_HOME": f"{tmp_path}/data",
                "XDG_CONFIG_HOME": f"{tmp_path}/config",
            },
        )


def test_installed_console_paints_connects_calls_and_stops_its_sandbox(terminal, tmp_path):
    terminal.wait_for("operations: 152 shown of 152", timeout=15)
    terminal.wait_for("gateway ● up", timeout=60)
    terminal.wait_for("kafka ● connected", timeout=30)
    terminal.keys("/", *"firewall method:put action:add-record", "Enter")
    terminal.wait_for("operations: 1 shown of 152")
    terminal.keys("Enter")
    terminal.wait_for("apilog · call")
    terminal.keys("C-s")
    screen = terminal.wait_for("201 Created", timeout=30)
    assert "committed" in screen
    terminal.wait_for("✓ kafka", timeout=30)
    terminal.keys("Escape")  # out of the body editor: the shell's keys come back to the footer
    terminal.wait_for(": jump")
    terminal.keys(":", "t", "x", "Enter")
    screen = terminal.wait_for("apilog · tx")
    terminal.wait_for("committed")
    terminal.keys("C-q")
    terminal.wait_for("APILOG-EXIT=0", timeout=30)
    assert not (tmp_path / "data" / "apilog" / "sandbox" / "state.json").exists()


def test_sigterm_quits_cleanly_and_stops_the_sandbox(terminal, tmp_path):
    """A dropped SSH session (SIGHUP) or a service manager (SIGTERM) must not orphan children."""
    import os
    import signal

    terminal.wait_for("gateway ● up", timeout=60)
    state = tmp_path / "data" / "apilog" / "sandbox" / "state.json"
    assert state.exists()
    shell = subprocess.run(
        [*terminal.tmux, "list-panes", "-t", terminal.name, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    children = subprocess.run(
        ["pgrep", "-P", shell], capture_output=True, text=True, check=True
    ).stdout.split()
    os.kill(int(children[0]), signal.SIGTERM)
    terminal.wait_for("APILOG-EXIT=0", timeout=30)
    assert not state.exists()


def test_closing_the_terminal_leaves_no_process_behind(terminal, tmp_path):
    """A dropped SSH session closes the terminal (SIGHUP): apilog and its sandbox must go."""
    import os

    terminal.wait_for("gateway ● up", timeout=60)
    shell = subprocess.run(
        [*terminal.tmux, "list-panes", "-t", terminal.name, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    apilog = int(
        subprocess.run(
            ["pgrep", "-P", shell], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    # Output in flight when the terminal goes: a call, the feed paused, another call.
    terminal.keys("Enter")
    terminal.wait_for("apilog · call")
    terminal.keys("C-s")
    terminal.wait_for("Created", timeout=30)
    terminal.keys("Escape")  # alone: ESC and ':' in one burst read as alt+':'
    terminal.wait_for("? keys")
    terminal.keys(":", "e", "v", "Enter")
    terminal.wait_for("apilog · events")
    terminal.keys("Space", ":", "c", "a", "l", "l", "Enter")
    terminal.wait_for("apilog · call")
    terminal.keys("C-s")
    terminal.wait_for("Created", timeout=30)
    subprocess.run([*terminal.tmux, "kill-session", "-t", terminal.name], check=False)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{apilog}").exists():
        if time.monotonic() > deadline:
            os.kill(apilog, 9)
            pytest.fail("apilog outlived its terminal by 30 s")
        time.sleep(0.2)
    assert not (tmp_path / "data" / "apilog" / "sandbox" / "state.json").exists()


@pytest.mark.slow
def test_the_colon_prompt_shows_what_is_typed_before_enter(terminal):
    """Issue 12: `:` showed two border lines and none of the typed text."""
    terminal.wait_for("operations: 152 shown of 152", timeout=15)
    terminal.keys(":", "t", "x")
    screen = terminal.wait_for(":tx")
    assert "apilog · catalogue" in screen  # still on the catalogue: nothing jumped yet
    assert "method" in screen  # and its table is visible under the prompt
    terminal.keys("Enter")
    terminal.wait_for("apilog · tx")
    terminal.keys(":", "q", "Enter")
    terminal.wait_for("APILOG-EXIT=0", timeout=30)
