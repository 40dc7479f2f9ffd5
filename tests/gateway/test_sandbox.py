"""The embedded sandbox: owned (stops with its owner) and detached (reused, stopped by command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx2
import pytest

from console.sandbox import Sandbox, _alive, _port_answers, _terminate
from tests.support.broker import wait_until

#: Starts sandbox processes (a gateway and a broker): the slow tier.
pytestmark = pytest.mark.slow


def _token(info):
    response = httpx2.post(info.token_url, data={"grant_type": "client_credentials"},
                           auth=(info.client_id, info.client_secret), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def test_owned_sandbox_serves_calls_and_events_then_stops_with_its_owner(tmp_path):
    from tests.support.gateway import collect_events

    box = Sandbox(base_dir=tmp_path)
    with box as info:
        assert info.owned
        state = json.loads(box.state_path.read_text())
        token = _token(info)
        added = httpx2.put(f"{info.base_url}/security/firewall/config", params={"action": "add-record"},
                           json={"rule": "deny all"}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert added.status_code == 201
        await collect_events(info.kafka_bootstrap, "gateway.events.firewall", [added.headers["x-event-id"]])
        assert oct(box.secret_path.stat().st_mode & 0o777) == "0o600"
        files = [*box.dir.glob("*.log"), box.dir / "access.ndjson"]
        logs = "".join(p.read_text(errors="replace") for p in files)
        assert '"route":{"name":"POST /oauth/token"' in logs  # the token call is in the access log…
        assert info.client_secret not in logs and token not in logs  # …without secret or token
        assert info.client_secret not in box.state_path.read_text()
    assert not box.state_path.exists()
    assert not _alive(state["gateway_pid"], "console.cli")
    wait_until(lambda: not _port_answers(info.kafka_bootstrap), timeout=10,
               message="the sandbox broker to stop with its gateway")


def test_owned_sandbox_stops_when_its_owner_is_killed(tmp_path):
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path)}
    code = ("import sys, time; from console.sandbox import Sandbox\n"
            "info = Sandbox().__enter__(); print(info.base_url, info.kafka_bootstrap, flush=True)\n"
            "time.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        base_url, bootstrap = owner.stdout.readline().split()
        state = json.loads((tmp_path / "sandbox" / "state.json").read_text())
        assert state["owner_pid"] == owner.pid
    finally:
        owner.kill()  # no __exit__, no cleanup code of the owner runs
        owner.wait()
    try:
        wait_until(lambda: not _alive(state["gateway_pid"], "console.cli"), timeout=20,
                   message="the gateway to notice its owner is gone")
        wait_until(lambda: not _port_answers(bootstrap), timeout=10, message="the broker to stop with it")
    finally:  # failed or not, nothing this test started outlives it
        Sandbox(base_dir=tmp_path).stop()


def test_detached_sandbox_is_reused_and_stopped_by_command(tmp_path):
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path), "APILOG_SANDBOX_CLIENT_SECRET": "fixed-secret-123"}
    run = [sys.executable, "-m", "console.cli", "sandbox"]
    started = subprocess.run([*run, "start"], env=env, capture_output=True, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "sandbox started" in started.stdout and "fixed-secret-123" not in started.stdout
        status = subprocess.run([*run, "status", "--json"], env=env, capture_output=True, text=True, timeout=30)
        assert status.returncode == 0
        described = json.loads(status.stdout)
        assert described["running"] is True and "client_secret" not in described
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("APILOG_DATA_DIR", str(tmp_path))
            info = Sandbox().ensure()  # what `apilog call` does: reuse, do not start another
        assert info.owned is False and info.base_url == described["base_url"]
        assert info.client_secret == "fixed-secret-123"
        _token(info)
        again = subprocess.run([*run, "start"], env=env, capture_output=True, text=True, timeout=60)
        assert "already running" in again.stdout
    finally:
        stopped = subprocess.run([*run, "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert "sandbox stopped" in stopped.stdout
    after = subprocess.run([*run, "status"], env=env, capture_output=True, text=True, timeout=30)
    assert after.returncode == 1 and "no sandbox" in after.stdout


def test_the_sandbox_starts_where_another_console_package_lies(tmp_path, monkeypatch):
    """Its gateway was started with ``python -m console.cli`` in the operator's directory: one
    holding a ``console`` package of its own (any project may) was imported instead, and
    ``apilog`` on the embedded default said "the sandbox gateway did not start"; a ``json.py``
    there would have shadowed the standard library's."""
    project = tmp_path / "project"
    (project / "console").mkdir(parents=True)
    (project / "console" / "__init__.py").write_text('raise SystemExit("the wrong console")\n')
    (project / "json.py").write_text('raise SystemExit("the wrong json")\n')
    monkeypatch.chdir(project)
    box = Sandbox(base_dir=tmp_path / "data")
    with box as info:
        assert httpx2.get(f"{info.base_url}/healthz", timeout=10).status_code == 200


def test_stale_state_is_cleaned_up_not_trusted(tmp_path):
    box = Sandbox(base_dir=tmp_path)
    box.dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    box.state_path.write_text(json.dumps({
        "base_url": "http://127.0.0.1:9", "token_url": "", "jwks_url": "", "kafka_bootstrap": "127.0.0.1:9",
        "client_id": "x", "gateway_pid": dead.pid, "broker_pid": dead.pid}))
    assert box.status() is None
    assert not box.state_path.exists()
    assert box.stop() is False


def test_two_processes_starting_at_once_share_one_sandbox(tmp_path):
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path)}
    code = "from console.sandbox import Sandbox; print(Sandbox().ensure().base_url)"
    try:
        racers = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
                  for _ in range(2)]
        urls = {racer.communicate(timeout=60)[0].strip() for racer in racers}
        assert len(urls) == 1 and next(iter(urls)).startswith("http://127.0.0.1:")
    finally:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("APILOG_DATA_DIR", str(tmp_path))
            Sandbox().stop()


def test_a_gateway_that_ignores_sigterm_is_killed_with_its_broker(tmp_path):
    """A stopped (hung) gateway cannot stop its broker on SIGTERM: stopping kills both."""
    import signal

    box = Sandbox(base_dir=tmp_path)
    info = box.ensure()
    pid = json.loads(box.state_path.read_text())["gateway_pid"]
    try:
        os.kill(pid, signal.SIGSTOP)
        _terminate(pid, "console.cli", timeout=0.5)
        assert not _alive(pid, "console.cli")
        wait_until(lambda: not _port_answers(info.kafka_bootstrap), timeout=10,
                   message="the broker of the killed gateway to be gone")
    finally:
        box.stop()
