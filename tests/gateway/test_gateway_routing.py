"""Routing, REST statuses, the five actions and the envelope headers, over real HTTP."""

from __future__ import annotations

import re
import uuid

import httpx2
import pytest


@pytest.fixture(scope="module")
def client(gateway):
    from tests.support.gateway import fetch_token

    token = fetch_token(gateway)
    with httpx2.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {token}"},
                       timeout=10) as client:
        yield client


def test_unknown_path_is_404_problem_not_html(client):
    response = client.get("/nowhere", params={"action": "check-status"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and "/customer/update" in body["detail"]


def test_method_not_catalogued_is_405_with_allow(gateway_factory, gateway_token):
    from tests.support.gateway import make_catalogue

    gw = gateway_factory(catalogue=make_catalogue([
        ("/customer/update", "GET", "check-status", []),
        ("/customer/update", "POST", "add-record", []),
    ]))
    headers = {"Authorization": f"Bearer {gateway_token(gw)}"}
    response = httpx2.put(f"{gw.base_url}/customer/update", params={"action": "add-record"},
                          headers=headers, json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["status"] == 405


def test_options_is_405_with_allow(client):
    response = client.request("OPTIONS", "/customer/update", params={"action": "check-status"})
    assert response.status_code == 405
    assert "PATCH" in response.headers["allow"]


def test_missing_action_is_400_naming_allowed_actions(client, catalogue):
    response = client.post("/customer/update", json={})
    assert response.status_code == 400
    body = response.json()
    expected = [op.action for op in catalogue.operations_for("/customer/update", "POST")]
    assert body["allowed_actions"] == expected
    for action in expected:
        assert action in body["detail"]


def test_uncatalogued_action_is_404_naming_allowed_actions(client):
    # GET /rpa/task/execute has no delete-info in the catalogue.
    response = client.get("/rpa/task/execute", params={"action": "delete-info", "id": "x"})
    assert response.status_code == 404
    assert "check-status" in response.json()["allowed_actions"]


def test_fixed_endpoint_wrong_method_is_405(client):
    response = client.get("/oauth/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_add_record_201_with_location_then_check_then_delete_204(client):
    record_id = f"fw-{uuid.uuid4().hex[:8]}"
    added = client.put("/security/firewall/config", params={"action": "add-record"},
                       json={"id": record_id, "rule": "deny 10.0.0.0/8", "priority": 5})
    assert added.status_code == 201, added.text
    assert added.headers["location"] == f"/security/firewall/config?action=check-status&id={record_id}"
    record = added.json()
    assert record["id"] == record_id and record["fields"] == {"rule": "deny 10.0.0.0/8", "priority": 5}
    assert record["domain"] == "firewall"
    # the same id again is a conflict, not a second record
    again = client.put("/security/firewall/config", params={"action": "add-record"}, json={"id": record_id})
    assert again.status_code == 409
    status = client.get("/security/firewall/config", params={"action": "check-status", "id": record_id})
    assert status.status_code == 200
    assert status.json()["data"]["status"] == "active"  # versioned operation: unversioned = latest (v2)
    gone = client.delete("/security/firewall/config", params={"action": "delete-info", "id": record_id})
    assert gone.status_code == 204 and gone.content == b""
    assert client.delete("/security/firewall/config",
                         params={"action": "delete-info", "id": record_id}).status_code == 404


def test_delete_without_id_is_400(client):
    response = client.delete("/security/firewall/config", params={"action": "delete-info"})
    assert response.status_code == 400
    assert "id" in response.json()["detail"]


def test_export_pages_with_limit_and_cursor(client):
    ids = [f"lead-{uuid.uuid4().hex[:6]}-{i}" for i in range(5)]
    for record_id in ids:  # PATCH /crm/lead/import add-record (full-log, kafka-event, restful, versioning)
        assert client.patch("/crm/lead/import", params={"action": "add-record"},
                            json={"id": record_id, "score": 1}).status_code == 201
    seen, cursor = [], None
    while True:  # POST /crm/lead/import export-data
        body = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.post("/crm/lead/import", params={"action": "export-data"}, json=body)
        assert page.status_code == 200, page.text
        data = page.json()
        assert data["count"] <= 2
        seen += [item["id"] for item in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in ids] == ids
    bad = client.post("/crm/lead/import", params={"action": "export-data"}, json={"limit": 0})
    assert bad.status_code == 400


def test_update_config_merges_and_null_removes(client):
    first = client.put("/network/qos/monitor", params={"action": "update-config"},
                       json={"threshold_ms": 150, "mode": "strict"})
    assert first.status_code == 200, first.text
    assert first.json()["config"].items() >= {"threshold_ms": 150, "mode": "strict"}.items()
    second = client.put("/network/qos/monitor", params={"action": "update-config"}, json={"mode": None})
    config = second.json()["config"]
    assert config["threshold_ms"] == 150 and "mode" not in config


def test_domain_status_counts_records(client):
    response = client.put("/ivr/callflow", params={"action": "check-status"})
    assert response.status_code == 200
    body = response.json()
    assert body["domain"] == "ivr" and body["status"] == "ok" and isinstance(body["records"], int)


def test_body_that_is_not_an_object_is_400(client):
    response = client.put("/security/firewall/config", params={"action": "add-record"}, json=[1, 2])
    assert response.status_code == 400


def test_malformed_json_is_400_with_line_and_column(client):
    response = client.put("/security/firewall/config", params={"action": "add-record"},
                          content=b'{"a": 1,\n "b": }', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "line 2" in response.json()["detail"]


def test_body_over_the_limit_is_413(client, gateway):
    big = b'{"x": "' + b"a" * (gateway.settings.max_body_bytes + 10) + b'"}'
    response = client.put("/security/firewall/config", params={"action": "add-record"},
                          content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_a_chunked_body_over_the_limit_is_413_problem(client, gateway):
    chunk = b"a" * 65_536
    chunks = gateway.settings.max_body_bytes // len(chunk) + 2
    response = client.put("/security/firewall/config", params={"action": "add-record"},
                          content=(chunk for _ in range(chunks)),
                          headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/customer/update", "/nowhere", "/openapi.json", "/oauth/token",
                                  "/admin/log/x"])
@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PROPFIND"])
def test_uncatalogued_methods_anywhere_answer_problem_json(client, method, path):
    response = client.request(method, path, headers={"Accept": "text/html"})
    assert response.status_code in (404, 405)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code


def test_head_on_an_unknown_path_is_a_bodiless_problem(client):
    response = client.head("/nowhere")
    assert response.status_code == 404 and response.content == b""
    assert response.headers["content-type"] == "application/problem+json"


def test_an_error_of_a_json_only_operation_is_xml_when_the_caller_prefers_it(client, catalogue):
    op = next(op for op in catalogue.operations if not op.has("json-xml"))
    response = client.request(op.method, op.path, params={"action": op.action},
                              headers={"Accept": "application/xml"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+xml"
    assert b'xmlns="urn:ietf:rfc:7807"' in response.content


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad header line\r\n\r\n",
    b"NOT-HTTP\r\n\r\n",
])
def test_a_request_that_is_not_http_is_a_400_problem_not_text(gateway, raw):
    import json
    import socket

    host, port = gateway.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        reply = b""
        while chunk := sock.recv(65_536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    for name in (b"x-request-id: ", b"traceparent: 00-", b"via: "):
        assert name in head.lower()
    assert json.loads(body)["status"] == 400


def test_every_response_has_request_id_traceparent_via_and_server_timing(client):
    for response in (client.get("/healthz"), client.get("/nowhere"),
                     client.put("/ivr/callflow", params={"action": "check-status"})):
        assert response.headers["x-request-id"]
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", response.headers["traceparent"])
        assert "apilog-gateway" in response.headers["via"]
        assert re.fullmatch(r"total;dur=\d+(\.\d+)?", response.headers["server-timing"])


def test_caller_request_id_is_kept_beside_ours_and_traceparent_echoed(client):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = client.put("/ivr/callflow", params={"action": "check-status"},
                          headers={"X-Request-Id": "req-echo-1", "traceparent": traceparent})
    assert response.headers["x-request-id"] != "req-echo-1"
    assert response.headers["x-client-request-id"] == "req-echo-1"
    assert response.headers["traceparent"] == traceparent


@pytest.mark.parametrize(("sent", "continued"), [
    ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", False),  # upper case
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),  # version ff
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", False),  # 00 with a tail
    ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),  # zero trace id
    ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", True),  # a later version
])
def test_traceparent_follows_w3c_validity_rules(client, sent, continued):
    answered = client.get("/healthz", headers={"traceparent": sent}).headers["traceparent"]
    assert answered.startswith("00-")
    if continued:
        assert answered == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    else:  # a new trace
        assert answered.split("-")[1] != sent.split("-")[1].lower()


def test_invalid_traceparent_starts_a_new_trace(client):
    response = client.get("/healthz", headers={"traceparent": "00-zz-bad-01"})
    assert response.headers["traceparent"].startswith("00-")
    assert "zz" not in response.headers["traceparent"]


def test_healthz_needs_no_token(gateway):
    response = httpx2.get(f"{gateway.base_url}/healthz", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["operations"] == 152
    assert "gateway.events.customer" in body["kafka"]["topics"]


def test_jwks_publishes_public_keys_only(gateway):
    keys = httpx2.get(gateway.jwks_url, timeout=5).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and "d" not in k and k.get("kid") for k in keys)


def test_unknown_http_method_is_405_problem_with_allow(client):
    for method in ("FOO", "TRACE"):
        response = client.request(method, "/customer/update", params={"action": "check-status"})
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["allow"] == "GET, POST, PUT, PATCH, DELETE"


@pytest.mark.parametrize("body", [b'{"a": 1e400}', b'{"a": "\\ud800"}', b'{"a": -1e999}'])
def test_unstorable_json_is_400_and_nothing_is_written(client, body):
    before = client.put("/network/qos/monitor", params={"action": "update-config"}, json={}).json()["config"]
    response = client.put("/network/qos/monitor", params={"action": "update-config"}, content=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    after = client.put("/network/qos/monitor", params={"action": "update-config"}, json={}).json()["config"]
    assert after == before


def test_admin_log_answers_its_record_and_the_paths_around_it_as_the_routes_do(client, gateway):
    """GET /admin/log/{id} is served beside the router: same record, same refusals around it."""
    served = client.get("/customer/update", params={"action": "check-status"})
    request_id = served.headers["x-request-id"]
    response = client.get(f"/admin/log/{request_id}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    record = response.json()
    assert record["request_id"] == request_id and record["response"]["status"] == 200
    assert client.get(f"/admin/log/{request_id}").content == response.content  # read twice, same
    admin = client.get(f"/admin/log/{response.headers['x-request-id']}").json()
    assert admin["route"]["name"] == "GET /admin/log/{request_id}" and admin["service"]["name"] == "admin"
    head = client.head(f"/admin/log/{request_id}")
    assert head.status_code == 200 and head.content == b""
    unauthenticated = httpx2.get(f"{gateway.base_url}/admin/log/{request_id}", timeout=10)
    assert unauthenticated.status_code == 401 and "www-authenticate" in unauthenticated.headers
    assert unauthenticated.headers["content-type"] == "application/problem+json"
    for path in ("/admin/log/", f"/admin/log/{request_id}/more"):
        around = client.get(path)
        assert around.status_code == 405 and around.headers["allow"] == "GET", path
        assert around.headers["content-type"] == "application/problem+json"
