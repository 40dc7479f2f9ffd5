"""``/openapi.json`` describes what the gateway really answers: schemathesis holds it to that."""

from __future__ import annotations

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

schema = schemathesis.pytest.from_fixture("gateway_schema")


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


def test_document_is_openapi_31_with_every_catalogued_operation(gateway, catalogue):
    document = httpx2.get(f"{gateway.base_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    for op in catalogue.operations:
        operation = document["paths"][op.path][op.method.lower()]
        action = next(p for p in operation["parameters"] if p["name"] == "action")
        assert op.action in action["schema"]["enum"]
    versioned = [op for op in catalogue.operations if op.has("versioning")]
    assert all(f"/v2{op.path}" in document["paths"] for op in versioned)
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == gateway.token_url


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_gateway_conforms_to_its_openapi(case, admin_token):
    """No server error, and every status, media type, header and body as documented.

    The negative-data checks are left out on purpose: one OpenAPI operation stands for several
    catalogued actions (the ``action`` enum), so a key that one action requires and another
    ignores cannot be stated per action in OpenAPI.
    """
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"},
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_headers_conformance, response_schema_conformance])
