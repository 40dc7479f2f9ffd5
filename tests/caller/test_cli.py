"""``apilog call`` and ``apilog log`` end to end: real HTTP, real log file, real exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from console.catalogue.formats import write_catalogue
from console.cli import main
from tests.support.txlog import CLIENT_ID, CLIENT_SECRET, small_catalogue
from tests.txlog.har_schema import HAR_SCHEMA

PATH = "/customer/update"


@pytest.fixture
def cli(tmp_path, mini_gateway, monkeypatch):
    catalogue = tmp_path / "small.jsonl"
    catalogue.write_text(write_catalogue(small_catalogue(), "jsonl"), encoding="utf-8")
    monkeypatch.setenv("APILOG_BASE_URL", mini_gateway.base_url)
    monkeypatch.setenv("APILOG_TOKEN_URL", mini_gateway.token_url)
    monkeypatch.setenv("APILOG_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("APILOG_CLIENT_SECRET", CLIENT_SECRET)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["--catalogue", str(catalogue), *args], catch_exceptions=False)

    return run


def test_call_json_then_list_show_curl_and_exports(cli, mini_gateway, tmp_path):
    done = cli("call", PATH, "POST", "add-record", "--body", '{"name": "An"}',
               "-H", "X-Fault-Fail-Attempts: 1", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert {"transaction_id", "outcome", "status", "attempts", "rolled_back", "event_id", "elapsed_ms"} <= set(data)
    assert (data["outcome"], data["status"], data["attempts"], data["event_id"]) == ("committed", 201, 2, "evt-1")

    body_file = tmp_path / "body.json"
    body_file.write_text('{"mode": "off"}')
    failed = cli("call", PATH, "DELETE", "delete-info", "--id", "7", "-H", "X-Fault-After-Write: true")
    assert failed.exit_code == 1 and "ROLLED_BACK" in failed.output and "rolled back: yes" in failed.output
    assert cli("call", PATH, "PATCH", "update-config", "--xml", "--body", f"@{body_file}").exit_code == 0
    assert "<mode>off</mode>" in mini_gateway.requests[-1]["body"]

    listed = cli("log", "list", "--json")
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["action"] for r in rows] == ["update-config", "delete-info", "add-record"]
    assert [json.loads(x)["outcome"] for x in cli("log", "list", "--outcome", "rolled_back", "--json").output.splitlines()] == ["rolled_back"]

    shown = json.loads(cli("log", "show", data["transaction_id"], "--json").output)
    assert [a["status"] for a in shown["attempts"]] == [503, 201]
    assert shown["request_headers"]["Authorization"] == "REDACTED"
    assert "rolled back: no" in cli("log", "show", data["transaction_id"]).output

    curl = cli("log", "curl", data["transaction_id"]).output
    assert '"Authorization: Bearer $TOKEN"' in curl and "action=add-record" in curl and "REDACTED" not in curl

    ndjson = cli("log", "export", "--format", "ndjson").output.splitlines()
    assert len(ndjson) == 3 and json.loads(ndjson[-1])["attempts"][0]["status"] == 503
    table = list(csv.DictReader(io.StringIO(cli("log", "export", "--format", "csv").output)))
    assert [r["outcome"] for r in table] == ["committed", "rolled_back", "committed"]

    har_path = tmp_path / "calls.har"
    assert cli("log", "export", "--format", "har", "-o", str(har_path)).exit_code == 0
    har = json.loads(har_path.read_text())
    import jsonschema_rs

    jsonschema_rs.validate(HAR_SCHEMA, har)
    entries = har["log"]["entries"]
    assert len(entries) == 3 and entries[0]["_outcome"] == "committed"
    for entry in entries:
        spent = sum(v for v in entry["timings"].values() if v != -1)
        assert entry["time"] == pytest.approx(spent)
    assert entries[0]["request"]["postData"]["text"] == '{"name": "An"}'
    assert {"name": "action", "value": "add-record"} in entries[0]["request"]["queryString"]


def test_har_schema_catches_a_broken_document():
    import jsonschema_rs

    broken = {"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                      "entries": [{"startedDateTime": "yesterday", "time": 1}]}}
    assert not jsonschema_rs.is_valid(HAR_SCHEMA, broken)


def test_failed_call_exits_1(cli):
    result = cli("call", PATH, "POST", "add-record", "--body", "{}", "-H", "X-Fault-Abort: 422")
    assert result.exit_code == 1 and "REJECTED" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (("call", PATH, "POST", "add-record", "--body", "{oops"), "--body: not valid JSON at line 1"),
    (("call", PATH, "POST", "add-record", "--body", "@/nonexistent/x.json"), "cannot read the file"),
    (("call", PATH, "POST", "add-record", "-H", "no colon"), "write a header as 'Name: value'"),
    (("call", PATH, "GET", "add-record"), "actions: check-status, export-data"),
    (("call", "/nowhere", "GET", "check-status"), "is not in the catalogue"),
    (("call", PATH, "GET", "check-status", "--version", "2"), "write it as v1"),
    (("log", "show", "NOPE"), "no transaction 'NOPE'"),
    (("log", "list", "--since", "yesterday"), "give a duration like 15m"),
    (("--readonly", "call", PATH, "PATCH", "update-config", "--body", "{}"), "is read-only"),
])
def test_bad_input_is_one_clear_line(cli, args, message):
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_missing_secret_names_the_fix(cli, monkeypatch):
    monkeypatch.delenv("APILOG_CLIENT_SECRET")
    result = cli("call", PATH, "GET", "check-status")
    assert result.exit_code == 2 and "set APILOG_CLIENT_SECRET" in result.output


def test_a_damaged_log_file_is_reported_and_kept(cli, tmp_path, monkeypatch):
    data = tmp_path / "damaged"
    data.mkdir()
    (data / "transactions.db").write_bytes(b"this is not an sqlite database" * 100)
    monkeypatch.setenv("APILOG_DATA_DIR", str(data))
    for args, code in ((("log", "list"), 1), (("call", PATH, "GET", "check-status"), 2)):
        result = cli(*args)
        assert result.exit_code == code and "cannot open the transaction log" in result.output
        assert "Traceback" not in result.output
    assert (data / "transactions.db").read_bytes().startswith(b"this is not an sqlite database")


def test_prune_keeps_the_newest(cli):
    for _ in range(3):
        assert cli("call", PATH, "GET", "check-status").exit_code == 0
    assert "give --max-age-days" in cli("log", "prune").output
    assert cli("log", "prune", "--max-rows", "1").output.strip() == "2 transactions removed"
    assert len(cli("log", "list", "--json").output.splitlines()) == 1
