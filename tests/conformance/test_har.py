"""The HAR 1.2 entry built from a gateway full-log record, and the validator that judges it."""

from __future__ import annotations

import copy

from console.conformance.har import entry_from_record, validate_entry

RECORD = {
    "request_id": "r1", "started_at": "2026-11-26T18:00:00.000Z",
    "request": {"method": "POST", "uri": "/customer/update?action=add-record", "path": "/customer/update",
                "querystring": "action=add-record", "size": 11,
                "headers": {"content-type": "application/json", "authorization": "REDACTED"},
                "body": {"mime_type": "application/json", "size": 11, "truncated": False, "text": '{"id": "x"}'}},
    "response": {"status": 201, "size": 20, "headers": {"content-type": "application/json"},
                 "body": {"mime_type": "application/json", "size": 20, "truncated": False,
                          "text": '{"id": "x", "a": 1}'}},
    "latencies": {"request": 4.2, "gateway": 1.0, "proxy": 3.2},
}


def test_a_full_log_record_makes_a_valid_entry():
    entry = entry_from_record(RECORD, "http://gw")
    assert validate_entry(entry) == []
    assert entry["request"]["url"] == "http://gw/customer/update?action=add-record"
    assert entry["request"]["queryString"] == [{"name": "action", "value": "add-record"}]
    assert entry["request"]["postData"]["text"] == '{"id": "x"}'
    assert entry["response"]["statusText"] == "Created"


def test_the_validator_names_each_missing_or_mistyped_member():
    entry = entry_from_record(RECORD, "http://gw")
    broken = copy.deepcopy(entry)
    del broken["request"]["httpVersion"]
    broken["response"]["status"] = "201"
    broken["response"]["headers"].append({"name": "x"})
    broken["startedDateTime"] = "yesterday"
    problems = validate_entry(broken)
    assert "request.httpVersion is missing" in problems
    assert "response.status has the wrong type (str)" in problems
    assert any(p.startswith("response.headers: {'name': 'x'}") for p in problems)
    assert "startedDateTime 'yesterday' is not ISO 8601" in problems
