"""The probes' and the caller's connections on asyncio's transports (console.http_transport).

Each test serves raw HTTP/1.1 from an asyncio server on loopback, so that the server can do what
real gateways and proxies do to a client: close a kept-alive connection while it is idle, say
nothing, or send a body faster than the client reads it.
"""
from __future__ import annotations

import asyncio
import contextlib

import httpx2
import pytest

from console.http_transport import READ_HIGH_WATER, AsyncioStream, _Connection, on_asyncio


class Server:
    """A loopback HTTP/1.1 server; ``behaviour`` decides what each connection gets."""

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.behaviour(self.connections, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def client(**kwargs) -> httpx2.AsyncClient:
    return on_asyncio(httpx2.AsyncClient(**kwargs))


async def test_requests_share_a_kept_alive_connection_on_asyncio_streams():
    async def keep_alive(n, reader, writer):
        while True:
            await read_request(reader)
            writer.write(response(b"connection %d" % n))
            await writer.drain()

    async with Server(keep_alive) as server, client() as http:
        answers = [await http.get(f"{server.url}/healthz") for _ in range(3)]
    assert [a.text for a in answers] == ["connection 1"] * 3
    assert server.connections == 1
    assert isinstance(answers[0].extensions["network_stream"], AsyncioStream)


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    # A gateway's keep-alive timeout (or a restart) closes the connection between two requests.
    # Reusing it would send the next request into a closed socket: "Server disconnected
    # without sending a response". The pool must see it closed and open a new one.
    async def one_then_close(n, reader, writer):
        await read_request(reader)
        writer.write(response(b"connection %d" % n))
        await writer.drain()

    async with Server(one_then_close) as server, client() as http:
        first = await http.get(f"{server.url}/a")
        await asyncio.sleep(0.05)  # the server's close reaches the client's event loop
        second = await http.get(f"{server.url}/b")
    assert (first.text, second.text) == ("connection 1", "connection 2")


async def test_a_silent_server_is_a_read_timeout_and_a_cancelled_call_stays_cancelled():
    async def silent(n, reader, writer):
        await read_request(reader)
        await asyncio.sleep(30)

    async with Server(silent) as server, client(timeout=0.2) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(f"{server.url}/slow")
        task = asyncio.ensure_future(http.get(f"{server.url}/slow", timeout=10))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_body_larger_than_the_read_queue_arrives_whole_while_read_slowly(monkeypatch):
    body = bytes(range(256)) * (4 * READ_HIGH_WATER // 256 + 7)
    paused = []
    original_take = _Connection.take

    def take(self, max_bytes):
        paused.append(self.reading_paused)
        return original_take(self, max_bytes)

    monkeypatch.setattr(_Connection, "take", take)

    async def big(n, reader, writer):
        await read_request(reader)
        writer.write(response(body))
        await writer.drain()

    received = bytearray()
    async with asyncio.timeout(30):  # reads that are never resumed would hang here
        async with Server(big) as server, client() as http, \
                http.stream("GET", f"{server.url}/export") as streamed:
            async for chunk in streamed.aiter_raw():
                received += chunk
                await asyncio.sleep(0.001)  # a reader slower than loopback
    assert bytes(received) == body
    assert any(paused), "the socket was never paused: the read queue was not bounded"


async def test_a_refused_connection_is_a_connect_error_naming_the_reason():
    async with Server(lambda *a: asyncio.sleep(0)) as server:
        url = server.url
    async with client() as http:
        with pytest.raises(httpx2.ConnectError, match="refused|Connect call failed"):
            await http.get(f"{url}/healthz")


def proxy_answering(body: bytes, content_type: bytes = b"text/plain"):
    """A forward proxy that answers every request itself and keeps each request line."""
    lines: list[bytes] = []

    async def answer(n, reader, writer):
        while True:
            head = await read_request(reader)
            lines.append(head.split(b"\r\n", 1)[0])
            length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
                         % (content_type, len(body), body))
            await writer.drain()

    return answer, lines


async def test_the_proxy_the_environment_names_is_still_used(no_proxy_env):
    # Giving httpx2 a transport of our own would have turned its environment proxies off: an
    # operator whose gateway is reachable only through HTTP_PROXY would get "connect failed".
    answer, lines = proxy_answering(b"via the proxy")
    async with Server(answer) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        async with client() as http:
            reply = await http.get("http://gateway.invalid/healthz")
    assert reply.text == "via the proxy"
    assert lines == [b"GET http://gateway.invalid/healthz HTTP/1.1"]


async def test_the_callers_token_request_goes_through_the_environments_proxy(no_proxy_env, tmp_path):
    from console.caller import Caller
    from console.config import Profile
    from console.txlog import TransactionLog

    token = b'{"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300}'
    answer, lines = proxy_answering(token, b"application/json")
    profile = Profile(name="proxied", base_url="http://gateway.invalid",
                      token_url="http://gateway.invalid/oauth/token",
                      client_id="apilog", client_secret="s3cret-value")
    with TransactionLog(tmp_path / "transactions.db") as log:
        async with Server(answer) as proxy:
            no_proxy_env.setenv("HTTP_PROXY", proxy.url)
            async with Caller(profile, None, log) as caller:
                state = await caller.token_state()
    assert state.valid, state.error
    assert lines == [b"POST http://gateway.invalid/oauth/token HTTP/1.1"]
