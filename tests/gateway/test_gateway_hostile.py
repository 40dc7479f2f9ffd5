"""The gateway under hostile input, over real HTTP on loopback (issue 11, items 2, 4, 6 and 7).

Each test drives one refusal or protection the way an attacker or a careless client would, and
checks what a user would: the status and problem body, the admin log, the NDJSON file, the data.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid

import httpx2
import pytest

from console.catalogue import Contract as C
from tests.support.broker import wait_until
from tests.support.gateway import fetch_token, make_catalogue, outbox_pending, start_gateway

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLWxlYWs"
V12 = C("versioning", {"versions": ["v1", "v2"]})
OPERATIONS = [
    ("/customer/update", "POST", "add-record", [C("json-xml"), C("full-log")]),
    ("/customer/update", "GET", "check-status", [C("api-gateway")]),
    ("/customer/update", "DELETE", "delete-info", [C("api-gateway")]),
    ("/invoice/export", "GET", "check-status", [V12]),
    ("/invoice/export", "POST", "add-record", [V12]),
    ("/invoice/export", "PUT", "add-record", [C("api-gateway")]),
    ("/network/qos/monitor", "GET", "check-status", [V12, C("rate-limit", {"limit": 1, "window_s": 86400})]),
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    running = start_gateway(catalogue=make_catalogue(OPERATIONS), faults=False, db_path=base / "gateway.db",
                            log_path=base / "access.ndjson")
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def client(gw):
    with httpx2.Client(base_url=gw.base_url, timeout=30,
                       headers={"Authorization": f"Bearer {fetch_token(gw)}"}) as client:
        yield client


def _log(client, response) -> dict:
    record = client.get(f"/admin/log/{response.headers['x-request-id']}")
    assert record.status_code == 200, record.text
    return record.json()


# --- item 2: a client's X-Request-Id never replaces another request's record -------------------

def test_a_client_request_id_never_replaces_another_requests_record(client, gw):
    victim = client.get("/customer/update", params={"action": "check-status"})
    victim_id = victim.headers["x-request-id"]
    before = client.get(f"/admin/log/{victim_id}").json()
    # The attacker needs no token: any endpoint writes a record.
    forged = httpx2.get(f"{gw.base_url}/healthz", headers={"X-Request-Id": victim_id}, timeout=10)
    assert forged.status_code == 200
    assert forged.headers["x-request-id"] != victim_id
    assert forged.headers["x-client-request-id"] == victim_id
    after = client.get(f"/admin/log/{victim_id}").json()
    assert after == before and after["route"]["name"] == "GET /customer/update check-status"
    recorded = client.get(f"/admin/log/{forged.headers['x-request-id']}").json()
    assert recorded["client_request_id"] == victim_id and recorded["route"]["name"] == "GET /healthz"


# --- item 4: XML work is bounded and off the event loop ----------------------------------------

def _raw_post(base_url: str, path: str, body: bytes, token: str) -> socket.socket:
    """Send a whole request on a new connection (the answer is read later)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=120)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def _status_of(sock: socket.socket) -> int:
    with sock:
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.slow
def test_healthz_answers_while_large_xml_bodies_are_being_read(client, gw):
    # 1 MiB of 260,000 elements: read whole on the event loop, six froze every client for 15 s.
    body = b"<r><a type=\"array\">" + b"<i/>" * 260_000 + b"</a></r>"
    assert len(body) < gw.settings.max_body_bytes
    token = client.headers["authorization"].split()[1]
    socks: list[socket.socket] = []
    senders = [threading.Thread(target=lambda: socks.append(
        _raw_post(gw.base_url, "/customer/update?action=add-record", body, token))) for _ in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:  # every body is on the wire (most of it read by the gateway)
        sender.join(60)
    health = httpx2.get(f"{gw.base_url}/healthz", timeout=5)  # the deadline of this test
    assert health.status_code == 200 and health.json()["status"] == "ok"
    statuses = [_status_of(sock) for sock in socks]
    assert statuses == [400] * 6
    refused = httpx2.post(f"{gw.base_url}/customer/update", params={"action": "add-record"}, content=body,
                          headers={"Content-Type": "application/xml", "Authorization": f"Bearer {token}"},
                          timeout=60)
    assert refused.json()["max_elements"] == 20_000 and "20000 elements" in refused.json()["detail"]


def test_xml_number_of_5000_digits_is_400_not_500(client):
    body = b'<r><n type="number">' + b"7" * 5000 + b"</n></r>"
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/xml"})
    assert response.status_code == 400, response.text
    assert response.json()["element"] == "/r/n" and "5000 digits" in response.json()["detail"]


def test_xml_deeper_than_the_limit_is_400_before_the_tree_is_built(client):
    body = b"<a>" * 5000 + b"</a>" * 5000
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/xml"})
    assert response.status_code == 400 and "deeper than 200 levels" in response.json()["detail"]
    assert response.json()["limit"] == "depth"  # refused while parsing, not after


def test_a_large_body_is_parsed_off_the_event_loop(client, monkeypatch):
    from console.gateway import negotiation

    threads = []
    real_parse = negotiation.parse_body

    def watched(*args):
        threads.append(threading.current_thread().name)
        return real_parse(*args)

    monkeypatch.setattr(negotiation, "parse_body", watched)
    large = json.dumps({"note": "n" * 20_000}).encode()
    small = json.dumps({"note": "n"}).encode()
    for body in (large, small):
        response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 201
    assert threads[0].startswith("gateway-parse") and not threads[1].startswith("gateway-parse")


# --- item 6: redaction in the admin log and the NDJSON file --------------------------------------

def _everything_logged(client, gw, response) -> str:
    record = _log(client, response)
    path = gw.settings.log_path
    wait_until(lambda: response.headers["x-request-id"] in path.read_text(), message="the NDJSON line")
    line = next(line for line in path.read_text().splitlines() if response.headers["x-request-id"] in line)
    return json.dumps(record) + line


def test_a_token_in_the_url_path_is_not_logged(client, gw):
    response = httpx2.get(f"{gw.base_url}/leak/{JWT}", timeout=10)
    assert response.status_code == 404
    logged = _everything_logged(client, gw, response)
    assert JWT not in logged and "/leak/REDACTED" in logged
    assert gw.client_secret not in logged


@pytest.mark.parametrize(("body", "secret"), [
    (b'{"pass\\u0077ord": "hunter2-escaped"}', "hunter2-escaped"),
    (b'{"password": 123456789}', "123456789"),
    (b'{"secret": ["hunter2-in-array", 5]}', "hunter2-in-array"),
    (b'{"token": {"inner": "hunter2-in-object"}}', "hunter2-in-object"),
])
def test_secret_fields_are_redacted_whatever_their_value_or_spelling(client, gw, body, secret):
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    logged = _everything_logged(client, gw, response)
    assert secret not in logged


@pytest.mark.parametrize(("body", "secret"), [
    (b'<r><password type="string">hunter2-typed</password></r>', b"hunter2-typed"),
    (b'<r><item key="password">hunter2-item</item></r>', b"hunter2-item"),
])
def test_secret_xml_elements_are_redacted(client, gw, body, secret):
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text
    assert secret.decode() not in _everything_logged(client, gw, response)


def test_a_non_utf8_body_is_scanned_before_it_is_kept_as_base64(client, gw):
    body = b"\xff\xfepassword=hunter2-latin1&client_secret=" + gw.client_secret.encode() + b"\xff"
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    record = _log(client, response)
    kept = record["request"]["body"]
    assert kept["encoding"] == "base64"
    decoded = base64.b64decode(kept["text"])
    assert b"hunter2-latin1" not in decoded and gw.client_secret.encode() not in decoded
    assert b"password=REDACTED" in decoded


def test_a_utf16_body_holding_a_secret_is_withheld(client, gw):
    body = '{"password": "hunter2-wide"}'.encode("utf-16")
    response = client.post("/customer/update", params={"action": "add-record"}, content=body,
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 415
    record = _log(client, response)
    assert "hunter2-wide" not in base64.b64decode(record["request"]["body"]["text"]).decode("utf-16", "replace")


# --- item 7: the smaller ones ---------------------------------------------------------------

def test_a_repeated_action_is_400_and_runs_nothing(client):
    record_id = f"keep-{uuid.uuid4().hex[:8]}"
    assert client.post("/customer/update", params={"action": "add-record"}, json={"id": record_id}).status_code == 201
    response = client.delete(f"/customer/update?action=check-status&action=delete-info&id={record_id}")
    assert response.status_code == 400 and response.json()["parameter"] == "action"
    assert "appears more than once" in response.json()["detail"]
    assert client.get("/customer/update", params={"action": "check-status", "id": record_id}).status_code == 200


@pytest.mark.parametrize("scope", [" ", "", "   \t"])
def test_a_blank_scope_is_no_scope_and_never_admin(gw, scope):
    response = httpx2.post(gw.token_url, data={"grant_type": "client_credentials", "scope": scope},
                           auth=(gw.client_id, gw.client_secret), timeout=10)
    assert response.status_code == 200
    granted = response.json()["scope"].split()
    assert "gateway:admin" not in granted and "customer:read" in granted
    token = response.json()["access_token"]
    admin = httpx2.get(f"{gw.base_url}/admin/log/x", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert admin.status_code == 403


def test_failed_client_authentication_is_throttled_per_client(gw):
    other = start_gateway(catalogue=make_catalogue(OPERATIONS[:1]), faults=False,
                          db_path=gw.db_path.with_name("throttle.db"), extra_clients={"bystander": "b-secret-123"})
    try:
        def token(client_id: str, secret: str) -> httpx2.Response:
            return httpx2.post(other.token_url, data={"grant_type": "client_credentials"},
                               auth=(client_id, secret), timeout=10)

        assert [token(other.client_id, "wrong").status_code for _ in range(5)] == [401] * 5
        throttled = token(other.client_id, "wrong")
        assert throttled.status_code == 429 and throttled.json()["error"] == "temporarily_unavailable"
        assert int(throttled.headers["retry-after"]) >= 1
        # The right secret waits too (or guessing would go on at full speed); other clients do not.
        assert token(other.client_id, other.client_secret).status_code == 429
        assert token("bystander", "b-secret-123").status_code == 200
    finally:
        other.server.stop()


def test_json_in_utf16_is_400(client):
    for codec in ("utf-16", "utf-16-le", "utf-32"):
        response = client.post("/customer/update", params={"action": "add-record"},
                               content='{"id": "wide"}'.encode(codec), headers={"Content-Type": "application/json"})
        assert response.status_code == 400, codec
        assert "not UTF-8" in response.json()["detail"]


def test_allow_under_a_version_prefix_lists_only_what_answers_there(client):
    refused = client.delete("/v1/invoice/export", params={"action": "check-status"})
    assert refused.status_code == 405
    allowed = [m.strip() for m in refused.headers["allow"].split(",")]
    assert allowed == ["GET", "POST"]
    for method in allowed:  # each one listed is served under /v1 (not a 404)
        action = "check-status" if method == "GET" else "add-record"
        answered = client.request(method, "/v1/invoice/export", params={"action": action},
                                  json={} if method == "POST" else None)
        assert answered.status_code not in (404, 405), (method, answered.text)


def test_v1_refusals_carry_deprecation_sunset_and_link(client):
    first = client.get("/v1/network/qos/monitor", params={"action": "check-status"})
    limited = client.get("/v1/network/qos/monitor", params={"action": "check-status"})
    unknown = client.get("/v1/network/qos/monitor", params={"action": "no-such-action"})
    assert (first.status_code, limited.status_code, unknown.status_code) == (200, 429, 404)
    for response in (first, limited, unknown):
        assert response.headers["deprecation"].startswith("@")
        assert response.headers["sunset"].endswith("GMT")
        assert '/v2/network/qos/monitor' in response.headers["link"] and 'rel="successor-version"' in response.headers["link"]


@pytest.mark.parametrize("record_id", ["a\x01b", "a\x7fb", "a\u0085b", "a b", "a/b", "x" * 201])
def test_record_ids_outside_the_published_pattern_are_400_and_write_nothing(client, gw, record_id):
    pending = outbox_pending(gw.db_path)
    added = client.post("/customer/update", params={"action": "add-record"}, json={"id": record_id})
    assert added.status_code == 400 and added.json()["pattern"] == "^[A-Za-z0-9_.-]+$"
    read = client.get("/customer/update", params={"action": "check-status", "id": record_id})
    assert read.status_code == 400
    assert outbox_pending(gw.db_path) == pending  # no event, so no ce_subject, was queued


def test_an_integer_id_is_still_an_id(client):
    record_id = uuid.uuid4().int % 10**9
    assert client.post("/customer/update", params={"action": "add-record"}, json={"id": record_id}).status_code == 201
    assert client.get("/customer/update", params={"action": "check-status", "id": record_id}).status_code == 200
