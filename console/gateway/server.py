"""Run the gateway under uvicorn in a background thread: for tests, benchmarks and embedding.

``with GatewayServer(GatewaySettings(port=0)) as server: httpx2.get(server.base_url + "/healthz")``.
uvicorn installs signal handlers only on the main thread, so an embedded server never steals
the host's Ctrl-C; :meth:`stop` asks it to exit and joins the thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from console.errors import ApilogError
from console.events.broker import free_port
from console.gateway.app import create_app
from console.gateway.envelope import VIA, parse_traceparent
from console.gateway.ids import uuid4
from console.gateway.problems import Problem, problem_body
from console.gateway.settings import GatewaySettings


class GatewayError(ApilogError, RuntimeError):
    """The gateway could not start; the message says why."""


def _malformed_request() -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and problem+json body answering a request that is not valid HTTP/1.1."""
    request_id = uuid4()
    body, media_type = problem_body(Problem(
        400, "Bad Request",
        "the request is not valid HTTP/1.1 (request line, header syntax or "
        f"Content-Length); send a well-formed request (request id {request_id})"), "json")
    headers = [(b"content-type", media_type.encode()),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close"),
               (b"x-request-id", request_id.encode()),
               (b"traceparent", parse_traceparent(None)[0].encode()), (b"via", VIA.encode())]
    return headers, body


class ProblemH11Protocol(H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol, with its "malformed request" 400 as an RFC 9457
    body carrying the headers every gateway response carries (a new request id and trace)."""

    def send_400_response(self, msg: str) -> None:
        headers, body = _malformed_request()
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools (C parser) protocol, with the same problem+json 400."""

    def send_400_response(self, msg: str) -> None:
        headers, body = _malformed_request()
        head = b"".join(b"%s: %s\r\n" % pair for pair in headers)
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head + b"\r\n" + body)
        self.transport.close()


#: Server stacks by name: the HTTP protocol class and the event loop. The gateway's is
#: "h11-uvloop": uvloop served 722 req/s where asyncio's loop served 614 in the same run
#: (docs/benchmarks.md). httptools' C parser was faster still (951) but refuses a method it does
#: not know (``FOO``) with its own 400 before the app sees it, where the gateway promises
#: 405 + Allow; it stays here for the benchmark.
STACKS: dict[str, tuple[type, str]] = {"h11-uvloop": (ProblemH11Protocol, "uvloop"),
                                       "httptools-uvloop": (ProblemHttpToolsProtocol, "uvloop"),
                                       "h11": (ProblemH11Protocol, "asyncio")}


def uvicorn_config(app: Any, host: str, port: int, *, tls_cert: Path | None = None,
                   tls_key: Path | None = None, stack: str = "h11-uvloop") -> Any:
    """The one uvicorn configuration of the gateway, for ``apilog gateway`` and embedded servers.

    With ``tls_cert`` (and its ``tls_key``) it serves HTTPS. ``stack`` names one of
    :data:`STACKS`.

    uvicorn answers a request it cannot parse (bad request line, header syntax or
    Content-Length) itself, before the app sees it, in ``text/plain``; the protocols of
    :data:`STACKS` answer those in problem+json too, as every other gateway error.
    """
    protocol, loop = STACKS[stack]
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="on", timeout_graceful_shutdown=5, backlog=4096,
                          http=protocol, loop=loop,
                          ssl_certfile=str(tls_cert) if tls_cert else None,
                          ssl_keyfile=str(tls_key) if tls_key else None)


class GatewayServer:
    """A gateway on a loopback port in this process. ``port=0`` picks a free one."""

    def __init__(self, settings: GatewaySettings | None = None, startup_timeout: float = 20.0) -> None:
        settings = settings or GatewaySettings(port=0)
        if not settings.port:
            settings = replace(settings, port=free_port(settings.host), base_url=None, issuer=settings.issuer)
        self.settings = settings.resolved()
        self.startup_timeout = startup_timeout
        self.app: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def token_url(self) -> str:
        return self.settings.token_url

    @property
    def jwks_url(self) -> str:
        return self.settings.jwks_url

    @property
    def gateway(self) -> Any:
        """The :class:`console.gateway.app.Gateway` behind the app (store, relay, access log)."""
        return self.app.state.gateway

    def start(self) -> GatewayServer:
        if self._thread is not None:
            return self
        self.app = create_app(self.settings)
        s = self.settings
        self._server = uvicorn.Server(uvicorn_config(self.app, s.host, s.port, tls_cert=s.tls_cert,
                                                     tls_key=s.tls_key))
        self._thread = threading.Thread(target=self._run, name="gateway-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise GatewayError(f"the gateway did not start on {self.base_url}: {self._error or 'uvicorn exited'}")
            if time.monotonic() > deadline:
                self.stop()
                raise GatewayError(f"the gateway did not start on {self.base_url} within {self.startup_timeout:.0f} s")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
