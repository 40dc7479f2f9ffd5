"""``apilog call`` with no profile starts (or reuses) the detached sandbox and calls it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Starts sandbox processes (a gateway and a broker): the slow tier.
pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    yield path
    from console.sandbox import Sandbox

    Sandbox(base_dir=path).stop()


def test_call_without_profile_uses_the_sandbox_and_reuses_it(data_dir):
    env = {**os.environ, "APILOG_DATA_DIR": str(data_dir)}
    for name in ("APILOG_PROFILE", "APILOG_BASE_URL", "APILOG_CLIENT_SECRET"):
        env.pop(name, None)
    command = [sys.executable, "-m", "console.cli", "call", "/customer/update", "PATCH",
               "add-record", "--body", '{"name": "An"}', "--json"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr + first.stdout
    data = json.loads(first.stdout)
    assert data["outcome"] == "committed" and data["status"] == 201 and data["event_id"]
    state = json.loads((data_dir / "sandbox" / "state.json").read_text())
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads((data_dir / "sandbox" / "state.json").read_text()) == state, "reused"
    listed = subprocess.run([sys.executable, "-m", "console.cli", "log", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert len(listed.stdout.splitlines()) == 2
    secret = (data_dir / "sandbox" / "client-secret").read_text().strip()
    db = b"".join(p.read_bytes() for p in data_dir.glob("transactions.db*"))
    assert secret and secret.encode() not in db
