"""Reports: the table, JSON lines and JUnit XML read the same verdicts faithfully."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from console.conformance.report import junit_xml, render_table, write_json_lines
from console.conformance.verdict import Verdict

#: The Jenkins xUnit plugin's JUnit schema (source in tests/conformance/data/README.md).
JUNIT_XSD = Path(__file__).parent / "data" / "junit-10.xsd"

VERDICTS = [
    Verdict("/a", "GET", "check-status", "oauth2", "passed", "401, 403, 200", {"request_ids": ["r1"]}, 12.0),
    Verdict("/a", "GET", "check-status", "rollback-on-error", "not-applicable", "GET is safe"),
    Verdict("/a", "GET", "check-status", "restful", "catalogue-defect", "claims RESTful, but …"),
    Verdict("/a", "POST", "add-record", "oauth2", "passed", "ok", {"request_ids": ["r2"]}),
    Verdict("/a", "POST", "add-record", "kafka-event", "failed", "event e1 did not arrive",
            {"request_ids": ["r3"], "transaction_ids": ["t3"], "status": 201}, 10_000.0),
    Verdict("/a", "POST", "add-record", "retry", "skipped", "faults off"),
]


def test_table_has_one_row_per_operation_one_column_per_contract_and_the_failures():
    table = render_table(VERDICTS)
    lines = table.splitlines()
    assert lines[0].split() == ["operation", "oauth", "rollbk", "kafka", "retry", "rest"]
    assert lines[1].split() == ["GET", "/a?action=check-status", "ok", "n/a", ".", ".", "DEF"]
    assert lines[2].split() == ["POST", "/a?action=add-record", "ok", ".", "FAIL", "skip", "."]
    assert "2 operations, 6 verdicts: 2 passed, 1 failed, 1 not-applicable, 1 catalogue-defect, 1 skipped" in table
    assert "POST /a?action=add-record kafka-event: event e1 did not arrive [request r3; transaction t3; status 201]" in table
    assert "skipped:\n  1 × retry: faults off" in table


def test_json_lines_carry_the_required_members():
    stream = io.StringIO()
    write_json_lines(VERDICTS, stream)
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(rows) == len(VERDICTS)
    for row, verdict in zip(rows, VERDICTS, strict=True):
        assert {"path", "method", "action", "contract", "verdict", "evidence"} <= set(row)
        assert Verdict.from_dict(row) == verdict


def test_junit_has_a_suite_per_operation_a_case_per_contract_and_skips_for_the_rest():
    root = ET.fromstring(junit_xml(VERDICTS, wall_s=3.5))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("6", "1")
    assert [s.get("skipped") for s in root.findall("testsuite")] == ["2", "1"]
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["GET /a?action=check-status", "POST /a?action=add-record"]
    cases = {(c.get("classname"), c.get("name")): c for s in suites for c in s.findall("testcase")}
    failed = cases[("POST /a?action=add-record", "kafka-event")]
    failure = failed.find("failure")
    assert failure.get("message") == "event e1 did not arrive"
    assert json.loads(failure.text)["request_ids"] == ["r3"]
    assert failed.get("time") == "10.000"
    assert cases[("GET /a?action=check-status", "rollback-on-error")].find("skipped").get("type") == "not-applicable"
    assert cases[("GET /a?action=check-status", "restful")].find("skipped").get("type") == "catalogue-defect"
    assert cases[("POST /a?action=add-record", "retry")].find("skipped") is not None
    assert cases[("GET /a?action=check-status", "oauth2")].find("failure") is None


@pytest.fixture(scope="module")
def jenkins_junit() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def test_junit_is_valid_against_the_jenkins_xunit_schema(jenkins_junit):
    jenkins_junit.validate(junit_xml(VERDICTS, wall_s=3.5).decode("utf-8"))


def test_the_schema_does_refuse_what_jenkins_refuses(jenkins_junit):
    """The validator is not a rubber stamp: a ``skipped`` count on <testsuites> is refused."""
    root = ET.fromstring(junit_xml(VERDICTS, wall_s=3.5))
    root.set("skipped", "3")
    with pytest.raises(xmlschema.XMLSchemaValidationError, match="skipped"):
        jenkins_junit.validate(ET.tostring(root, encoding="unicode"))


def test_the_run_time_is_the_wall_time_not_the_sum_of_the_checks():
    """Checks run concurrently: 10.012 s of checks inside a 3.5 s run is a 3.5 s run."""
    root = ET.fromstring(junit_xml(VERDICTS, wall_s=3.5))
    assert root.get("time") == "3.500"
    assert sum(float(c.get("time")) for c in root.iter("testcase")) == pytest.approx(10.012)


@pytest.mark.slow
def test_apilog_check_report_passes_the_schema_and_times_the_run(broken_gateway, catalogue, monkeypatch,
                                                                 tmp_path, jenkins_junit):
    import time

    from click.testing import CliRunner

    from console.cli import main
    from tests.conformance.test_cli import first_with, point_at

    target = broken_gateway(catalogue)
    point_at(monkeypatch, target)
    op = first_with(catalogue, "kafka-event")
    report = tmp_path / "junit.xml"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["check", "--operation", op.path, op.method, op.action,
                                       "--contract", "oauth2", "--contract", "kafka-event",
                                       "--report", str(report)])
    outer = time.monotonic() - started
    assert result.exit_code == 0, result.output
    jenkins_junit.validate(str(report))
    run_time = float(ET.parse(report).getroot().get("time"))
    assert 0 < run_time <= outer
