"""``apilog events`` with a secured profile against a real broker: a real TLS handshake (a CA
made here), and a real SASL SCRAM exchange the broker refuses (tests/support/secure_kafka.py
says why Tansu cannot accept a login; docs/events.md, "Secured Kafka").

A refusal must be one line naming what to fix, at once, without the feed retrying it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.events.conftest import binary_event
from tests.support.secure_kafka import make_pki

APILOG = str(Path(sys.executable).with_name("apilog"))
PASSWORD = "not-the-password-4711"

pytestmark = pytest.mark.slow


def write_profile(tmp_path: Path, bootstrap: str, kafka: dict[str, str]) -> dict[str, str]:
    """A config file with profile ``secured``; the environment that uses it."""
    folder = tmp_path / "config" / "apilog"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[profiles.secured]', f'kafka_bootstrap = "{bootstrap}"', '',
             '[profiles.secured.kafka]', *(f'{key} = "{value}"' for key, value in kafka.items())]
    (folder / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APILOG_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"), KAFKA_PASSWORD=PASSWORD)
    return env


def apilog_events(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APILOG, "events", "--profile", "secured", "--no-link", "--timeout", "30",
                           *args], env=env, capture_output=True, text=True, timeout=90)


async def produce_over_tls(bootstrap: str, ca_file: Path, topic: str, event_id: str) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL",
                                ssl_context=create_ssl_context(cafile=str(ca_file)))
    await producer.start()
    try:
        record = binary_event(event_id, subject="over-tls")
        await producer.send_and_wait(topic, record["value"], key=record.get("key"),
                                     headers=record["headers"])
    finally:
        await producer.stop()


def test_events_are_read_over_tls_with_the_profiles_ca(tls_kafka, pki, tmp_path):
    topic = f"secured-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce_over_tls(tls_kafka.bootstrap, pki.ca_file, topic, "tls-1"))
    env = write_profile(tmp_path, tls_kafka.bootstrap,
                        {"security_protocol": "SSL", "ssl_cafile": str(pki.ca_file)})
    done = apilog_events(env, "--from", "earliest", "--topic", topic)
    assert done.returncode == 0, done.stderr
    assert f"{topic}[" in done.stdout and "subject=over-tls  id=tls-1" in done.stdout
    assert tls_kafka.terminator is not None and tls_kafka.terminator.handshakes >= 1


def test_a_certificate_from_another_ca_is_one_line_at_once(tls_kafka, tmp_path):
    stranger = make_pki(tmp_path / "stranger", "someone else's CA")
    env = write_profile(tmp_path, tls_kafka.bootstrap,
                        {"security_protocol": "SSL", "ssl_cafile": str(stranger.ca_file)})
    done = apilog_events(env, "--from", "earliest")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: Kafka TLS certificate not trusted at {tls_kafka.bootstrap} (unable to get local "
        "issuer certificate): set the profile's kafka ssl_cafile to the CA that signed the "
        "broker's certificate"]
    # The client's own attempt and the one that named the cause: no retry loop.
    assert tls_kafka.terminator is not None and tls_kafka.terminator.connections <= 3


def test_a_refused_scram_login_is_one_line_at_once_without_the_password(sasl_kafka, pki, tmp_path):
    env = write_profile(tmp_path, sasl_kafka.bootstrap, {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "username": "ops",
        "password_env": "KAFKA_PASSWORD", "ssl_cafile": str(pki.ca_file)})
    done = apilog_events(env, "--from", "earliest")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: Kafka SASL login refused for user 'ops' (SCRAM-SHA-512) at {sasl_kafka.bootstrap}: "
        "check the profile's kafka username and the password in its password_env variable"]
    assert PASSWORD not in done.stdout + done.stderr
    assert sasl_kafka.terminator is not None and sasl_kafka.terminator.handshakes >= 1
    assert sasl_kafka.terminator.connections <= 3


def test_mutual_tls_with_the_profiles_client_certificate(mtls_kafka, pki, tmp_path):
    topic = f"mtls-{uuid.uuid4().hex[:8]}"
    env = write_profile(tmp_path, mtls_kafka.bootstrap, {
        "security_protocol": "SSL", "ssl_cafile": str(pki.ca_file),
        "ssl_certfile": str(pki.client_cert_file), "ssl_keyfile": str(pki.client_key_file)})
    done = apilog_events(env, "--from", "earliest", "--topic", topic)
    assert done.returncode == 0, done.stderr
    assert mtls_kafka.terminator is not None and mtls_kafka.terminator.handshakes >= 1

