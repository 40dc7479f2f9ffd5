"""The gateway's HTTP/1.1 protocol: no response header that would split a response, pipelined
requests answered in order (guards for anyone who makes its response path faster)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from console.events.broker import free_port
from console.gateway.server import uvicorn_config


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body)),
               (b"x-path", body)]
    if scope["path"] == "/evil":  # a value that would split the response
        headers.append((b"x-evil", b"a\r\nset-cookie: pwned=1"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    running = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, stack="h11-uvloop"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield port
    running.should_exit = True
    thread.join(10)


def _exchange(port: int, raw: bytes, wait_s: float = 10) -> bytes:
    """What the server sends back to ``raw`` until it closes, or ``wait_s`` passes."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(raw)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.slow  # a real server on loopback
def test_a_header_value_that_would_split_the_response_is_never_sent(server):
    # Keep-alive on purpose: closing makes h11 re-check the headers on its own.
    answer = _exchange(server, b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n", wait_s=3)
    assert b"pwned" not in answer and b"x-evil" not in answer


@pytest.mark.slow  # a real server on loopback
def test_pipelined_requests_are_answered_in_order_each_with_its_length(server):
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(3))
    answer = _exchange(server, requests + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    for n, path in enumerate([b"/0", b"/1", b"/2", b"/last"]):
        assert b"x-path: " + path + b"\r\n" in answer
        assert answer.index(b"x-path: " + path) > (answer.index(b"x-path: /%d" % (n - 1)) if n else 0)
    assert answer.endswith(b"/last") and b"content-length: 5\r\n" in answer
