"""A catalogue from any OpenAPI 3.0/3.1 document, JSON or YAML, including public ones nobody
here wrote (tests/catalogue/data/openapi/README.md names their source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.catalogue import CatalogueError, load_catalogue
from console.catalogue.cli import catalogue as catalogue_cli
from console.catalogue.formats import parse_text
from console.gateway.openapi import openapi_text

DATA = Path(__file__).parent / "data" / "openapi"


def ops(catalogue) -> dict[tuple[str, str], tuple[str, set[str]]]:
    return {(o.path, o.method): (o.action, {c.slug for c in o.contracts}) for o in catalogue.operations}


def test_petstore_30_json_one_operation_per_path_and_method():
    cat = load_catalogue(DATA / "petstore-3.0.json")
    assert cat.title == "Swagger Petstore"
    assert (len(cat.paths), len(cat.operations)) == (14, 20)
    got = ops(cat)
    assert got[("/pet", "POST")] == ("add-record", {"json-xml"}), "XML beside JSON is stated"
    assert got[("/pet/findByStatus", "GET")][0] == "export-data", "answers a list"
    assert got[("/pet/{petId}", "GET")][0] == "check-status"
    assert got[("/pet/{petId}", "DELETE")] == ("delete-info", set()), "nothing stated, no contract"
    assert got[("/user/{username}", "PUT")][0] == "update-config"
    notes = {n.rule: n for n in cat.notes}
    assert "X-Rate-Limit but no limit" in notes["rate-limit-unstated"].message
    assert any("petstore_auth: oauth2 implicit" in n.message for n in cat.notes)


def test_petstore_31_yaml_gives_the_same_catalogue_as_30_json():
    assert ops(load_catalogue(DATA / "petstore-3.1.yaml")) == ops(load_catalogue(DATA / "petstore-3.0.json"))


def test_a_large_real_document_reads_whole():
    cat = load_catalogue(DATA / "readme-api-3.1.json")
    assert (len(cat.paths), len(cat.operations)) == (28, 54)
    assert {o.method for o in cat.operations} == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert any("security scheme bearer: http bearer" in n.message for n in cat.notes)


def test_rate_limit_headers_with_a_stated_number_become_the_contract():
    cat = load_catalogue(DATA / "train-travel-3.1.json")
    op = cat.operation("/stations", "GET", "check-status")
    assert op.contract("rate-limit").params == {"limit": 10, "window_s": 60}
    assert any(n.rule == "rate-limit-window" for n in cat.notes), "the assumed window is said"


def test_catalogue_cli_shows_and_exports_an_imported_yaml(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(catalogue_cli, ["show", "--operations", str(DATA / "petstore-3.1.yaml")])
    assert shown.exit_code == 0, shown.output
    assert shown.output.rstrip().endswith("20 rows, 20 operations over 14 paths")
    out = tmp_path / "pets.jsonl"
    exported = runner.invoke(catalogue_cli, ["export", str(DATA / "petstore-3.1.yaml"), "--format", "jsonl",
                                             "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert ops(load_catalogue(out)) == ops(load_catalogue(DATA / "petstore-3.1.yaml"))


def _doc(paths: dict, servers: list | None = None) -> str:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    if servers is not None:
        document["servers"] = servers
    return json.dumps(document)


OK = {"responses": {"200": {"description": "ok"}}}


def test_actions_from_an_enum_query_parameter_and_contracts_from_x_apilog():
    text = _doc({"/orders": {"post": {
        "parameters": [{"name": "action", "in": "query", "schema": {"enum": ["add-record", "Kiểm tra trạng thái"]}}],
        "x-apilog-contracts": ["Retry tối đa 5 lần", {"kind": "rate-limit", "limit": 50, "window_s": 60}],
        **OK}}})
    cat = parse_text(text, "orders.json", fmt="openapi")
    assert [o.action for o in cat.operations] == ["add-record", "check-status"]
    op = cat.operations[0]
    assert op.contract("retry").params == {"max_retries": 5}
    assert op.contract("rate-limit").params["limit"] == 50


def test_versions_in_paths_or_servers_become_the_versioning_contract():
    cat = parse_text(_doc({"/v1/a": {"get": OK}, "/v2/a": {"get": OK}, "/b": {"get": OK}}), "v.json", fmt="openapi")
    assert cat.operation("/a", "GET", "check-status").contract("versioning").params == {"versions": ["v1", "v2"]}
    assert not cat.operation("/b", "GET", "check-status").has("versioning")
    servers = [{"url": "https://api.example.test/v1"}, {"url": "https://api.example.test/v2"}]
    cat = parse_text(_doc({"/b": {"get": OK}}, servers), "s.json", fmt="openapi")
    assert cat.operation("/b", "GET", "check-status").has("versioning")


def test_the_export_without_its_rows_reads_back_from_x_apilog_actions(catalogue):
    document = json.loads(openapi_text(catalogue))
    for item in document["paths"].values():
        for operation in item.values():
            operation.pop("x-apilog-rows", None)
    back = parse_text(json.dumps(document), "no-rows.json", fmt="openapi")
    assert {o.key: set(o.contracts) for o in back.operations} == {o.key: set(o.contracts) for o in catalogue.operations}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("broken.yaml", "openapi: 3.0.3\npaths:\n  /a:\n    get: {responses: {200: {description: ok}\n",
     "broken.yaml:4: invalid YAML: did not find expected ',' or '}' — fix the YAML syntax"),
    ("old.yaml", "swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n",
     "old.yaml:1: Swagger 2.0 is not OpenAPI 3 — convert it to OpenAPI 3 first"),
    ("future.json", '{"openapi": "4.0.0", "paths": {"/a": {}}}',
     "future.json:1: openapi: 4.0.0 is not OpenAPI 3.0 or 3.1 — give an OpenAPI 3.0.x or 3.1.x document"),
    ("empty.yml", "openapi: 3.1.0\ninfo: {title: x, version: '1'}\n",
     "empty.yml: the OpenAPI document has no paths — describe at least one path"),
    ("heads.yml", "openapi: 3.1.0\npaths:\n  /a:\n    head: {responses: {200: {description: ok}}}\n",
     "heads.yml:2: no operation with GET, POST, PUT, PATCH or DELETE in the document"),
    ("rocket.json", _doc({"/a": {"get": {"parameters": [
        {"name": "action", "in": "query", "schema": {"enum": ["launch-rocket"]}}], **OK}}}),
     "rocket.json:1: action 'launch-rocket' is not an action of the vocabulary"),
])
def test_bad_documents_are_one_line_naming_file_line_and_fix(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path) + "/") and expected in message, message
    result = CliRunner().invoke(catalogue_cli, ["show", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
