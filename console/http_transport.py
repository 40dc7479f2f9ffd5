"""httpx2 clients' connections on asyncio's own transports instead of anyio's socket streams.

httpx2's default transport reaches the network through httpcore2's anyio backend. On this
project's loopback traffic that layer is a fifth of a request's CPU: every read and write enters
an anyio cancel scope, and before every request the connection pool asks each idle connection
whether its socket is readable, which anyio answers by building a dictionary of attribute
getters and calling ``poll`` (``docs/benchmarks.md``, "The probes' HTTP client"). The checking
process of ``apilog check`` is CPU-bound on its HTTP client, so that fifth is worth having.

:class:`AsyncioBackend` implements httpcore2's public network-backend interface with an
``asyncio.Protocol``: received data is queued by the event loop as it arrives (up to
:data:`READ_HIGH_WATER` bytes, then the transport stops reading until the queue drains), so
"is this idle connection readable?" (the server closed it, or sent something unasked) is a look
at the queue and the end-of-stream flag. Timeouts are one timer per wait; a wait that the timer
ends raises httpcore2's timeout errors, a task that is cancelled stays cancelled.

:func:`on_asyncio` puts an ``httpx2.AsyncClient``'s own connection pool on that backend. The
client is otherwise httpx2's: passing a ``transport=`` instead would also turn off the proxies
the environment names. httpx2 keeps its pool in ``AsyncHTTPTransport._pool`` and httpcore2 the
backend in ``AsyncConnectionPool._network_backend``; ``tests/caller/test_http_transport.py``
checks that the change took, so an httpx2 that renames them fails a test instead of going slow.
"""
from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

#: Bytes queued unread before the transport stops reading from the socket.
READ_HIGH_WATER = 256 * 1024

_TIMED_OUT = object()


class _Connection(asyncio.Protocol):
    """The event loop's side of one connection: what arrived, and whether the peer is gone."""

    __slots__ = ("transport", "chunks", "queued", "eof", "error", "waiter", "writable",
                 "reading_paused")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.eof = False
        self.error: BaseException | None = None
        #: The future a read waits on (data, end of stream, or the timer).
        self.waiter: asyncio.Future[Any] | None = None
        #: Set while the transport's write buffer is under its high-water mark.
        self.writable: asyncio.Future[Any] | None = None
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > READ_HIGH_WATER and not self.reading_paused and self.transport:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake(None)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake(None)
        return False  # close our side too: HTTP/1.1 has no use for a half-open connection

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake(None)
        writable = self.writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def pause_writing(self) -> None:
        if self.writable is None or self.writable.done():
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable = self.writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _wake(self, value: Any) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    def take(self, max_bytes: int) -> bytes:
        data = self.chunks.popleft()
        if len(data) > max_bytes:
            self.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self.queued -= len(data)
        if self.reading_paused and self.queued <= READ_HIGH_WATER // 4 and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()
        return data


def _end_wait(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


class AsyncioStream(httpcore2.AsyncNetworkStream):
    """One connection, read and written through its asyncio transport."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        conn = self._connection
        if not conn.chunks and not conn.eof:
            loop = asyncio.get_running_loop()
            conn.waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout, _end_wait, waiter) if timeout is not None else None
            try:
                if await waiter is _TIMED_OUT:
                    raise httpcore2.ReadTimeout(f"no data within {timeout} s")
            finally:
                conn.waiter = None
                if timer is not None:
                    timer.cancel()
        if conn.chunks:
            return conn.take(max_bytes)
        if conn.error is not None:
            raise httpcore2.ReadError(str(conn.error) or type(conn.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        conn = self._connection
        if self._transport.is_closing() or conn.error is not None:
            raise httpcore2.WriteError("the connection was closed")
        self._transport.write(buffer)
        writable = conn.writable
        if writable is not None and not writable.done():
            # Shielded: the future is the connection's (resume_writing ends it), not this wait's.
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(writable)
            except TimeoutError:
                raise httpcore2.WriteTimeout(f"could not write within {timeout} s") from None
            if conn.error is not None or self._transport.is_closing():
                raise httpcore2.WriteError(str(conn.error or "the connection was closed"))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self._transport, connection, ssl_context,
                                                 server_hostname=server_hostname)
        except TimeoutError:
            self._transport.close()
            raise httpcore2.ConnectTimeout(f"TLS handshake not done within {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        if transport is None:  # the peer closed during the handshake
            raise httpcore2.ConnectError("the connection was closed during the TLS handshake")
        connection.connection_made(transport)
        return AsyncioStream(transport, connection)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore2 asks this of idle connections: anything queued, or the end of the
            # stream, means the server closed it (or broke the protocol) and it is not reused.
            return bool(self._connection.chunks) or self._connection.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend on asyncio's event loop (TCP; TLS through ``start_tls``)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                # Addresses raced 250 ms apart, as anyio does: a dual-stack name whose IPv6
                # route silently drops packets must not use up the whole connect timeout.
                transport, connection = await loop.create_connection(
                    _Connection, host, port, happy_eyeballs_delay=0.25,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_unix_connection(_Connection, path)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"no connection to {path} within {timeout} s") from None
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def on_asyncio(client: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """``client`` with its direct connections on :class:`AsyncioBackend`; returns it.

    The client is built by httpx2 as usual (TLS, limits, and a proxy transport for each proxy
    the environment names: ``HTTPS_PROXY``, ``NO_PROXY``…); only the network backend of its own
    connection pool changes, before it has opened anything. Connections through a proxy keep
    httpx2's default backend. An httpx2 whose client no longer looks as expected is left as it
    is: slower, still correct (``tests/caller/test_http_transport.py`` notices).
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if type(pool) is httpcore2.AsyncConnectionPool and hasattr(pool, "_network_backend"):
        pool._network_backend = AsyncioBackend()
    return client
