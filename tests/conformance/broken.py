"""Test-only broken gateways: the real ``create_app(settings)`` behind a tampering ASGI layer.

Each variant breaks one promise the way a faulty gateway would look from outside (a header
stripped, a status rewritten, an event lost, a rollback that keeps the write), so a test can
prove that the matching conformance check reports it. Served under uvicorn on a free loopback
port, like the real thing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

Headers = list[tuple[bytes, bytes]]
Scope = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
#: (scope, status, headers, body) -> (status, headers, body)
ResponseEdit = Callable[[Scope, int, Headers, bytes], tuple[int, Headers, bytes]]


def header(headers: Headers, name: str) -> str | None:
    wanted = name.lower().encode()
    return next((v.decode("latin-1") for k, v in headers if k.lower() == wanted), None)


def without(headers: Headers, *names: str) -> Headers:
    drop = {n.lower().encode() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in drop]


def replaced(headers: Headers, name: str, value: str) -> Headers:
    return [*without(headers, name), (name.lower().encode(), value.encode("latin-1"))]


class Tamper:
    """Rewrite the requests and/or responses that ``when`` selects.

    ``request`` edits the request headers before the real app sees them; ``response`` edits the
    buffered response (status, headers, body) before the client sees it.
    """

    def __init__(self, app: ASGIApp, *, when: Callable[[Scope], bool] = lambda scope: True,
                 request: Callable[[Headers], Headers] | None = None,
                 response: ResponseEdit | None = None) -> None:
        self.app = app
        self.when = when
        self.request = request
        self.response = response

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not self.when(scope):
            await self.app(scope, receive, send)
            return
        if self.request is not None:
            scope = {**scope, "headers": self.request(list(scope["headers"]))}
        if self.response is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = await _buffered(self.app, scope, receive)
        status, headers, body = self.response(scope, status, headers, body)
        headers = replaced(headers, "content-length", str(len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class CommitDespiteRollback:
    """A rollback that lies: the write is committed first, then the faulted replay answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or header(scope["headers"], "x-fault-after-write") is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        clean = {**scope, "headers": without(scope["headers"], "x-fault-after-write", "x-request-id")}
        await _buffered(self.app, clean, _replay(body))
        await self.app(scope, _replay(body), send)


class SlowWithoutDeadline:
    """A gateway that waits out ``X-Fault-Delay-Ms`` itself and never gives up with 504."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        delay = header(scope.get("headers", []), "x-fault-delay-ms") if scope["type"] == "http" else None
        if delay is None:
            await self.app(scope, receive, send)
            return
        await asyncio.sleep(int(delay) / 1000)
        await self.app({**scope, "headers": without(scope["headers"], "x-fault-delay-ms")}, receive, send)


class Sluggish:
    """Every request selected by ``when`` takes ``delay_s`` longer than the gateway would."""

    def __init__(self, app: ASGIApp, delay_s: float, when: Callable[[Scope], bool]) -> None:
        self.app = app
        self.delay_s = delay_s
        self.when = when

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self.when(scope):
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a real client that stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _buffered(app: ASGIApp, scope: Scope, receive: Callable) -> tuple[int, Headers, bytes]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return start["status"], list(start.get("headers", [])), b"".join(chunks)


def path_is(*fragments: str) -> Callable[[Scope], bool]:
    """Select requests whose path contains any fragment."""
    return lambda scope: any(f in scope["path"] for f in fragments)


def action_is(action: str) -> Callable[[Scope], bool]:
    return lambda scope: f"action={action}".encode() in scope.get("query_string", b"")


@contextmanager
def serve(app: ASGIApp, port: int) -> Iterator[str]:
    """Serve ``app`` under uvicorn on loopback ``port`` in a thread; yield its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"broken-gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"broken gateway did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
