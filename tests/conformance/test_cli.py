"""``apilog check`` end to end: progress on stderr, table or JSON lines on stdout, JUnit XML on
disk, exit 0 only when nothing failed, one-line errors for bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from console.cli import main
from tests.conformance import broken


def point_at(monkeypatch, target) -> None:
    monkeypatch.setenv("APILOG_BASE_URL", target.base_url)
    monkeypatch.setenv("APILOG_TOKEN_URL", target.token_url)
    monkeypatch.setenv("APILOG_CLIENT_ID", target.client_id)
    monkeypatch.setenv("APILOG_CLIENT_SECRET", target.client_secret)
    monkeypatch.setenv("APILOG_KAFKA_BOOTSTRAP", target.kafka_bootstrap)


def first_with(catalogue, slug: str):
    return next(op for op in catalogue.operations if op.has(slug) and op.method == "POST")


def test_check_passes_writes_json_lines_and_junit(broken_gateway, catalogue, monkeypatch, tmp_path):
    target = broken_gateway(catalogue)
    point_at(monkeypatch, target)
    op = first_with(catalogue, "kafka-event")
    report = tmp_path / "junit.xml"
    result = CliRunner().invoke(main, ["check", "--operation", op.path, op.method, op.action,
                                       "--contract", "oauth2", "--contract", "kafka-event",
                                       "--allow-writes", "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["contract"], r["verdict"]) for r in rows] == [("oauth2", "passed"), ("kafka-event", "passed")]
    assert rows[1]["evidence"]["event"]["type"] == f"apilog.{op.domain}.{op.action}"
    assert "checked 2/2" in result.stderr
    assert target.client_secret not in result.output and "eyJ" not in result.output, "no secret, no token"
    assert target.client_secret not in report.read_text() and "eyJ" not in report.read_text()
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite.get("name") == op.label() and suite.get("tests") == "2" and suite.get("failures") == "0"


def test_a_failed_check_exits_1_and_names_it_in_the_table(broken_gateway, catalogue, monkeypatch):
    target = broken_gateway(catalogue, wrap=lambda app: broken.Tamper(app, response=broken.drop_headers("via")))
    point_at(monkeypatch, target)
    op = first_with(catalogue, "api-gateway")
    result = CliRunner().invoke(main, ["check", "--operation", op.path, op.method, op.action,
                                       "--contract", "api-gateway", "--allow-writes"])
    assert result.exit_code == 1, result.output
    assert "1 failed" in result.stdout
    assert f"{op.label()} api-gateway: no Via header" in result.stdout


def test_bad_input_is_one_line_naming_the_fix(catalogue):
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--contract", "speed"])
    assert result.exit_code == 2
    assert "--contract speed: unknown contract; use one of oauth2" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["check", "--operation", "/customer/update", "GET", "nope"])
    assert result.exit_code == 2
    assert "not in the catalogue (catalogued actions for GET /customer/update:" in result.output


def test_an_unreachable_gateway_is_one_line_not_a_traceback(monkeypatch):
    from console.events.broker import free_port

    port = free_port()
    monkeypatch.setenv("APILOG_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("APILOG_TOKEN_URL", f"http://127.0.0.1:{port}/oauth/token")
    monkeypatch.setenv("APILOG_CLIENT_ID", "someone")
    monkeypatch.setenv("APILOG_CLIENT_SECRET", "something")
    result = CliRunner().invoke(main, ["check", "--contract", "oauth2"])
    assert result.exit_code == 1
    assert f"the gateway at http://127.0.0.1:{port} did not answer" in result.output
    assert "Traceback" not in result.output
