"""Fixtures for the conformance tests: the real gateway app, optionally broken, on a free port.

``broken_gateway(catalogue, wrap=…, faults=…, kafka=…)`` builds ``create_app(settings)`` for a
small catalogue, wraps it in a tampering layer from :mod:`tests.conformance.broken` (or not),
serves it under uvicorn and returns a :class:`Target`. ``check(target, …)`` runs the
conformance checks against it and returns the verdicts by (path, method, action, contract).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.catalogue import Catalogue, Contract
from tests.conformance.broken import serve
from tests.support.gateway import TEST_CLIENT_ID, TEST_CLIENT_SECRET, make_catalogue

PATH = "/customer/update"

#: One operation per contract family on one path that leaves PATCH unserved (the 405 probe).
FAMILY_OPERATIONS = [
    (PATH, "POST", "add-record", [
        Contract("rollback-on-error"), Contract("kafka-event"), Contract("retry", {"max_retries": 3}),
        Contract("restful"), Contract("json-xml"), Contract("versioning", {"versions": ["v1", "v2"]}),
        Contract("api-gateway"), Contract("full-log"), Contract("latency-sla", {"max_ms": 1000}),
    ]),
    (PATH, "GET", "check-status", [
        Contract("kafka-event"), Contract("json-xml"), Contract("restful"),
        Contract("versioning", {"versions": ["v1", "v2"]}),
    ]),
    (PATH, "DELETE", "delete-info", [Contract("rollback-on-error"), Contract("restful"),
                                     Contract("retry", {"max_retries": 2})]),
    (PATH, "PUT", "update-config", [Contract("rollback-on-error"), Contract("retry", {"max_retries": 3}),
                                    Contract("json-xml")]),
    (PATH, "POST", "export-data", [Contract("full-log"), Contract("api-gateway")]),
    (PATH, "GET", "export-data", [Contract("rate-limit", {"limit": 10, "window_s": 60})]),
]


def family_catalogue() -> Catalogue:
    return make_catalogue(FAMILY_OPERATIONS, title="conformance families")


@dataclass
class Target:
    """A served gateway, as a profile would name it."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    kafka_bootstrap: str | None
    catalogue: Catalogue
    app: Any

    def profile(self) -> Any:
        from console.config import Profile

        return Profile(name="conformance-test", base_url=self.base_url, token_url=self.token_url,
                       client_id=self.client_id, client_secret=self.client_secret,
                       kafka_bootstrap=self.kafka_bootstrap)

    def token(self, scope: str | None = None) -> str:
        import httpx2

        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = httpx2.post(self.token_url, data=form, auth=(self.client_id, self.client_secret))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@pytest.fixture
def broken_gateway(tmp_path: Path, kafka_broker: Any) -> Iterator[Callable[..., Target]]:
    """Start gateways (real app, optional tampering layer); all stop after the test."""
    from console.events.broker import free_port
    from console.gateway.app import create_app
    from console.gateway.settings import GatewaySettings

    stack = ExitStack()

    def start(catalogue: Catalogue | None = None, wrap: Callable[[Any], Any] = lambda app: app, *,
              faults: bool = True, kafka: bool = True, **overrides: Any) -> Target:
        port = free_port()
        settings = GatewaySettings(
            catalogue=catalogue or family_catalogue(), port=port, faults=faults,
            client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET, token_ttl_s=600,
            kafka_bootstrap=kafka_broker.bootstrap if kafka else None,
            db_path=tmp_path / f"gateway-{port}.db", outbox_poll_s=0.1, **overrides).resolved()
        app = create_app(settings)
        base_url = stack.enter_context(serve(wrap(app), port))
        # The console always reads the broker, even when this gateway publishes nothing to it.
        return Target(base_url, f"{base_url}/oauth/token", TEST_CLIENT_ID, TEST_CLIENT_SECRET,
                      kafka_broker.bootstrap, settings.load_catalogue(), app)

    yield start
    stack.close()


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., Any]:
    """``await check(target, contracts=[…], operations=[…])`` → {(path, method, action, contract): Verdict}."""
    from console.session import Session

    async def run(target: Target, *, contracts: list[str] | None = None,
                  operations: list[tuple[str, str, str]] | None = None, allow_load: bool = True,
                  thorough: bool = False, event_deadline_s: float = 10.0) -> dict[tuple[str, str, str, str], Any]:
        session = Session(target.profile(), target.catalogue, origin="check",
                          log_path=tmp_path / "transactions.db")
        async with session:
            verdicts = await session.check(contracts=contracts, operations=operations,
                                           allow_writes=True, allow_load=allow_load,
                                           thorough=thorough, event_deadline_s=event_deadline_s)
        return {v.key: v for v in verdicts}

    return run
