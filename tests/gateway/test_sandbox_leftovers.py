"""The sandbox leaves nothing behind and nothing readable (issue 11, items 5 and 8).

A `kill -9` of the sandbox gateway must not leave its Kafka broker listening, and
`apilog sandbox stop` must find and stop whatever a sandbox left running. Its files are 0600 in
a 0700 directory.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.events.broker import EmbeddedBroker
from console.sandbox import _children, _port_answers
from tests.support.broker import wait_until

pytestmark = pytest.mark.slow


def _sandbox(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "sandbox", *args], env=env,
                          capture_output=True, text=True, timeout=90)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def shared_umask():
    """The umask of a shared server's default account: files 0644, directories 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_killed_sandbox_gateway_takes_its_broker_along_and_files_are_private(tmp_path, shared_umask):
    tmp_path.chmod(0o755)  # the data directory as an older release (or a umask) left it
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path)}
    started = _sandbox("start", env=env)
    state_path = tmp_path / "sandbox" / "state.json"
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads(state_path.read_text())
    gateway = state["gateway_pid"]
    brokers = _children(gateway)
    try:
        assert len(brokers) == 1 and _port_answers(state["kafka_bootstrap"])
        box = tmp_path / "sandbox"
        private = ["state.json", "client-secret", "gateway.log", "gateway-broker.log", "gateway.db",
                   "access.ndjson", "lock"]
        modes = {name: oct(stat.S_IMODE((box / name).stat().st_mode)) for name in private}
        assert modes == dict.fromkeys(private, "0o600")
        assert oct(stat.S_IMODE(box.stat().st_mode)) == oct(stat.S_IMODE(tmp_path.stat().st_mode)) == "0o700"

        os.kill(gateway, signal.SIGKILL)
        wait_until(lambda: not _port_answers(state["kafka_bootstrap"]), timeout=15,
                   message="the broker of the killed gateway to stop listening")
        stopped = _sandbox("stop", env=env)
        assert stopped.stdout.strip() == "sandbox stopped"
        assert not state_path.exists()
    finally:  # fixed or not, nothing this test started outlives it
        for pid in [gateway, *brokers]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_sandbox_stop_finds_a_broker_left_without_a_state_file(tmp_path):
    box = tmp_path / "sandbox"
    box.mkdir()
    # A broker writing to the sandbox's log, its gateway and state.json long gone: what a
    # `kill -9` left before brokers died with their gateway (or a status check then cleaned up).
    leftover = EmbeddedBroker(log_path=box / "gateway-broker.log").start()
    try:
        stopped = _sandbox("stop", env={**os.environ, "APILOG_DATA_DIR": str(tmp_path)})
        assert stopped.stdout.strip() == "sandbox stopped", stopped.stdout + stopped.stderr
        wait_until(lambda: leftover.process.poll() is not None, timeout=10,
                   message="the leftover broker to be stopped")
        assert not _port_answers(leftover.bootstrap)
        again = _sandbox("stop", env={**os.environ, "APILOG_DATA_DIR": str(tmp_path)})
        assert again.stdout.strip() == "no sandbox was running"
    finally:
        leftover.stop()
