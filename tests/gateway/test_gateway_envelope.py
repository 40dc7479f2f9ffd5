"""The envelope's promises that need a handler to misbehave: never a traceback, always a record."""

from __future__ import annotations

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from console.gateway.accesslog import AccessLog, Exchange
from console.gateway.envelope import Envelope
from console.gateway.problems import Problem


def _app(log: AccessLog) -> Starlette:
    async def boom(request):
        raise RuntimeError("secret internals that must not leak")

    async def refuse(request):
        raise Problem(418, "Teapot", "short and stout")

    return Starlette(routes=[Route("/boom", boom), Route("/refuse", refuse)],
                     middleware=[Middleware(Envelope, access_log=log)])


async def test_unhandled_exception_is_a_500_problem_and_logged_as_error():
    log = AccessLog()
    transport = httpx2.ASGITransport(app=_app(log), raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get("/boom", headers={"Accept": "application/xml"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+xml"
    assert b"secret internals" not in response.content and b"Traceback" not in response.content
    request_id = response.headers["x-request-id"]
    assert request_id.encode() in response.content
    assert log.get(request_id)["outcome"] == "error"


async def test_problem_keeps_its_status_and_is_logged_as_rejected():
    log = AccessLog()
    transport = httpx2.ASGITransport(app=_app(log))
    async with httpx2.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get("/refuse", headers={"X-Request-Id": "abc-1"})
    assert response.status_code == 418 and response.json()["detail"] == "short and stout"
    assert response.headers["x-client-request-id"] == "abc-1"
    record = log.get(response.headers["x-request-id"])
    assert record["client_request_id"] == "abc-1"
    assert record["outcome"] == "rejected" and record["problem"]["title"] == "Teapot"


async def test_unsafe_request_id_is_replaced():
    log = AccessLog()
    transport = httpx2.ASGITransport(app=_app(log))
    async with httpx2.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get("/refuse", headers={"X-Request-Id": "<script>" + "x" * 300})
    assert "<" not in response.headers["x-request-id"] and len(response.headers["x-request-id"]) == 36
    assert "x-client-request-id" not in response.headers


async def test_records_are_appended_to_the_ndjson_file(tmp_path):
    import json

    log = AccessLog(path=tmp_path / "access.ndjson")
    transport = httpx2.ASGITransport(app=_app(log))
    async with httpx2.AsyncClient(transport=transport, base_url="http://gw") as client:
        for n in range(3):
            await client.get("/refuse", headers={"X-Request-Id": f"file-{n}"})
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "access.ndjson").read_text().splitlines()]
    assert [r["client_request_id"] for r in lines] == ["file-0", "file-1", "file-2"]


def _exchange(request_id: str) -> Exchange:
    return Exchange(request_id=request_id, trace_id="a" * 32, traceparent=f"00-{'a' * 32}-{'b' * 16}-01",
                    started_at=1_700_000_000.0, t0=100.0, method="PUT", path="/customer/update",
                    query="action=add-record&token=s3cret", client_ip="127.0.0.1",
                    request_headers=[("content-length", "8"), ("authorization", "Bearer s3cret")],
                    headers={"content-length": "8", "authorization": "Bearer s3cret"},
                    route="PUT /customer/update add-record", client_id="apilog-sandbox",
                    request_body=b'{"a": 1}', action_ms=2.5)


def test_a_record_built_when_first_asked_for_is_the_one_built_at_once():
    expected = AccessLog(secrets=("s3cret",)).build(_exchange("r1"), 201, [], None, 99, 100.012, 1_700_000_001.0)
    log = AccessLog(secrets=("s3cret",), capacity=2)
    kept = _exchange("r1")
    log.record(kept, 201, [], None, 99, 100.012, 1_700_000_001.0)
    assert kept.request_body is None and not kept.request_headers  # not held until asked for
    assert log.get("r1") == expected
    assert expected["request"]["size"] == 8 and "s3cret" not in str(expected)
    for request_id in ("r2", "r3"):
        log.record(_exchange(request_id), 201, [], None, 99, 100.012, 1_700_000_001.0)
    assert log.get("r1") is None and log.get("r3")["request_id"] == "r3" and len(log) == 2


@pytest.mark.slow  # two embedded gateways, an RSA key each
def test_gateways_tune_the_collector_while_they_serve_and_the_last_one_restores_it(tmp_path):
    import gc

    from console.gateway.app import GC_THRESHOLDS
    from console.gateway.server import GatewayServer
    from console.gateway.settings import GatewaySettings

    before = gc.get_threshold()
    first = GatewayServer(GatewaySettings(port=0, db_path=tmp_path / "a.db", client_secret="s")).start()
    second = GatewayServer(GatewaySettings(port=0, db_path=tmp_path / "b.db", client_secret="s")).start()
    try:
        assert gc.get_threshold() == GC_THRESHOLDS
        first.stop()
        assert gc.get_threshold() == GC_THRESHOLDS  # the second still serves
    finally:
        first.stop()
        second.stop()
    assert gc.get_threshold() == before
