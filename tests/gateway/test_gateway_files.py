"""What the gateway leaves on disk and in its children (issue 11, items 5 and 7).

Files holding operator activity are 0600 in 0700 directories on the shared servers this tool is
for; the broker child sees no secret of its parent; fault injection stays on loopback.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from console.cli import main
from console.gateway.cli import is_loopback
from tests.support.broker import wait_until
from tests.support.gateway import fetch_token, interrupt, restore_ctrl_c, start_gateway


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def shared_umask():
    """The umask of a shared server's default account: files 0644, directories 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_gateway_database_wal_and_access_log_are_private(tmp_path, shared_umask):
    db = tmp_path / "new" / "gateway.db"
    access = tmp_path / "logs" / "access.ndjson"
    gw = start_gateway(db_path=db, log_path=access)
    try:
        token = fetch_token(gw)
        added = httpx2.put(f"{gw.base_url}/security/firewall/config", params={"action": "add-record"},
                           json={"rule": "deny"}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert added.status_code == 201
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), access]
        assert {str(p): _mode(p) for p in files} == {str(p): "0o600" for p in files}
        assert (_mode(db.parent), _mode(access.parent)) == ("0o700", "0o700")
    finally:
        gw.server.stop()


def test_files_left_world_readable_by_an_older_release_are_tightened(tmp_path, shared_umask):
    data = Path(os.environ["XDG_DATA_HOME"]) / "apilog"
    data.mkdir(parents=True)
    old_db = data / "gateway.db"
    old_db.touch()
    old_db.chmod(0o644)
    gw = start_gateway(db_path=None)
    try:
        assert gw.db_path == old_db
        assert (_mode(old_db), _mode(data)) == ("0o600", "0o700")
    finally:
        gw.server.stop()


def test_faults_on_a_non_loopback_address_are_refused():
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: even a gateway that failed to refuse
    # could not listen there, so this test never opens a port off loopback.
    result = CliRunner().invoke(main, ["gateway", "--host", "192.0.2.1", "--port", "18080", "--faults"])
    assert result.exit_code == 2, result.output
    assert "--faults on --host 192.0.2.1" in result.output and "--faults-anywhere" in result.output


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("gateway.example", False),
])
def test_only_loopback_addresses_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_faults_anywhere_starts_with_a_warning():
    # An address this machine does not have: the warning is printed, then the port check
    # refuses, so nothing ever listens off loopback.
    result = CliRunner().invoke(main, ["gateway", "--host", "192.0.2.1", "--port", "18080", "--faults",
                                       "--faults-anywhere"])
    assert "warning: fault injection is on for every client that reaches 192.0.2.1:18080" in result.output
    assert "192.0.2.1:18080 is already in use" in result.output and result.exit_code == 1


@pytest.mark.slow
def test_the_embedded_broker_gets_no_client_secret_and_dies_with_its_gateway(tmp_path):
    secret = "sandbox-secret-never-in-the-broker-93d1"
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path), "APILOG_SANDBOX_CLIENT_SECRET": secret,
           "AWS_SECRET_ACCESS_KEY": "unrelated-credential-4411"}
    gateway = subprocess.Popen([sys.executable, "-m", "console.cli", "gateway", "--port", "0", "--embedded-kafka",
                                "--db", str(tmp_path / "g.db")], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, preexec_fn=restore_ctrl_c)
    broker = None
    try:
        lines = []
        while not any(line.lstrip().startswith("Kafka") for line in lines):
            line = gateway.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        children = Path(f"/proc/{gateway.pid}/task/{gateway.pid}/children").read_text().split()
        assert len(children) == 1, children
        broker = int(children[0])
        environ = Path(f"/proc/{broker}/environ").read_bytes()
        assert secret.encode() not in environ and b"unrelated-credential" not in environ
        assert b"APILOG_SANDBOX_CLIENT_SECRET" not in environ
        assert re.search(rb"(^|\0)RUST_LOG=", environ)
        gateway.kill()  # SIGKILL: the gateway cannot stop its broker itself
        gateway.wait(10)
        wait_until(lambda: not Path(f"/proc/{broker}").exists()
                   or Path(f"/proc/{broker}/stat").read_text().split(") ")[1].startswith("Z"),
                   timeout=10, message="the broker to die with its gateway")
    finally:
        if gateway.poll() is None:
            interrupt(gateway)
        if broker is not None and Path(f"/proc/{broker}").exists():
            os.kill(broker, 9)
