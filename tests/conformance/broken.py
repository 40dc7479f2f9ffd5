"""Test-only broken gateways: the real ``create_app(settings)`` behind a tampering ASGI layer.

Each variant breaks one promise the way a faulty gateway would look from outside (a header
stripped, a status rewritten, an event lost, a rollback that keeps the write), so a test can
prove that the matching conformance check reports it. Served under uvicorn on a free loopback
port, like the real thing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
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


class _FaultedWrites:
    """Passes every request through except those asking for ``X-Fault-After-Write``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or header(scope["headers"], "x-fault-after-write") is None:
            await self.app(scope, receive, send)
            return
        await self.faulted(scope, receive, send)

    async def faulted(self, scope: Scope, receive: Callable, send: Callable) -> None:
        raise NotImplementedError

    @staticmethod
    def unfaulted(headers: Headers) -> Headers:
        """The request's headers without the fault, under a fresh idempotency key."""
        clean = without(headers, "x-fault-after-write")
        if header(clean, "idempotency-key"):
            clean = replaced(clean, "idempotency-key", f'"broken-{uuid.uuid4()}"')
        return clean


class CommitDespiteRollback(_FaultedWrites):
    """A rollback that lies: the write is committed, then the rolled-back problem is answered."""

    async def faulted(self, scope: Scope, receive: Callable, send: Callable) -> None:
        await _buffered(self.app, {**scope, "headers": self.unfaulted(scope["headers"])}, receive)
        body = json.dumps({"type": "about:blank", "title": "Rolled back", "status": 500,
                           "rolled_back": True, "transaction_id": str(uuid.uuid4())}).encode()
        await send({"type": "http.response.start", "status": 500, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class EventDespiteRollback(_FaultedWrites):
    """A rollback that still publishes: the faulted add is rolled back as it should be, but an
    event carrying the call's trace goes out (a committed add of a ghost record, sent with the
    call's ``traceparent``)."""

    async def faulted(self, scope: Scope, receive: Callable, send: Callable) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = json.loads(body)
        ghost = json.dumps({**record, "id": f"{record['id']}-ghost"}).encode()
        clean = replaced(self.unfaulted(scope["headers"]), "content-length", str(len(ghost)))
        await _buffered(self.app, {**scope, "headers": clean}, _once(ghost))
        await self.app(scope, _once(body), send)


def _once(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` that hands over ``body`` in one message."""
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


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


class SwapTrace:
    """The gateway sees (and puts in its events) another trace than the caller's; the response
    still echoes the caller's ``traceparent``, so only the event gives it away."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        original = header(scope.get("headers", []), "traceparent") if scope["type"] == "http" else None
        if original is None:
            await self.app(scope, receive, send)
            return
        other = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        scope = {**scope, "headers": replaced(scope["headers"], "traceparent", other)}

        async def restore(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": replaced(list(message["headers"]), "traceparent", original)}
            await send(message)

        await self.app(scope, receive, restore)


class RunsDespiteFailing:
    """``X-Fault-Fail-Attempts`` done wrong: every attempt runs the action, the first k still
    answer 503, so a retried call takes effect more than once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.attempts: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        headers = scope.get("headers", []) if scope["type"] == "http" else []
        wanted = header(headers, "x-fault-fail-attempts")
        if wanted is None:
            await self.app(scope, receive, send)
            return
        key = header(headers, "idempotency-key") or header(headers, "x-request-id") or ""
        self.attempts[key] = attempt = self.attempts.get(key, 0) + 1
        clean = without(headers, "x-fault-fail-attempts")
        if header(headers, "idempotency-key"):  # a key per attempt, so nothing is replayed
            clean = replaced(clean, "idempotency-key", f'"broken-{uuid.uuid4()}"')
        if attempt > int(wanted):
            await self.app({**scope, "headers": clean}, receive, send)
            return
        await _buffered(self.app, {**scope, "headers": clean}, receive)
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/problem+json"), (b"retry-after", b"0")]})
        await send({"type": "http.response.body", "body": b'{"status": 503, "title": "Unavailable"}'})


class LeakyLog:
    """An access log that keeps the caller's Authorization header: remembered per request id
    and put back into the record the admin endpoint returns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.authorization: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/admin/log/"):
            await Tamper(self.app, response=self._leak)(scope, receive, send)
            return
        authorization = header(scope["headers"], "authorization")

        async def remember(message: dict[str, Any]) -> None:
            # Keyed by the gateway's own request id, the one its admin endpoint is asked for.
            if message["type"] == "http.response.start" and authorization:
                request_id = header(message.get("headers", []), "x-request-id")
                if request_id:
                    self.authorization[request_id] = authorization
            await send(message)

        await self.app(scope, receive, remember)

    def _leak(self, scope: Scope, status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status != 200:
            return status, headers, body
        record = json.loads(body)
        leaked = self.authorization.get(scope["path"].rsplit("/", 1)[-1])
        record.setdefault("request", {}).setdefault("headers", {})["authorization"] = leaked
        return status, headers, json.dumps(record).encode()


def edit_json(edit: Callable[[Any], Any]) -> ResponseEdit:
    """A response edit that rewrites a successful JSON body."""

    def apply(scope: Scope, status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status != 200:
            return status, headers, body
        return status, headers, json.dumps(edit(json.loads(body))).encode()

    return apply


def drop_headers(*names: str) -> ResponseEdit:
    return lambda scope, status, headers, body: (status, without(headers, *names), body)


def status_map(mapping: dict[int, int]) -> ResponseEdit:
    return lambda scope, status, headers, body: (mapping.get(status, status), headers, body)
