"""``/openapi.json`` is the document ``apilog catalogue export --format openapi`` writes, and it
describes what the gateway really answers: schemathesis, with every check, holds the gateway to it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx2
import pytest
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks, negative_data_rejection

from console.catalogue.cli import catalogue as catalogue_cli

pytestmark = pytest.mark.slow

schema = schemathesis.pytest.from_fixture("gateway_schema")
load_all_checks()
#: Every check schemathesis has (the stateful ones find no links and pass).
ALL_CHECKS = CHECKS.get_all()


@pytest.fixture(scope="module")
def gateway_schema(gateway):
    loaded = schemathesis.openapi.from_url(f"{gateway.base_url}/openapi.json")
    # The coverage phase enumerates boundary values for every parameter (hundreds of calls per
    # operation); random positive and negative examples keep CI time modest.
    loaded.config.phases.coverage.enabled = False
    return loaded


@pytest.fixture(scope="module")
def admin_token(gateway):
    from tests.support.gateway import fetch_token

    return fetch_token(gateway)


def test_the_served_document_is_the_exported_one(gateway, tmp_path):
    served = httpx2.get(f"{gateway.base_url}/openapi.json", timeout=10).json()
    out = tmp_path / "td448.openapi.json"
    result = CliRunner().invoke(catalogue_cli, ["export", "--format", "openapi", "--server", gateway.base_url,
                                                "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8")) == served


def test_document_states_success_bodies_scopes_and_action_rules(gateway, catalogue):
    document = httpx2.get(f"{gateway.base_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"][0]["url"] == gateway.base_url
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == gateway.token_url
    for op in catalogue.operations:
        operation = document["paths"][op.path][op.method.lower()]
        action = next(p for p in operation["parameters"] if p["name"] == "action")
        assert op.action in action["schema"]["enum"]
        rules = operation["x-apilog-actions"][op.action]
        assert {"oauth2": [op.scope]} in operation["security"], "one scope is enough"
        assert str(rules["success"]) in operation["responses"]
        assert ("Idempotency-Key" in rules["requires"]) == (op.has("retry") and op.method in ("POST", "PATCH"))
        assert ("id" in rules["requires"]) == (op.action == "delete-info")
        if op.has("json-xml") and op.method not in ("GET", "DELETE"):
            assert "application/xml" in operation["requestBody"]["content"]
    add = next(op for op in catalogue.operations if op.action == "add-record")
    created = document["paths"][add.path][add.method.lower()]["responses"]["201"]
    assert created["headers"]["Location"] == {"$ref": "#/components/headers/Location"}
    assert document["components"]["headers"]["Location"]["required"] is True
    limited = next(op for op in catalogue.operations if op.has("rate-limit")
                   and all(o.has("rate-limit") for o in catalogue.operations_for(op.path, op.method)))
    ok = document["paths"][limited.path][limited.method.lower()]["responses"]
    assert "RateLimit-Policy" in next(r for s, r in ok.items() if s.startswith("2"))["headers"]
    versioned = next(op for op in catalogue.operations if op.has("versioning"))
    v1 = document["paths"][f"/v1{versioned.path}"][versioned.method.lower()]
    assert v1["deprecated"] is True
    success = next(r for s, r in v1["responses"].items() if s.startswith("2"))
    assert {"Deprecation", "Sunset", "Link"} <= set(success["headers"])
    assert document["paths"][f"/v2{versioned.path}"][versioned.method.lower()].get("deprecated") is None


#: Query parameters of their own, which ``fields`` must not repeat.
RESERVED = {"action", "id", "limit", "cursor"}


def _valid(value: Any, rule: dict[str, Any], from_query: bool) -> bool:
    """Whether ``value`` meets one ``x-apilog-actions[...]["input"]`` schema (the few keywords
    the gateway's rules use)."""
    types = rule.get("type", [])
    types = types if isinstance(types, list) else [types]
    if "integer" in types and "string" not in types:
        try:
            value = int(value) if from_query or isinstance(value, str) else value
        except ValueError:
            return False
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return rule.get("minimum", value) <= value <= rule.get("maximum", value)
    if value is None:
        return "null" in types
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return rule.get("minLength", 0) <= len(text) <= rule.get("maxLength", len(text))


def follow_action_rules(case: Any) -> None:
    """Make a positive case valid for the action it names, as ``x-apilog-actions`` states.

    One OpenAPI operation stands for several catalogued actions, and OpenAPI has no way to make
    a parameter depend on another's value; the document states each action's own rules in
    ``x-apilog-actions`` (docs/openapi.md), and this is how a client generator reads them.
    """
    if any(info.mode.is_negative for info in case._meta.components.values()):
        return
    rules = case.operation.definition.raw["x-apilog-actions"][case.query["action"]]
    body = case.body if isinstance(case.body, dict) else None
    extra = case.query.get("fields")
    if isinstance(extra, dict) and set(extra) & RESERVED:
        # `fields` explodes into the query string beside the parameters of the same names.
        case.query = {**case.query, "fields": {k: v for k, v in extra.items() if k not in RESERVED}}
    for name, rule in rules["input"].items():
        if name in case.query and not _valid(case.query[name], rule, from_query=True):
            case.query = {k: v for k, v in case.query.items() if k != name}
        if body is not None and name in body and not _valid(body[name], rule, from_query=False):
            case.body = body = {k: v for k, v in body.items() if k != name}
    if "id" in rules["requires"] and "id" not in case.query and not (body and "id" in body):
        case.query = {**case.query, "id": f"r-{uuid.uuid4().hex[:8]}"}
    # A key names one logical request: generated keys repeat across examples with other bodies,
    # which the gateway rightly refuses (422), so every positive case gets a key of its own.
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "idempotency-key"}
    if "Idempotency-Key" in rules["requires"] or len(headers) < len(case.headers or {}):
        case.headers = {**headers, "Idempotency-Key": f'"{uuid.uuid4()}"'}
    if case.media_type == "application/xml" and not rules["xml"]:
        case.media_type = "application/json"


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_gateway_conforms_to_its_openapi(case, admin_token):
    """Every schemathesis check: no server error; every status, media type, header and body as
    documented; invalid data refused, valid data (per action) accepted; 405 + Allow for
    undocumented methods; 401 without the token."""
    follow_action_rules(case)
    checks = ALL_CHECKS
    if case.media_type == "application/xml" and any(info.mode.is_negative for info in case._meta.components.values()):
        # schemathesis writes a schema-violating XML body (null, a list, a bare value) as child
        # elements of <request>, which is a valid object again by the time it is sent.
        checks = [check for check in ALL_CHECKS if check is not negative_data_rejection]
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=checks)
