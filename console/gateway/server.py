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
import httptools
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


#: The largest request head (request line and headers) :class:`GatewayProtocol` reads: h11's
#: default, which bounds uvicorn's h11 protocol the same way.
MAX_HEAD_BYTES = 16 * 1024

_Refusal = tuple[int, str, str]  # status, title, detail

_NOT_HTTP: _Refusal = (400, "Bad Request", "the request is not valid HTTP/1.1 (request line, header syntax, "
             "Content-Length or chunked body); send a well-formed request")
_HEAD_TOO_LARGE: _Refusal = (431, "Request Header Fields Too Large",
                   f"the request line and headers exceed {MAX_HEAD_BYTES // 1024} KiB; send fewer or "
                   "shorter headers")
_TRAILERS_TOO_LARGE: _Refusal = (431, "Request Header Fields Too Large",
                       f"the chunked body's trailer fields or chunk extensions exceed "
                       f"{MAX_HEAD_BYTES // 1024} KiB; send fewer")
#: What a connection may send while a request handed to h11 waits for the ones before it (its
#: body, say; reading is paused meanwhile, but answering those may resume it): beyond it the
#: request is refused instead.
MAX_HELD_BYTES = 1024 * 1024


def _refusal(status: int, title: str, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and problem+json body refusing a request the app never sees (it is closed after)."""
    request_id = uuid4()
    body, media_type = problem_body(Problem(status, title, f"{detail} (request id {request_id})"), "json")
    headers = [(b"content-type", media_type.encode()),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close"),
               (b"x-request-id", request_id.encode()),
               (b"traceparent", parse_traceparent(None)[0].encode()), (b"via", VIA.encode())]
    return headers, body


class ProblemH11Protocol(H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol, with its "malformed request" 400 as an RFC 9457
    body carrying the headers every gateway response carries (a new request id and trace)."""

    def send_400_response(self, msg: str) -> None:
        headers, body = _refusal(*_NOT_HTTP)
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools (C parser) protocol, with the same problem+json 400."""

    def send_400_response(self, msg: str) -> None:
        self._refuse(*_NOT_HTTP)

    def _refuse(self, status: int, title: str, detail: str) -> None:
        headers, body = _refusal(status, title, detail)
        head = b"".join(b"%s: %s\r\n" % pair for pair in headers)
        self.transport.write(b"HTTP/1.1 %d %s\r\n" % (status, title.encode()) + head + b"\r\n" + body)
        self.transport.close()


class GatewayProtocol(ProblemHttpToolsProtocol):
    """The gateway's HTTP/1.1: httptools' C parser (llhttp) for the requests it parses as h11
    would, h11 for the rest.

    llhttp refuses what the gateway must answer itself: a method outside its list (``FOO``,
    lower-case ``get``: the gateway promises 405 + Allow), an RTSP method on an HTTP request
    line, a ``CONNECT`` target its URL parser rejects. And it takes ``Upgrade`` (``curl --http2``
    sends ``Upgrade: h2c``) as the end of HTTP on the connection, so uvicorn's httptools protocol
    hands the app such a request without its body. So a request whose head llhttp refuses or
    upgrades goes, from its first byte and with the rest of its connection, to
    :class:`ProblemH11Protocol`, once the requests before it are answered: the gateway then
    answers it exactly as it does on h11 (405, the app's answer with its body, or h11's 400).
    That needs the request's first byte: one that begins in the same read as the end of another
    request (pipelined, or merged by TCP behind a body the app answered before reading it) is
    refused with the problem+json 400 instead.

    A request head is bounded at :data:`MAX_HEAD_BYTES` (431), as h11 bounds it and uvicorn's
    httptools protocol does not (one that arrives over several reads is stopped at the read
    that crosses the limit, one that arrives whole is measured when it ends); so are a chunked
    body's trailer fields and chunk extensions (uvicorn's protocol also added the trailers to
    the running request's headers). A body that cannot be parsed is refused, and the connection
    closed, once the requests before it are answered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "5 \r\n": spaces after a chunk's size, which h11 takes (senders do it) and llhttp
        # refuses by default; "5 0" is still refused.
        self.parser.set_dangerous_leniencies(lenient_spaces_after_chunk_size=True)
        self._in_head = False  # a request begun whose head has not been handed to the app
        #: The current head's bytes so far, from its first byte: b"" between requests, None
        #: when its first byte is unknown (it began in a packet after another request).
        self._head: bytes | None = b""
        self._head_bytes = 0  # what the current head has taken, counted per packet
        self._framing_bytes = 0  # packets in a body that carried no body bytes (trailers...)
        self._completed = 0  # requests whose message completed in the current packet
        self._progress = False  # a head ended or body bytes came in the current packet
        self._too_large = False  # the head that ended in the current packet is over the limit
        self._head_cycle: Any = None  # the cycle before the current head's
        #: Waiting for the requests before a bad one to be answered: the refusal to send, or
        #: None and the bytes to hand to h11 (what arrives meanwhile is added to them).
        self._when_idle: tuple[_Refusal | None, bytearray] | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._head_cycle = True, 0, self.cycle

    def on_headers_complete(self) -> None:
        # A head that came whole in one read is measured here (one split over reads, per read
        # in data_received): the request line and the fields, each with its ": " and CRLF.
        if len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) > MAX_HEAD_BYTES:
            self._too_large = True
            raise _StopParsing
        if self.parser.should_upgrade():  # h11 reads on after it, body and all
            raise _StopParsing
        super().on_headers_complete()
        self._in_head, self._progress = False, True
        self.headers = []  # trailer fields after a chunked body land here, not in the request's

    def on_body(self, body: bytes) -> None:
        self._progress = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._completed += 1
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._when_idle is not None:  # waiting to refuse or hand off: read nothing more
            self.transport.pause_reading()
            refusal, held = self._when_idle
            if refusal is None:
                held += data
                if len(held) > MAX_HELD_BYTES:  # not kept for h11: refused instead
                    self._when_idle = (_NOT_HTTP, bytearray())
            return
        self._unset_keepalive_if_required()
        before, self._completed, self._progress = self._head, 0, False
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if self._too_large:
                self._once_idle(_HEAD_TOO_LARGE)
            elif not self._in_head:  # in a body: that request is broken
                if self._drop_queued_cycle():
                    self._once_idle(_NOT_HTTP)
                else:  # it is the one being answered: the refusal is its answer
                    self._refuse(*_NOT_HTTP)
            elif self._completed or before is None or self.cycle is not self._head_cycle:
                self._once_idle(_NOT_HTTP)  # its first byte is unknown
            else:
                self._once_idle(None, before + data)
            return
        if not self._in_head:
            self._head = b""
            cycle = self.cycle
            if self._progress:
                self._framing_bytes = 0
            elif cycle is not None and cycle.more_body and not cycle.response_complete:
                # Well into a body: a packet with no body bytes is chunk framing or trailers.
                self._framing_bytes += len(data)
                if self._framing_bytes > MAX_HEAD_BYTES:
                    self._refuse(*_TRAILERS_TOO_LARGE)
            return
        # A head still incomplete at the end of this packet: with no request completed in it,
        # the packet is all head (or began it at its first byte).
        if not self._completed:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._once_idle(_HEAD_TOO_LARGE)
                return
        self._head = None if self._completed or before is None else before + data

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._when_idle is not None and self._idle() and not self.transport.is_closing():
            (refusal, held), self._when_idle = self._when_idle, None
            self._act(refusal, bytes(held))

    def _drop_queued_cycle(self) -> bool:
        """Forget the request whose body broke if it waits behind others (pipelined): it is
        refused once they are answered, never started. False: it is the one being answered."""
        if self.pipeline and self.pipeline[0][0] is self.cycle:
            self.pipeline.popleft()
            self.cycle = self._head_cycle
            return True
        return False

    def _idle(self) -> bool:
        """No earlier request on this connection is still being answered or waiting to be."""
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _once_idle(self, refusal: _Refusal | None, data: bytes = b"") -> None:
        """Send ``refusal``, or (None) hand ``data`` to h11, once the requests before are answered."""
        if self._idle():
            self._act(refusal, data)
            return
        self._when_idle = (refusal, bytearray(data))
        # Paused on the transport itself: the requests before it resume uvicorn's flow control
        # as they are answered, which must not start reading again.
        self.transport.pause_reading()

    def _act(self, refusal: _Refusal | None, data: bytes) -> None:
        if refusal is None:
            self._hand_to_h11(data)
        else:
            self._refuse(*refusal)

    def _hand_to_h11(self, data: bytes) -> None:
        h11_protocol = ProblemH11Protocol(self.config, self.server_state, self.app_state, self.loop)
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        h11_protocol.connection_made(self.transport)
        self.transport.set_protocol(h11_protocol)
        self.transport.resume_reading()
        self.parser = None  # type: ignore[assignment]
        h11_protocol.data_received(data)


class _StopParsing(Exception):
    """Raised in llhttp's callback (a parse error) for a head refused or handed to h11."""


#: Server stacks by name: the HTTP protocol class and the event loop. The gateway's is
#: "gateway-uvloop": :class:`GatewayProtocol` on uvloop, which served 2,147 and 2,318 writes/s where
#: h11 on uvloop served 1,505 and 1,769 in the same runs (docs/benchmarks.md). The others are
#: there for the benchmark: "httptools-uvloop" is uvicorn's own httptools protocol, which refuses
#: a method it does not know (``FOO``) with a 400 before the app sees it, where the gateway
#: promises 405 + Allow, and reads an ``Upgrade`` request's body as the end of HTTP.
STACKS: dict[str, tuple[type, str]] = {"gateway-uvloop": (GatewayProtocol, "uvloop"),
                                       "h11-uvloop": (ProblemH11Protocol, "uvloop"),
                                       "httptools-uvloop": (ProblemHttpToolsProtocol, "uvloop"),
                                       "h11": (ProblemH11Protocol, "asyncio")}


def uvicorn_config(app: Any, host: str, port: int, *, tls_cert: Path | None = None,
                   tls_key: Path | None = None, stack: str = "gateway-uvloop") -> Any:
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
