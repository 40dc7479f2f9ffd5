"""Gateway fixtures: a real gateway under uvicorn on a free loopback port, with a real broker.

- ``gateway`` (session): faults on, the session's Tansu broker, a fixed test client.
- ``gateway_factory`` (function): ``gateway_factory(**settings_overrides)`` starts another one
  (a small catalogue from :func:`make_catalogue`, faults off, ``kafka_bootstrap=None`` …) and
  stops it after the test.
- ``gateway_token``: ``gateway_token(gw, scopes=None)`` fetches an access token over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TEST_CLIENT_ID = "apilog-test-client"
TEST_CLIENT_SECRET = "test-secret-7f3c9a1e5b"


@dataclass
class RunningGateway:
    """What a test needs to talk to a started gateway."""

    base_url: str
    token_url: str
    jwks_url: str
    client_id: str
    client_secret: str
    kafka_bootstrap: str | None
    db_path: Path
    settings: Any
    server: Any

    @property
    def catalogue(self) -> Any:
        """The catalogue this gateway serves."""
        return self.settings.load_catalogue()

    @property
    def gateway(self) -> Any:
        """The in-process :class:`console.gateway.app.Gateway` (store, relay, access log)."""
        return self.server.gateway


def start_gateway(**overrides: Any) -> RunningGateway:
    """Start a :class:`GatewayServer` on a free port with the test client and ``overrides``."""
    from console.gateway.server import GatewayServer
    from console.gateway.settings import GatewaySettings

    values: dict[str, Any] = {"port": 0, "faults": True, "client_id": TEST_CLIENT_ID,
                              "client_secret": TEST_CLIENT_SECRET, "token_ttl_s": 600}
    values.update(overrides)
    server = GatewayServer(GatewaySettings(**values)).start()
    s = server.settings
    return RunningGateway(s.base_url, s.token_url, s.jwks_url, s.client_id, s.client_secret,
                          s.kafka_bootstrap, s.db_path, s, server)


def fetch_token(gw: RunningGateway, scopes: Iterable[str] | None = None,
                client_id: str | None = None, client_secret: str | None = None) -> str:
    """An access token from ``gw``'s token endpoint (HTTP Basic client auth); every scope the
    gateway knows by default, ``gateway:admin`` included (which a request without scope lacks)."""
    import httpx2

    form = {"grant_type": "client_credentials",
            "scope": " ".join(gw.gateway.scopes if scopes is None else scopes)}
    auth = (client_id or gw.client_id, client_secret or gw.client_secret)
    response = httpx2.post(gw.token_url, data=form, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def restore_ctrl_c() -> None:
    """``preexec_fn`` for a child a test will stop with SIGINT, as an operator's Ctrl-C would.

    A test run started in the background (``pytest &``, CI runners) ignores SIGINT, and a
    child inherits that; Python then installs no KeyboardInterrupt handler and the signal
    would do nothing. Back to the default, the child reacts as it does in a terminal.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(process: Any, timeout: float = 20.0) -> int:
    """Send SIGINT and return the exit code; a child that does not stop in time is killed (and
    the test fails) rather than left running after the test."""
    import signal
    import subprocess

    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def make_catalogue(operations: Sequence[tuple[str, str, str, Sequence[Any]]], title: str = "test") -> Any:
    """A catalogue of ``(path, method, action, [Contract, …])`` operations, one row per contract.

    ``make_catalogue([("/customer/update", "POST", "add-record", [Contract("rate-limit",
    {"limit": 5, "window_s": 60})])])`` gives one operation limited to 5 calls a minute.
    """
    from console.catalogue import Catalogue, Contract, Row

    rows = []
    for path, method, action, contracts in operations:
        for contract in contracts or [Contract("api-gateway")]:
            rows.append(Row(len(rows) + 1, 1, path, method, action, contract, contract))
    return Catalogue(rows=rows, source="tests", title=title)


@pytest.fixture(scope="session")
def gateway(kafka_broker, tmp_path_factory) -> Iterator[RunningGateway]:
    """The session's gateway: shipped catalogue, faults on, the session broker."""
    db = tmp_path_factory.mktemp("gateway") / "gateway.db"
    gw = start_gateway(db_path=db, kafka_bootstrap=kafka_broker.bootstrap, outbox_poll_s=0.2)
    yield gw
    gw.server.stop()


@pytest.fixture
def gateway_factory(tmp_path) -> Iterator[Callable[..., RunningGateway]]:
    """Start extra gateways with settings overrides; all are stopped after the test."""
    started: list[RunningGateway] = []

    def start(**overrides: Any) -> RunningGateway:
        overrides.setdefault("db_path", tmp_path / f"gateway-{len(started)}.db")
        overrides.setdefault("kafka_bootstrap", None)
        gw = start_gateway(**overrides)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.server.stop()


@pytest.fixture
def gateway_token() -> Callable[..., str]:
    """``gateway_token(gw, scopes=None)``: a fresh access token for the test client."""
    return fetch_token


async def collect_events(bootstrap: str, topic: str, event_ids: Iterable[str],
                         timeout: float = 20.0) -> dict[str, Any]:
    """Read ``topic`` from the start until every id in ``event_ids`` (``ce_id``) was seen.

    Returns ``{event_id: ConsumerRecord}`` for every event read (not only the wanted ones);
    fails the test at the deadline naming the ids still missing. No consumer group (fast).
    """
    import asyncio
    import time

    from aiokafka import AIOKafkaConsumer

    wanted = set(event_ids)
    found: dict[str, Any] = {}
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                metadata_max_age_ms=500)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while not wanted <= found.keys():
            if time.monotonic() > deadline:
                pytest.fail(f"events never reached {topic}: {sorted(wanted - found.keys())}")
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    found[headers.get("ce_id", "")] = record
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


def outbox_pending(db_path: Path) -> int:
    """Rows of the gateway's outbox not yet delivered to Kafka (read from its SQLite file)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
