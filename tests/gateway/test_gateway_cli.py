"""``apilog gateway`` as an operator runs it: a real process, a real port, a clean stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx2

from tests.support.broker import wait_until
from tests.support.gateway import interrupt, restore_ctrl_c


def _apilog(*args, env=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "console.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=restore_ctrl_c,
                            **kwargs)


def _answers(url: str) -> bool:
    try:
        return httpx2.get(url, timeout=2).status_code == 200
    except httpx2.ConnectError:  # printed its banner, still binding the port
        return False


def test_gateway_command_prints_where_to_reach_it_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "APILOG_DATA_DIR": str(tmp_path)}
    process = _apilog("gateway", "--port", "0", "--embedded-kafka", "--faults", "--db", str(tmp_path / "g.db"), env=env)
    try:
        lines = []
        while not any(line.lstrip().startswith("topics") for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        base_url = re.search(r"apilog gateway on (http://\S+)", text).group(1)
        assert f"token URL      {base_url}/oauth/token" in text
        assert f"JWKS URL       {base_url}/.well-known/jwks.json" in text
        assert "client id      apilog-sandbox" in text
        secret_file = tmp_path / "gateway-secret"
        assert f"saved to {secret_file}" in text
        secret = secret_file.read_text().strip()
        assert secret not in text
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        assert "gateway.events.customer" in text
        bootstrap = re.search(r"Kafka\s+(\S+)", text).group(1)
        wait_until(lambda: _answers(f"{base_url}/healthz"), message="the gateway to answer /healthz")
        token = httpx2.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("apilog-sandbox", secret), timeout=5)
        assert token.status_code == 200
    finally:
        assert interrupt(process, 15) == 0
    from console.events.broker import _kafka_answers

    host, port = bootstrap.split(":")
    wait_until(lambda: not _kafka_answers(host, int(port), 0.2), timeout=5,
               message="the embedded broker to stop with the gateway")


def test_bad_catalogue_is_one_clear_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,catalogue\n1,2\n")
    process = _apilog("gateway", "--catalogue", str(bad), "--port", "0",
                      env={**os.environ, "APILOG_DATA_DIR": str(tmp_path)})
    out, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "Traceback" not in out and "bad.csv" in out


def test_kafka_and_embedded_kafka_are_exclusive(tmp_path):
    process = _apilog("gateway", "--kafka", "127.0.0.1:9", "--embedded-kafka",
                      env={**os.environ, "APILOG_DATA_DIR": str(tmp_path)})
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2 and "not both" in out


def test_port_in_use_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _apilog("gateway", "--port", str(port), env={**os.environ, "APILOG_DATA_DIR": str(tmp_path)})
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in out and "Traceback" not in out
