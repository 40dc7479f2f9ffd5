"""The gateway's HTTP/1.1 protocol (httptools' parser, h11 for the heads it refuses): no
response header that would split a response, pipelined requests answered in order, every method
reaches the app, a request head is bounded (guards for anyone who makes its response path
faster)."""

from __future__ import annotations

import asyncio
import contextlib
import re
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
    if scope["path"] == "/slow":  # still being answered when what follows it arrives
        await asyncio.sleep(0.3)
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body)),
               (b"x-path", body), (b"x-method", scope["method"].encode()), (b"x-body-bytes", b"%d" % size),
               (b"x-trailer-seen", b"%d" % any(n == b"x-trailer" for n, _ in scope["headers"]))]
    if scope["path"] == "/evil":  # a value that would split the response
        headers.append((b"x-evil", b"a\r\nset-cookie: pwned=1"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    running = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port))  # the gateway's stack
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield port
    running.should_exit = True
    thread.join(10)


def _exchange(port: int, raw: bytes | list[bytes], wait_s: float = 10, gap_s: float = 0.05) -> bytes:
    """What the server sends back to ``raw`` until it closes, or ``wait_s`` passes. A list is
    sent packet by packet, each after the server has had time to read the one before."""
    return _talk(port, raw, wait_s, gap_s)[0]


def _talk(port: int, raw: bytes | list[bytes], wait_s: float = 10, gap_s: float = 0.05) -> tuple[bytes, bool]:
    """:func:`_exchange`, and whether the server closed the connection (False: ``wait_s`` ran out)."""
    chunks, closed = [], False
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for n, packet in enumerate([raw] if isinstance(raw, bytes) else raw):
            if n:
                time.sleep(gap_s)
            try:
                sock.sendall(packet)
            except OSError:  # the server answered and closed before reading it all
                break
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            closed = True
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
    return b"".join(chunks), closed


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


def _answers(answer: bytes) -> list[tuple[int, bytes]]:
    """(status, x-method or b"") of each response in ``answer``, in order."""
    responses = re.split(rb"(?=HTTP/1\.1 \d{3} )", answer)[1:]
    return [(int(r[9:12]), m.group(1) if (m := re.search(rb"\r\nx-method: (\S+)\r\n", r)) else b"")
            for r in responses]


@pytest.mark.slow  # a real server on loopback
@pytest.mark.parametrize("packets", [
    [b"FOO /a HTTP/1.1\r\nHost: x\r\n\r\n"],  # a connection's first request
    [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"FOO /b HTTP/1.1\r\nHost: x\r\n\r\n"],  # after another
    [b"FO", b"O /a HTTP/1.1\r\nHost: x\r\n\r\n"],  # the method split over two packets
    [b"get /a HTTP/1.1\r\nHost: x\r\n\r\n"],  # methods are case-sensitive: "get" is not GET
], ids=["first", "after-a-get", "split", "lower-case"])
def test_a_method_the_parser_does_not_know_still_reaches_the_app(server, packets):
    """llhttp refuses methods outside its list; the gateway must answer them itself (405 +
    Allow), so such a request goes to h11 with the rest of its connection, which keeps working."""
    last = b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _exchange(server, [*packets, last])
    unknown = packets[-1].split(b" ")[0] if len(packets) < 3 and packets[-1][:1] != b"O" else b"FOO"
    assert _answers(answer)[-2:] == [(200, unknown), (200, b"GET")]
    assert answer.endswith(b"/last")


@pytest.mark.slow  # a real server on loopback
def test_an_unknown_method_pipelined_behind_another_request_is_a_problem_400(server):
    """The documented limit: its start inside the packet is unknown, so it is refused, in
    problem+json, after the request before it was answered."""
    answer = _exchange(server, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nFOO /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _answers(answer) == [(200, b"GET"), (400, b"")]
    assert b"application/problem+json" in answer and b"not valid HTTP/1.1" in answer


@pytest.mark.slow  # a real server on loopback
@pytest.mark.parametrize("packets", [1, 4], ids=["one-packet", "trickled"])
def test_a_request_head_beyond_16_kib_is_refused_with_431(server, packets):
    head = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024)
    size = -(-len(head) // packets)
    answer = _exchange(server, [head[i:i + size] for i in range(0, len(head), size)], wait_s=5)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"application/problem+json" in answer and b"16 KiB" in answer


@pytest.mark.slow  # a real server on loopback
def test_a_head_under_the_limit_and_a_large_body_in_the_same_packet_are_served(server):
    body = b"b" * (512 * 1024)
    request = (b"PUT /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (15 * 1024) + b"\r\nContent-Length: %d\r\n"
               b"Connection: close\r\n\r\n" % len(body) + body)
    answer = _exchange(server, [request[:10 * 1024], request[10 * 1024:]])
    assert _answers(answer) == [(200, b"PUT")]


def _header(answer: bytes, name: bytes) -> list[bytes]:
    return re.findall(rb"\r\n" + name + rb": (\S+)\r\n", answer)


@pytest.mark.slow  # a real server on loopback
@pytest.mark.parametrize("request_line", [b"PLAY /a HTTP/1.1", b"CONNECT example.com:443 HTTP/1.1"],
                         ids=["rtsp-method", "connect"])
def test_request_lines_llhttp_refuses_but_h11_takes_reach_the_app(server, request_line):
    answer = _exchange(server, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _answers(answer) == [(200, request_line.split(b" ")[0])]


@pytest.mark.slow  # a real server on loopback
def test_an_upgrade_request_keeps_its_body_and_the_connection_goes_on(server):
    """``curl --http2`` asks for h2c: the gateway answers in HTTP/1.1 with the body read
    (uvicorn's httptools protocol handed the app the request without it)."""
    upgrade = (b"POST /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello")
    answer = _exchange(server, [upgrade, b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"])
    assert _answers(answer) == [(200, b"POST"), (200, b"GET")]
    assert _header(answer, b"x-body-bytes") == [b"5", b"0"]


@pytest.mark.slow  # a real server on loopback
def test_a_method_split_behind_a_finished_request_is_refused_not_mangled(server):
    """Its first byte came in the packet that ended the request before it: unknown start, so
    400, never the request with its first bytes lost (``EX`` for ``GEX``)."""
    answer = _exchange(server, [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nG", b"E",
                                b"X /b HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert _answers(answer) == [(200, b"GET"), (400, b"")]


@pytest.mark.slow  # a real server on loopback
def test_a_broken_chunked_body_is_refused_at_once(server):
    """The request is being served, so nothing waits for it: 400 and closed, not a hang."""
    answer, closed = _talk(server, [b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                                    b"zz\r\n"], wait_s=5)
    assert closed and _answers(answer) == [(400, b"")]


@pytest.mark.slow  # a real server on loopback
def test_trailer_fields_are_bounded_and_never_become_request_headers(server):
    start = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
    small = _exchange(server, [start, b"X-Trailer: 1\r\n\r\n"], wait_s=5)
    assert _answers(small) == [(200, b"POST")]
    assert _header(small, b"x-body-bytes") == [b"5"] and _header(small, b"x-trailer-seen") == [b"0"]
    endless = [start] + [b"X-T: " + b"a" * 2000 + b"\r\n"] * 40  # 80 KB of trailer fields
    answer, closed = _talk(server, endless, wait_s=5)
    assert closed and _answers(answer) == [(431, b"")]
    assert b"trailer fields" in answer


@pytest.mark.slow  # a real server on loopback; at most 64 MiB sent
def test_nothing_more_is_read_while_a_refusal_waits_for_the_requests_before_it(server):
    """300 pipelined requests, then bytes no parser takes: the 400 waits for their answers, and
    the connection is not read meanwhile (before, the server read and kept all it was sent:
    ~42 MB here), so the sender stalls at the sockets' buffers until the refusal closes it."""
    sent, junk = 0, b"j" * 65536
    with socket.create_connection(("127.0.0.1", server), timeout=3) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 300 + b"\x01\r\n")
        with contextlib.suppress(OSError):  # reset by the refusal, or stalled: the timeout
            while sent < 64 * 2**20:
                sent += sock.send(junk)
    assert sent < 16 * 2**20


@pytest.mark.slow  # a real server on loopback
def test_many_requests_sending_head_and_body_apart_on_one_connection_are_all_served(server):
    """As httpx does: the head in one packet, the body in the next. 80 heads of ~300 bytes are
    more than 16 KiB together, and none of them is chunk framing or a trailer."""
    head = (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n"
            b"X-Pad: " + b"p" * 200 + b"\r\n\r\n")
    packets = [p for _ in range(80) for p in (head, b'{"n": 1}\n')]
    answer = _exchange(server, [*packets, b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
                       gap_s=0.01)
    assert _answers(answer) == [(200, b"POST")] * 80 + [(200, b"GET")]


@pytest.mark.slow  # a real server on loopback
def test_spaces_after_a_chunk_size_are_taken_as_h11_takes_them(server):
    chunked = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = _exchange(server, chunked + b"5 \r\nhello\r\n3\t\r\nabc\r\n0\r\n\r\n")
    assert _answers(answer) == [(200, b"POST")] and _header(answer, b"x-body-bytes") == [b"8"]
    assert _answers(_exchange(server, chunked + b"5 0\r\nhello\r\n0\r\n\r\n")) == [(400, b"")]


@pytest.mark.slow  # a real server on loopback
def test_a_broken_body_pipelined_behind_a_request_still_being_answered_is_refused_after_it(server):
    """The 400 must not take the place of the answer before it (a client would read it as that)."""
    answer, closed = _talk(server, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                                   b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wait_s=5)
    assert closed and _answers(answer) == [(200, b"GET"), (400, b"")]


@pytest.mark.slow  # a real server on loopback
@pytest.mark.parametrize("size", [20 * 1024, 200 * 1024])
def test_a_whole_head_beyond_16_kib_in_one_read_is_refused_with_431(server, size):
    """curl sends a 20 KiB header in one write: the head ends inside one read, measured there."""
    answer = _exchange(server, b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n", wait_s=5)
    assert _answers(answer) == [(431, b"")] and b"16 KiB" in answer


@pytest.mark.slow  # a real server on loopback
def test_a_head_just_under_16_kib_in_one_read_is_served(server):
    answer = _exchange(server, b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (15 * 1024) +
                       b"\r\nConnection: close\r\n\r\n")
    assert _answers(answer) == [(200, b"GET")]
