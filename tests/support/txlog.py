"""Transaction-log and caller fixtures: owned by the caller work.

``mini_gateway`` is a tiny real HTTP server (Starlette under uvicorn on a free loopback port)
that speaks just enough of contracts.md — the token endpoint, Bearer checks, and the fault
headers ``X-Fault-Fail-Attempts``, ``X-Fault-Abort``, ``X-Fault-After-Write``,
``X-Fault-Delay-Ms`` — for testing the caller's policy without the reference gateway.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.catalogue.model import Catalogue, Contract, Row
from console.events.broker import free_port

CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cret-Xq9-client-secret-value"


@dataclass
class MiniGateway:
    base_url: str
    token_url: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    expires_in: int = 3600
    tokens: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    seen_keys: dict[str, int] = field(default_factory=dict)
    token_forms: list[dict[str, str]] = field(default_factory=list)

    def revoke_all(self) -> None:
        self.revoked.update(self.tokens)


def mini_gateway_app(gw: MiniGateway) -> Any:
    import base64

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def token(request: Request) -> Response:
        from urllib.parse import parse_qsl

        gw.token_forms.append(dict(parse_qsl((await request.body()).decode())))
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{gw.client_id}:{gw.client_secret}".encode()).decode()
        if auth != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401,
                                headers={"WWW-Authenticate": 'Basic realm="mini"'})
        value = "tok-" + secrets.token_urlsafe(24)
        gw.tokens.append(value)
        return JSONResponse({"access_token": value, "token_type": "Bearer",
                             "expires_in": gw.expires_in}, headers={"Cache-Control": "no-store"})

    async def operation(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        gw.requests.append({"method": request.method, "path": request.url.path,
                            "query": dict(request.query_params), "headers": headers,
                            "body": body.decode("utf-8", "replace")})
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in gw.tokens or bearer in gw.revoked:
            return JSONResponse({"title": "invalid token"}, 401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        common = {"X-Request-Id": headers.get("x-request-id", ""), "Server-Timing": "total;dur=1"}
        delay = int(headers.get("x-fault-delay-ms", "0"))
        if delay:
            await asyncio.sleep(delay / 1000)
        key = headers.get("idempotency-key") or headers.get("x-request-id", "")
        gw.seen_keys[key] = gw.seen_keys.get(key, 0) + 1
        if gw.seen_keys[key] <= int(headers.get("x-fault-fail-attempts", "0")):
            return JSONResponse({"title": "transient"}, 503, headers={**common, "Retry-After": "0"})
        if "x-fault-abort" in headers:
            status = int(headers["x-fault-abort"])
            extra = {"Retry-After": headers.get("x-test-retry-after", "0")} if status == 429 else {}
            return JSONResponse({"title": "aborted", "status": status}, status,
                                headers={**common, **extra}, media_type="application/problem+json")
        if headers.get("x-fault-after-write") == "true":
            return JSONResponse({"title": "fault after write", "rolled_back": True,
                                 "transaction_id": "gw-1"}, 500, headers=common,
                                media_type="application/problem+json")
        if request.method in ("GET", "DELETE"):
            return JSONResponse({"status": "ok"}, headers=common)
        record = {"id": str(len(gw.records) + 1), "body": body.decode("utf-8", "replace")}
        gw.records.append(record)
        event_id = f"evt-{record['id']}"
        return JSONResponse({"data": record, "echo_secret": "none"}, 201,
                            headers={**common, "X-Event-Id": event_id,
                                     "Location": f"{request.url.path}?id={record['id']}"})

    return Starlette(routes=[Route("/oauth/token", token, methods=["POST"]),
                             Route("/{rest:path}", operation,
                                   methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port in a thread, stopped on exit."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        from tests.support.broker import wait_until

        self.thread.start()
        wait_until(lambda: self.server.started, timeout=10, message="uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def mini_gateway() -> Iterator[MiniGateway]:
    """A small real HTTP server with the token endpoint and the fault headers."""
    gw = MiniGateway(base_url="", token_url="")
    with ServerThread(mini_gateway_app(gw)) as server:
        gw.base_url = f"http://127.0.0.1:{server.port}"
        gw.token_url = f"{gw.base_url}/oauth/token"
        yield gw


def small_catalogue(path: str = "/customer/update", *, limit: int = 1000, max_retries: int = 3,
                    max_ms: int = 1000) -> Catalogue:
    """Operations on one path: POST add-record with retry + rate limit, GET check-status with the
    SLA, DELETE delete-info with rollback only, PATCH update-config with retry."""
    rate = Contract("rate-limit", {"limit": limit, "window_s": 60})
    rows = [
        Row(1, 1, path, "POST", "add-record", Contract("retry", {"max_retries": max_retries}), rate),
        Row(2, 1, path, "GET", "check-status", Contract("latency-sla", {"max_ms": max_ms}),
            Contract("json-xml")),
        Row(3, 1, path, "DELETE", "delete-info", Contract("rollback-on-error"), Contract("restful")),
        Row(4, 1, path, "PATCH", "update-config", Contract("retry", {"max_retries": max_retries}),
            Contract("json-xml")),
        Row(5, 1, path, "GET", "export-data", Contract("retry", {"max_retries": max_retries}),
            Contract("restful")),
    ]
    return Catalogue(rows=rows, source="test")


@pytest.fixture
def txlog(tmp_path):
    """A fresh transaction log file."""
    from console.txlog import TransactionLog

    log = TransactionLog(tmp_path / "transactions.db")
    yield log
    log.close()


@pytest.fixture
def mini_profile(mini_gateway):
    from console.config import Profile

    return Profile(name="mini", base_url=mini_gateway.base_url, token_url=mini_gateway.token_url,
                   client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


class SmallDisk:
    """A real tmpfs of ``size`` mounted at ``root``, that a test can fill to the last byte."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        """Write until the disk refuses (ENOSPC): nothing more fits anywhere on it."""
        import errno

        with open(self.filler, "ab", buffering=0) as out:
            for chunk in (65536, 4096, 512, 1):
                try:
                    while True:
                        out.write(b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[SmallDisk]:
    """A 2 MiB tmpfs (needs root and mount(8); skipped where mounting is not permitted)."""
    import shutil
    import subprocess

    root = tmp_path / "small-disk"
    root.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("mount(8) is not installed")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(root)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run([shutil.which("umount") or "umount", "-l", str(root)], check=True)


def db_bytes(path) -> bytes:
    """Every byte SQLite keeps for the log: the file, its WAL and shared memory."""
    data = b""
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            data += candidate.read_bytes()
    return data


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "MiniGateway", "ServerThread", "SmallDisk", "db_bytes",
           "mini_gateway_app", "small_catalogue"]
