"""The outermost layer of the gateway: what every response carries, and what every request leaves.

Every response gets ``X-Request-Id`` (the gateway's own, never the caller's: a record is found by
it, so a client must not be able to pick another request's), a W3C
``traceparent`` (echoed, or started), ``Via`` and ``Server-Timing: total;dur=…``. Any exception
that escapes a handler becomes an RFC 9457 problem (JSON or XML as the caller prefers) — never a
traceback or an HTML page — and every request, answered or failed, writes one access-log record.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from console.gateway.accesslog import AccessLog, Exchange
from console.gateway.ids import random_hex, uuid4
from console.gateway.negotiation import prefers_xml
from console.gateway.problems import Problem, problem_response

log = logging.getLogger("apilog.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

VIA = "1.1 apilog-gateway"
_VIA_HEADER = (b"via", VIA.encode())
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")


def parse_traceparent(value: str | None) -> tuple[str, str]:
    """``(traceparent, trace_id)``: the caller's when valid (W3C Trace Context), else a new one.

    As the spec says: hex is lower case only, all-zero ids and version ``ff`` are invalid,
    version 00 has nothing after the flags, and a later version is read for its first four
    fields (which it keeps) and continued as version 00, the one this gateway speaks.
    """
    if value:
        match = _TRACEPARENT.fullmatch(value.strip())
        if match is not None:
            version, trace_id, parent_id, flags, rest = match.groups()
            if (version != "ff" and not (version == "00" and rest)
                    and trace_id != "0" * 32 and parent_id != "0" * 16):
                return f"00-{trace_id}-{parent_id}-{flags}", trace_id
    ids = random_hex(24)
    trace_id = ids[:32]
    return f"00-{trace_id}-{ids[32:]}-01", trace_id


def exchange_of(scope: Scope) -> Exchange:
    """The :class:`Exchange` the envelope put in the request's state."""
    return scope["state"]["exchange"]


class Envelope:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead); see the module docstring."""

    def __init__(self, app: ASGIApp, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        lookup = dict(reversed(headers))  # the first of a repeated header, as Request.headers.get
        # The caller's id is kept beside ours (and echoed as X-Client-Request-Id) but never used
        # as the record's key: /admin/log/{id} must not return what another client chose to write.
        incoming_id = lookup.get("x-request-id", "")
        client_request_id = incoming_id if _REQUEST_ID.match(incoming_id) else None
        request_id = uuid4()
        traceparent, trace_id = parse_traceparent(lookup.get("traceparent"))
        client = scope.get("client")
        ex = Exchange(request_id=request_id, trace_id=trace_id, traceparent=traceparent,
                      started_at=time.time(), t0=time.perf_counter(), method=scope["method"],
                      path=scope["path"], query=scope.get("query_string", b"").decode("latin-1"),
                      client_ip=client[0] if client else None, request_headers=headers,
                      headers=lookup, client_request_id=client_request_id)
        scope.setdefault("state", {})["exchange"] = ex
        # The response's headers are decoded for the record only when it keeps them (full-log).
        state: dict[str, Any] = {"started": False, "status": 500, "raw": (), "size": 0}
        captured = bytearray()
        limit = self.access_log.body_limit + 1

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - ex.t0) * 1000
                raw = list(message.get("headers", ()))
                raw += [(b"x-request-id", request_id.encode()), (b"traceparent", traceparent.encode()),
                        _VIA_HEADER, (b"server-timing", b"total;dur=%.1f" % elapsed)]
                if client_request_id is not None:
                    raw.append((b"x-client-request-id", client_request_id.encode()))
                message["headers"] = raw
                state["started"], state["status"], state["raw"] = True, message["status"], raw
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                state["size"] += len(chunk)
                if ex.full and len(captured) < limit:
                    captured.extend(chunk[: limit - len(captured)])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if isinstance(exc, Problem):
                problem = exc
            else:
                log.exception("unhandled error serving %s %s (request %s)", ex.method, ex.path, request_id)
                ex.outcome = "error"
                problem = Problem(500, "Internal Server Error",
                                  f"the gateway failed to serve this request; quote request id {request_id}")
            if state["started"]:
                raise
            await self._send_problem(problem, lookup.get("accept"), scope, receive, send_wrapper, ex)
        finally:
            ended = time.perf_counter()
            try:
                headers = ([(k.decode("latin-1"), v.decode("latin-1")) for k, v in state["raw"]]
                           if ex.full else [])
                self.access_log.record(ex, state["status"], headers, bytes(captured), state["size"],
                                       ended, time.time())
            except Exception:  # the log must never take a response down with it
                log.exception("could not write the access-log record for request %s", request_id)

    @staticmethod
    async def _send_problem(problem: Problem, accept: str | None, scope: Scope, receive: Receive,
                            send: Send, ex: Exchange) -> None:
        ex.problem = {"type": problem.type, "title": problem.title, "detail": problem.detail}
        response = problem_response(problem, "xml" if prefers_xml(accept) else "json")
        await response(scope, receive, send)
