"""Format round trips, lint, and the catalogue CLI's answers to bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from console.catalogue import load_catalogue
from console.catalogue.cli import catalogue as catalogue_cli
from console.catalogue.formats import parse_text, write_catalogue
from console.catalogue.lint import lint, restful_defect
from console.gateway.openapi import openapi_text


def _same(a, b):
    assert [r.to_dict() for r in a.rows] == [r.to_dict() for r in b.rows]
    assert [(o.key, o.contracts, o.rows, o.pages) for o in a.operations] == \
        [(o.key, o.contracts, o.rows, o.pages) for o in b.operations]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "md", "openapi"])
def test_round_trip_through_a_file(tmp_path, catalogue, fmt):
    path = tmp_path / f"catalogue.{ {'openapi': 'json'}.get(fmt, fmt) }"
    text = openapi_text(catalogue) if fmt == "openapi" else write_catalogue(catalogue, fmt)
    path.write_text(text, encoding="utf-8")
    _same(load_catalogue(path), catalogue)


def test_jsonl_shape(catalogue):
    first = json.loads(write_catalogue(catalogue, "jsonl").splitlines()[0])
    assert set(first) == {"row", "page", "path", "method", "action", "result", "policy", "description"}
    retry = next(json.loads(line) for line in write_catalogue(catalogue, "jsonl").splitlines()
                 if '"retry"' in line)
    assert retry["result"] == {"kind": "retry", "max_retries": 3}


def test_openapi_document(catalogue):
    doc = json.loads(openapi_text(catalogue))
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "http://127.0.0.1:8080", "description": "apilog gateway"}]
    unversioned = {p: item for p, item in doc["paths"].items() if p in catalogue.paths}
    assert len(unversioned) == 7
    for item in unversioned.values():
        for op_doc in item.values():
            action = next(p for p in op_doc["parameters"] if p["name"] == "action")
            assert action["required"] is True and action["in"] == "query"
            assert action["schema"]["enum"] == list(op_doc["x-apilog-actions"])
    n_ops = sum(len(o["x-apilog-actions"]) for item in unversioned.values() for o in item.values())
    assert n_ops == 152


def test_csv_error_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("path,method,action,result,policy\n/a,GET,check-status,full-log,restful\n"
                    "/b,FETCH,check-status,full-log,restful\n", encoding="utf-8")
    result = CliRunner().invoke(catalogue_cli, ["show", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:" in result.output and "FETCH" in result.output


def test_lint_finds_the_documents_contradictions(catalogue):
    findings = lint(catalogue)
    by_row = {}
    for f in findings:
        by_row.setdefault(f.row, set()).add(f.rule)
    # Row 3: GET /security/firewall/config to delete information.
    assert "unsafe-get" in by_row[3]
    rules = {f.rule for f in findings}
    assert {"unsafe-get", "restful-method-action", "retry-non-idempotent", "rollback-on-safe",
            "corrected-typo"} <= rules
    for f in findings:
        if f.rule == "restful-method-action":
            row = catalogue.rows[f.row - 1]
            assert row.policy.slug == "restful" and f.severity == "error"
        if f.rule == "retry-non-idempotent":
            assert catalogue.rows[f.row - 1].method in {"POST", "PATCH"}
    defects = [op for op in catalogue.operations if restful_defect(op)]
    assert defects and all(op.has("restful") for op in defects)
    fine = catalogue.operation("/invoice/export", "POST", "update-config")
    assert fine is not None and restful_defect(fine) is None


def test_lint_unknown_value_names_the_closest(tmp_path):
    path = tmp_path / "typo.txt"
    path.write_text("/a\tPOST\tThêm bản ghi\tx\tRollbak khi loi\tSomething else entirely\n", encoding="utf-8")
    result = CliRunner().invoke(catalogue_cli, ["lint", str(path), "--format", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert all(set(f) == {"severity", "rule", "row", "page", "message"} for f in findings)
    unknown = [f for f in findings if f["rule"] == "unknown-policy"]
    assert unknown and unknown[0]["severity"] == "error" and "closest" in unknown[0]["message"]
    typo = [f for f in findings if f["rule"] == "corrected-typo"]
    assert typo and "Rollback khi lỗi" in typo[0]["message"]
    # The strict import refuses the same file, naming the line.
    shown = CliRunner().invoke(catalogue_cli, ["show", str(path)])
    assert shown.exit_code == 2 and f"{path}:1:" in shown.output


def test_clean_catalogue_lints_with_exit_0(tmp_path):
    path = tmp_path / "clean.txt"
    path.write_text("/a/b\tPOST\tThêm bản ghi\tx\tLog đầy đủ\tTheo chuẩn RESTful\n", encoding="utf-8")
    assert CliRunner().invoke(catalogue_cli, ["lint", str(path)]).exit_code == 0


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "binary": (b"\x7fELF\x02\x01\x00\x00" * 20, "binary"),
    "too-few-cells": ("/a\tGET\tThêm bản ghi\n".encode(), "cells"),
    "unknown-method": ("/a\tFETCH\tThêm bản ghi\td\tLog đầy đủ\tTheo chuẩn RESTful\n".encode(), "FETCH"),
    "no-rows": ("\n\tVIETTEL AI RACE\tTD448\n\tQUẢN LÝ API & LOG\tLần ban hành: 1\n\n"
                "API\tPhương thức\tHành động\tMô tả chi tiết\tKết quả\tGhi chú\n".encode(), "no catalogue rows"),
    "latin1": ("/a\tGET\tKiểm tra trạng thái\td\tLog đầy đủ\tTheo chuẩn RESTful\n".encode("utf-16-le")[2:40]
               .replace(b"\x00", b"") + "é".encode("latin-1"), "UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path, name):
    data, needle = BAD_INPUTS[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-m", "console.cli", "catalogue", "show", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and needle in lines[0]


def test_missing_file(tmp_path):
    result = CliRunner().invoke(catalogue_cli, ["lint", str(tmp_path / "nope.txt")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_show_and_export_cli(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(catalogue_cli, ["show", "--operations"])
    assert shown.exit_code == 0 and "152 operations over 7 paths" in shown.output
    out = tmp_path / "c.jsonl"
    exported = runner.invoke(catalogue_cli, ["export", "--format", "jsonl", "-o", str(out)])
    assert exported.exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 320
    again = runner.invoke(catalogue_cli, ["export", str(out), "--format", "md"])
    assert again.exit_code == 0 and again.output.count("\n") == 322


def test_a_row_is_never_dropped_when_a_later_line_is_bad(tmp_path):
    text = ("/a\tPOST\tThêm bản ghi\td\tLog đầy đủ\tTheo chuẩn RESTful\n"
            "/b\tPOST\tThêm bản ghi\n")
    with pytest.raises(Exception) as info:
        parse_text(text, "partial.txt")
    assert "partial.txt:2" in str(info.value)


def test_export_server_option_is_for_openapi_and_takes_a_url(tmp_path):
    runner = CliRunner()
    result = runner.invoke(catalogue_cli, ["export", "--format", "jsonl", "--server", "https://gw.test"])
    assert result.exit_code == 2 and "--server applies to --format openapi only" in result.output
    result = runner.invoke(catalogue_cli, ["export", "--format", "openapi", "--server", "gw.test:8443"])
    assert result.exit_code == 2 and "not an http(s) URL" in result.output
    out = tmp_path / "gw.json"
    result = runner.invoke(catalogue_cli, ["export", "--format", "openapi", "--server", "https://gw.test:8443/",
                                           "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["servers"][0]["url"] == "https://gw.test:8443"
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "https://gw.test:8443/oauth/token"
