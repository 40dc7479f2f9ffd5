"""The raw probes' HTTP/1.1: h11 on the project's asyncio streams, answered as httpx2 responses.

A check's raw probes (no token, a forged token, hostile XML, the rate-limit burst, the admin
log's records) are about half of the requests ``apilog check`` sends, and the checking processes
are CPU-bound on their HTTP client. httpx2 spends most of a loopback request's CPU above the
wire: building the request and its URL, the auth and redirect layers, the pool's locks and
cancel-shielding, the response's stream. A probe needs none of that. :class:`WireClient` writes
the request through h11 (the HTTP/1.1 state machine httpx2 itself uses, so the same header
validation and framing) on :class:`console.http_transport.AsyncioStream` connections, keeps a
few connections alive, and answers with an ordinary ``httpx2.Response``: the checks read status,
headers and body as before. ``docs/benchmarks.md`` ("The raw probes' wire") has the numbers.

What it leaves to httpx2: redirects (a probe never follows one), cookies, compression (it asks
for none) and proxies. :func:`for_url` gives no client when the probe's httpx2 client would
reach the gateway through a proxy; the probe then sends everything through httpx2 as before.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from typing import Any

import h11
import httpcore2
import httpx2

from console import __version__
from console.http_transport import AsyncioBackend, AsyncioStream

#: How long an idle connection is kept for reuse. Servers close idle keep-alive connections
#: (uvicorn after 5 s, httpx2's own pool gives up on them at 5 s); reusing one just as the server
#: closes it would fail the probe.
IDLE_S = 4.0
#: The largest answer head read: httpcore2's limit (h11's own default is 16 KiB).
MAX_HEAD = 100 * 1024
#: Bytes asked of the stream per read.
READ_SIZE = 64 * 1024
USER_AGENT = f"apilog/{__version__} (check)"

_ERRORS: dict[type[Exception], type[httpx2.HTTPError]] = {
    httpcore2.ConnectTimeout: httpx2.ConnectTimeout,
    httpcore2.ConnectError: httpx2.ConnectError,
    httpcore2.ReadTimeout: httpx2.ReadTimeout,
    httpcore2.ReadError: httpx2.ReadError,
    httpcore2.WriteTimeout: httpx2.WriteTimeout,
    httpcore2.WriteError: httpx2.WriteError,
    h11.RemoteProtocolError: httpx2.RemoteProtocolError,
    h11.LocalProtocolError: httpx2.LocalProtocolError,
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _httpx2_error(exc: Exception) -> type[httpx2.HTTPError]:
    for kind in type(exc).__mro__:
        if kind in _ERRORS:
            return _ERRORS[kind]
    return httpx2.TransportError


def for_url(url: str, http: httpx2.AsyncClient, *, verify: ssl.SSLContext | bool,
            timeout: float) -> WireClient | None:
    """A client for the gateway at ``url``, or None when ``http`` (the probe's httpx2 client,
    built from the same environment) would reach it through a proxy: then httpx2 carries the
    raw probes too. httpx2 decides, by its own rules for ``HTTP(S)_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY``; an httpx2 that no longer says is taken to use a proxy (slower, still right)."""
    route = getattr(http, "_transport_for_url", None)
    direct = getattr(http, "_transport", None)
    if route is None or direct is None or route(httpx2.URL(url)) is not direct:
        return None
    return WireClient(verify=verify, timeout=timeout)


class _Target:
    """What a URL gives a request, parsed by httpx2 (its IDNA host, default port dropped from
    ``Host``, the path percent-encoded as httpx2 sends it)."""

    __slots__ = ("scheme", "host", "port", "netloc", "path", "query")

    def __init__(self, url: httpx2.URL) -> None:
        self.scheme = url.scheme
        self.host = url.raw_host.decode("ascii")
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.netloc = url.netloc.decode("ascii")
        self.path = url.raw_path.decode("ascii").partition("?")[0]
        self.query = url.query.decode("ascii")


#: Parsed URLs by their text: a check run asks for a few hundred distinct ones, and httpx2's
#: parser costs ~100 µs each on this project's machine.
_TARGETS: dict[str, _Target] = {}
_TARGETS_MAX = 4096


def _target(url: str) -> _Target:
    target = _TARGETS.get(url)
    if target is None:
        if len(_TARGETS) >= _TARGETS_MAX:
            _TARGETS.clear()
        target = _TARGETS[url] = _Target(httpx2.URL(url))
    return target


class WireResponse(httpx2.Response):
    """An httpx2 response whose request object is built only if something asks for it."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                 sent: tuple[str, str, list[tuple[str, str]], bytes]) -> None:
        super().__init__(status, headers=headers, stream=httpx2.ByteStream(body))
        self.read()
        self._sent = sent

    @property
    def request(self) -> httpx2.Request:
        if self._request is None:
            method, url, headers, content = self._sent
            self._request = httpx2.Request(method, url, headers=headers, content=content)
        return self._request

    @request.setter
    def request(self, value: httpx2.Request) -> None:
        self._request = value

    def raise_for_status(self) -> httpx2.Response:
        self.request  # noqa: B018 - httpx2 reads the private attribute this property fills
        return super().raise_for_status()


class _Connection:
    __slots__ = ("stream", "h11", "idle_since")

    def __init__(self, stream: AsyncioStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        return (now - self.idle_since < IDLE_S
                and not self.stream.get_extra_info("is_readable"))


class WireClient:
    """Raw HTTP/1.1 requests (see the module's text); one per probe, used from one event loop."""

    def __init__(self, *, verify: ssl.SSLContext | bool, timeout: float, max_idle: int = 8) -> None:
        self.timeout = timeout
        self.max_idle = max_idle
        self._backend = AsyncioBackend()
        self._verify = verify
        self._tls: ssl.SSLContext | None = None
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}

    async def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("GET", url, **kwargs)

    async def request(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None,
                      content: bytes | None = None) -> httpx2.Response:
        """Send one request; its answer read whole. Errors are httpx2's (``ConnectError``,
        ``ReadTimeout``, ``RemoteProtocolError``…), as the probe's httpx2 client raised them."""
        parsed = _target(url)
        if params and parsed.query:  # httpx2 merges them into the URL's own by name
            merged = httpx2.URL(url).copy_merge_params(params)
            query = merged.query.decode("ascii")
        elif params:
            query = str(httpx2.QueryParams(params))
        else:
            query = parsed.query
        scheme, host, port = parsed.scheme, parsed.host, parsed.port
        target = f"{parsed.path}?{query}" if query else parsed.path
        url = f"{scheme}://{parsed.netloc}{target}"
        sent = self._headers(method, parsed.netloc, headers, content)
        key = (scheme, host, port)
        conn = None
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self._connection(key)
                try:
                    status, answer, body = await self._exchange(conn, method, target, sent, content)
                except BaseException:
                    await conn.stream.aclose()
                    raise
        except TimeoutError:
            if conn is None:
                raise httpx2.ConnectTimeout(f"{method} {url}: no connection within "
                                            f"{self.timeout:g} s") from None
            raise httpx2.ReadTimeout(f"{method} {url}: no answer within {self.timeout:g} s") from None
        except (httpcore2.NetworkError, httpcore2.TimeoutException, h11.ProtocolError) as exc:
            raise _httpx2_error(exc)(f"{method} {url}: {exc}") from exc
        await self._release(key, conn)
        return WireResponse(status, answer, body, (method, url, sent, content or b""))

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                await conn.stream.aclose()

    # --- connections ----------------------------------------------------------------------------

    async def _connection(self, key: tuple[str, str, int]) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.reusable(now):
                return conn
            await conn.stream.aclose()
        scheme, host, port = key
        stream: Any = await self._backend.connect_tcp(host, port, timeout=self.timeout)
        if scheme == "https":
            stream = await stream.start_tls(self._tls_context(), server_hostname=host,
                                            timeout=self.timeout)
        return _Connection(stream)

    async def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        state = conn.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            idle = self._idle.setdefault(key, deque())
            if len(idle) < self.max_idle:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        await conn.stream.aclose()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._tls = self._verify
            else:
                context = ssl.create_default_context()
                if not self._verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._tls = context
        return self._tls

    # --- one exchange ---------------------------------------------------------------------------

    @staticmethod
    def _headers(method: str, netloc: str, given: dict[str, str] | None,
                 content: bytes | None) -> list[tuple[str, str]]:
        """httpx2's defaults (Host, Accept, a Content-Length for any body or an empty write),
        with the caller's own headers taking their place by name."""
        merged = {"host": ("Host", netloc), "accept": ("Accept", "*/*"),
                  "user-agent": ("User-Agent", USER_AGENT)}
        if content:
            merged["content-length"] = ("Content-Length", str(len(content)))
        elif method in _BODY_METHODS:
            merged["content-length"] = ("Content-Length", "0")
        for name, value in (given or {}).items():
            merged[name.lower()] = (name, value)
        return list(merged.values())

    async def _exchange(self, conn: _Connection, method: str, target: str,
                        headers: list[tuple[str, str]], content: bytes | None
                        ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        state = conn.h11
        data = state.send(h11.Request(method=method, target=target, headers=headers))
        if content:
            data += state.send(h11.Data(data=content))
        data += state.send(h11.EndOfMessage())
        # A server may answer before it read all of a body (a 413) and close: read that answer.
        with contextlib.suppress(httpcore2.WriteError):
            await conn.stream.write(data)
        status = 0
        answer: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                data = await conn.stream.read(READ_SIZE)
                if not data and not status:
                    raise h11.RemoteProtocolError("the server closed the connection without an answer")
                state.receive_data(data)  # the end of the stream ends a body read to the close
            elif type(event) is h11.Response:
                status, answer = event.status_code, list(event.headers.raw_items())
            elif type(event) is h11.Data:
                chunks.append(bytes(event.data))
            elif type(event) is h11.EndOfMessage:
                return status, answer, b"".join(chunks)
            elif type(event) is h11.ConnectionClosed:  # never spin on a closed connection
                raise h11.RemoteProtocolError("the server closed the connection mid-answer")
            # an InformationalResponse (1xx) is passed over
