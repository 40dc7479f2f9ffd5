"""Problem details (RFC 9457) in JSON and in XML, as the gateway sends them."""

from __future__ import annotations

import json

from defusedxml.ElementTree import fromstring

from console.gateway.problems import (
    PROBLEM_XML_NAMESPACE,
    QUOTA_EXCEEDED,
    Problem,
    problem_from_xml,
    problem_response,
)


def test_to_dict_has_standard_members_then_extensions():
    problem = Problem(409, "Conflict", "key in flight", type="https://x/t", rolled_back=True, txn="t1")
    assert problem.to_dict() == {
        "type": "https://x/t", "title": "Conflict", "status": 409, "detail": "key in flight",
        "rolled_back": True, "txn": "t1",
    }
    assert list(problem.to_dict())[:4] == ["type", "title", "status", "detail"]


def test_defaults_are_about_blank_and_no_empty_detail():
    assert Problem(404, "Not Found").to_dict() == {"type": "about:blank", "title": "Not Found", "status": 404}


def test_instance_is_an_ordinary_member():
    problem = Problem(404, "Not Found", "no record c9", instance="/customer/update?id=c9")
    assert problem.to_dict()["instance"] == "/customer/update?id=c9"


def test_problem_is_an_exception_with_a_readable_message():
    problem = Problem(413, "Content Too Large", "body is 9 bytes")
    assert str(problem) == "413 Content Too Large: body is 9 bytes"
    assert isinstance(problem, Exception)


def test_json_response_media_type_status_and_headers():
    problem = Problem(429, "Too Many Requests", "slow down", type=QUOTA_EXCEEDED,
                      headers={"Retry-After": "7"})
    response = problem_response(problem, "json")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "7"
    assert json.loads(response.body) == problem.to_dict()


def test_xml_response_uses_the_rfc_namespace_and_reads_back_equal():
    problem = Problem(500, "Internal Server Error", "write failed <&>", rolled_back=True,
                      transaction_id="tx-1", allowed=["a", "b"], nothing=None, tries=3)
    response = problem_response(problem, "xml")
    assert response.headers["content-type"] == "application/problem+xml"
    root = fromstring(response.body)
    assert root.tag == f"{{{PROBLEM_XML_NAMESPACE}}}problem"
    status = root.find(f"{{{PROBLEM_XML_NAMESPACE}}}status")
    assert status.text == "500" and status.get("type") is None  # as RFC 9457's schema has it
    assert problem_from_xml(response.body) == problem.to_dict()
