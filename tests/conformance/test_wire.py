"""The raw probes' lean HTTP/1.1 client (console.conformance.wire) says what httpx2 would say.

The checks read its answers as httpx2 responses and judge a gateway by them, so the request a
gateway receives must be the one httpx2 sent (target, query encoding, framing headers), and the
answer the same status, headers and body. Each test serves raw HTTP/1.1 on loopback, so that
the server can close, stall or misbehave as real gateways do.
"""
from __future__ import annotations

import asyncio

import httpx2
import pytest

from console.conformance.wire import WireClient, for_url
from tests.caller.test_http_transport import Server, proxy_answering, read_request, response


def wire(timeout: float = 5.0) -> WireClient:
    return WireClient(verify=True, timeout=timeout)


def echo_heads(heads: list[bytes]):
    """Keeps each request's head and body, answers with the connection's number."""
    async def serve(n, reader, writer):
        while True:
            head = await read_request(reader)
            length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length:")), 0)
            heads.append(head + await reader.readexactly(length))
            writer.write(b"HTTP/1.1 201 Created\r\nX-Request-Id: srv-1\r\nRateLimit: \"default\";r=9;t=60\r\n"
                         b"content-type: application/json\r\ncontent-length: 17\r\n\r\n{\"connection\": %d}" % n)
            await writer.drain()
    return serve


def request_line_and_headers(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    line, *fields = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return line, {k.strip().lower(): v.strip() for k, v in (f.split(b":", 1) for f in fields)}


async def test_a_gateway_receives_what_httpx2_would_have_sent_and_the_answer_reads_the_same():
    params = {"action": "add-record", "limit": 5, "q": "Nguyễn Văn An & co/ü?", "flag": True, "none": None}
    sent = {"X-Request-Id": "check-1", "Authorization": "Bearer abc.def", "Content-Type": "application/json"}
    heads: list[bytes] = []
    async with Server(echo_heads(heads)) as server, httpx2.AsyncClient() as http:
        url = f"{server.url}/customer/update"
        ours = await wire().request("PUT", url, params=params, headers=sent, content=b'{"id": "x"}')
        theirs = await http.request("PUT", url, params=params, headers=sent, content=b'{"id": "x"}')
    (line, fields), (their_line, their_fields) = map(request_line_and_headers, heads)
    assert line == their_line  # same target, same query encoding
    assert heads[0].endswith(b'{"id": "x"}')
    for name in (b"host", b"accept", b"content-length", b"content-type", b"authorization", b"x-request-id"):
        assert fields[name] == their_fields[name], name
    assert (ours.status_code, ours.json()) == (201, {"connection": 1})
    assert ours.headers["ratelimit"] == theirs.headers["ratelimit"] == '"default";r=9;t=60'
    assert dict(ours.headers) == dict(theirs.headers)
    assert ours.request.headers["x-request-id"] == "check-1"  # the evidence's fallback
    assert str(ours.request.url) == str(theirs.request.url)


async def test_requests_share_one_kept_alive_connection_and_empty_writes_say_so():
    heads: list[bytes] = []
    client = wire()
    async with Server(echo_heads(heads)) as server:
        answers = [await client.request(method, f"{server.url}/a") for method in ("GET", "POST", "DELETE")]
        await client.aclose()
    assert [a.json() for a in answers] == [{"connection": 1}] * 3
    assert server.connections == 1
    fields = [request_line_and_headers(h)[1] for h in heads]
    # httpx2 frames an empty POST with Content-Length: 0 (some gateways answer 411 otherwise).
    assert [f.get(b"content-length") for f in fields] == [None, b"0", None]


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def one_then_close(n, reader, writer):
        await read_request(reader)
        writer.write(response(b"connection %d" % n))
        await writer.drain()

    client = wire()
    async with Server(one_then_close) as server:
        first = await client.get(f"{server.url}/a")
        await asyncio.sleep(0.05)  # the server's close reaches the client's event loop
        second = await client.get(f"{server.url}/b")
    assert (first.text, second.text) == ("connection 1", "connection 2")


async def test_a_connection_idle_past_the_servers_keep_alive_is_not_reused(monkeypatch):
    # A server that closes at its keep-alive timeout can do so just as the next request leaves.
    monkeypatch.setattr("console.conformance.wire.IDLE_S", 0.05)
    heads: list[bytes] = []
    client = wire()
    async with Server(echo_heads(heads)) as server:
        await client.get(f"{server.url}/a")
        await asyncio.sleep(0.1)
        answer = await client.get(f"{server.url}/b")
        await client.aclose()
    assert answer.json() == {"connection": 2}


async def test_chunked_and_head_answers_and_connection_close():
    async def varied(n, reader, writer):
        while True:
            head = await read_request(reader)
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")  # no body after a HEAD
            elif head.startswith(b"GET /chunked"):
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
            else:  # says it closes, and keeps the socket open a while as lazy servers do
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n"
                             b"content-length: 4\r\n\r\nbusy")
                await writer.drain()
                await asyncio.sleep(0.2)
                return
            await writer.drain()

    client = wire()
    async with Server(varied) as server:
        chunked = await client.get(f"{server.url}/chunked")
        head = await client.request("HEAD", f"{server.url}/h")
        busy = await client.get(f"{server.url}/busy")
        again = await client.get(f"{server.url}/busy")
        await client.aclose()
    assert chunked.text == "abcdefg" and "content-length" not in chunked.headers
    assert (head.status_code, head.content) == (200, b"")
    assert (busy.status_code, busy.text, again.text) == (503, "busy", "busy")
    # The first three on one connection; the answer that said "close" was not followed by a
    # request on its connection (the server would never have read it).
    assert server.connections == 2


async def test_a_silent_server_is_a_read_timeout_naming_the_url_and_cancelling_closes_the_connection():
    async def silent(n, reader, writer):
        await read_request(reader)
        await asyncio.sleep(30)

    client = wire(timeout=0.2)
    async with Server(silent) as server:
        with pytest.raises(httpx2.ReadTimeout, match=r"GET http://127\.0\.0\.1:\d+/slow"):
            await client.get(f"{server.url}/slow")
        client.timeout = 10
        task = asyncio.ensure_future(client.get(f"{server.url}/slow"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not any(client._idle.values()), "a connection with an answer still due was kept"


async def test_a_refused_connection_and_a_server_that_is_not_http_are_httpx2_errors():
    async with Server(lambda *a: asyncio.sleep(0)) as server:
        url = server.url
    with pytest.raises(httpx2.ConnectError, match="refused|Connect call failed"):
        await wire().get(f"{url}/healthz")

    async def garbage(n, reader, writer):
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()

    async with Server(garbage) as server:
        with pytest.raises(httpx2.RemoteProtocolError):
            await wire().get(f"{server.url}/healthz")

    async def hang_up(n, reader, writer):
        await read_request(reader)

    async with Server(hang_up) as server:
        with pytest.raises(httpx2.RemoteProtocolError, match="closed the connection"):
            await wire().get(f"{server.url}/healthz")


async def test_a_proxy_in_the_environment_leaves_the_probes_on_httpx2(no_proxy_env):
    async def lean(url: str) -> bool:
        async with httpx2.AsyncClient() as http:  # reads the environment as the probe's does
            return isinstance(for_url(url, http, verify=True, timeout=1), WireClient)

    assert await lean("http://gateway.invalid")
    no_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert not await lean("http://gateway.invalid")
    assert await lean("https://gateway.invalid")
    no_proxy_env.setenv("NO_PROXY", "gateway.invalid")
    assert await lean("http://gateway.invalid")
    # httpx2's reading of NO_PROXY, not urllib's: ".example.com" covers subdomains only.
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    no_proxy_env.setenv("NO_PROXY", ".example.com")
    assert not await lean("https://example.com")
    assert await lean("https://api.example.com")


async def test_a_probe_behind_a_proxy_sends_its_raw_requests_through_it(no_proxy_env):
    from console.catalogue import load_catalogue
    from console.config import Profile
    from console.conformance.probe import Probe

    token = b'{"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300}'
    answer, lines = proxy_answering(token, b"application/json")
    profile = Profile(name="proxied", base_url="http://gateway.invalid",
                      token_url="http://gateway.invalid/oauth/token",
                      client_id="apilog", client_secret="s3cret-value")
    catalogue = load_catalogue()
    op = next(o for o in catalogue.operations if o.method == "GET")
    async with Server(answer) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        async with Probe.open(profile, catalogue, caller=None, faults_enabled=False) as probe:
            reply = await probe.raw(op)
    assert reply.status_code == 200
    assert set(lines[:-1]) == {b"POST http://gateway.invalid/oauth/token HTTP/1.1"}
    assert lines[-1].startswith(b"GET http://gateway.invalid" + op.path.encode() + b"?action=")


async def test_a_probe_with_a_direct_route_sends_its_raw_requests_on_the_lean_client(no_proxy_env):
    from console.catalogue import load_catalogue
    from console.config import Profile
    from console.conformance.probe import Probe

    token = b'{"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300}'
    answer, lines = proxy_answering(token, b"application/json")
    catalogue = load_catalogue()
    op = next(o for o in catalogue.operations if o.method == "GET")
    async with Server(answer) as server:
        profile = Profile(name="direct", base_url=server.url, token_url=f"{server.url}/oauth/token",
                          client_id="apilog", client_secret="s3cret-value")
        async with Probe.open(profile, catalogue, caller=None, faults_enabled=False) as probe:
            assert isinstance(probe.wire, WireClient)
            reply = await probe.raw(op)
        assert not any(probe.wire._idle.values()), "the probe's connections outlived it"
    assert reply.request.headers["user-agent"].startswith("apilog/")
    assert lines[-1].startswith(b"GET " + op.path.encode() + b"?action=")


async def test_an_answer_sent_before_the_body_was_read_is_still_the_answer():
    # A gateway refuses an oversized body from its headers (413) and closes without reading the
    # rest: the write fails, and the probe must report the 413, as httpx2 does, not the write.
    async def refuse_early(n, reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbig")
        await writer.drain()
        writer.transport.abort()  # a reset, with most of the body still unread

    async with Server(refuse_early) as server:
        answer = await wire().request("POST", f"{server.url}/import", content=b"<a/>" * 4_000_000)
    assert (answer.status_code, answer.text) == (413, "big")


async def test_odd_urls_are_sent_as_httpx2_sends_them():
    # Catalogue paths are whatever the document or an OpenAPI import said ("{id}" templates,
    # spaces); hosts come from a profile as typed. The gateway must see httpx2's request line and
    # Host: path percent-encoded, host lower-cased, user info never in a header.
    heads: list[bytes] = []
    async with Server(echo_heads(heads)) as server, httpx2.AsyncClient() as http:
        port = server.url.rsplit(":", 1)[1]
        url = f"http://op:s3cret@LOCALHOST:{port}/records/{{id}} x/ü"
        await wire().request("GET", url, params={"action": "check-status"})
        await http.request("GET", url, params={"action": "check-status"})
    (line, fields), (their_line, their_fields) = map(request_line_and_headers, heads)
    assert line == their_line == b"GET /records/%7Bid%7D%20x/%C3%BC?action=check-status HTTP/1.1"
    assert fields[b"host"] == their_fields[b"host"] == f"localhost:{port}".encode()


async def test_an_answer_head_larger_than_h11s_default_arrives_in_pieces():
    # httpx2 reads heads up to 100 KiB; h11 alone stops at 16 KiB.
    cookie = b"a" * 40_000

    async def big_head(n, reader, writer):
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nx-trace: %s\r\ncontent-length: 2\r\n\r\nok" % cookie
        for i in range(0, len(head), 4096):
            writer.write(head[i:i + 4096])
            await writer.drain()
            await asyncio.sleep(0.001)

    async with Server(big_head) as server:
        answer = await wire().get(f"{server.url}/h")
    assert (answer.text, len(answer.headers["x-trace"])) == ("ok", len(cookie))


async def test_a_connection_that_never_opens_is_a_connect_timeout(monkeypatch):
    client = wire(timeout=0.2)

    async def never(*args, **kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(client._backend, "connect_tcp", never)
    with pytest.raises(httpx2.ConnectTimeout, match="no connection within"):
        await client.get("http://127.0.0.1:9/healthz")
