"""The one OpenAPI document, held to tools nobody here wrote: redocly and spectral lint it with
0 errors, and a Prism mock server built from it answers every catalogued operation with a 2xx.

The tools are npm packages (``npm install -g @redocly/cli @stoplight/spectral-cli
@stoplight/prism-cli``); each test skips, naming the missing tool, where it is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

from console.catalogue.vocabulary import NON_IDEMPOTENT_METHODS, QUERY_METHODS
from console.events.broker import free_port
from console.gateway.openapi import openapi_text

pytestmark = pytest.mark.slow


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (npm install -g @redocly/cli @stoplight/spectral-cli "
                    "@stoplight/prism-cli)")
    return found


@pytest.fixture(scope="module")
def exported(catalogue, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("openapi") / "td448.openapi.json"
    path.write_text(openapi_text(catalogue), encoding="utf-8")
    return path


def test_redocly_lint_finds_no_error(exported):
    redocly = _tool("redocly")
    done = subprocess.run([redocly, "lint", str(exported), "--format=json"], capture_output=True,
                          text=True, timeout=300, cwd=exported.parent)
    problems = json.loads(done.stdout[done.stdout.index("{"):])["problems"]
    errors = [f"{p['ruleId']}: {p['message']}" for p in problems if p["severity"] == "error"]
    assert errors == [] and done.returncode == 0, errors[:10]


def test_spectral_oas_ruleset_finds_no_error(exported):
    spectral = _tool("spectral")
    ruleset = exported.parent / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n', encoding="utf-8")
    done = subprocess.run([spectral, "lint", str(exported), "-r", str(ruleset), "-f", "json", "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=exported.parent)
    results = json.loads(done.stdout or "[]")
    errors = [f"{r['code']}: {r['message']} at {'.'.join(map(str, r['path']))}" for r in results if r["severity"] == 0]
    assert errors == [], errors[:10]


def _wait_for_port(url: str, process: subprocess.Popen, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prism exited {process.returncode}: {process.stdout.read() if process.stdout else ''}")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.2)
    pytest.fail(f"prism did not listen on {url} within {deadline_s:.0f} s")


def test_a_prism_mock_answers_every_catalogued_operation_with_a_2xx(exported, catalogue):
    prism = _tool("prism")
    port = free_port()
    process = subprocess.Popen([prism, "mock", str(exported), "-h", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_port(base, process)
        refused = []
        with httpx2.Client(base_url=base, timeout=30) as client:
            for op in catalogue.operations:
                params = {"action": op.action}
                if op.action == "delete-info":
                    params["id"] = "r1"
                headers = {"Authorization": "Bearer x", "Accept": "application/json"}
                if op.has("retry") and op.method in NON_IDEMPOTENT_METHODS:
                    headers["Idempotency-Key"] = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
                body = None if op.method in QUERY_METHODS else {"name": "Lan"}
                response = client.request(op.method, op.path, params=params, headers=headers, json=body)
                if not 200 <= response.status_code < 300:
                    refused.append(f"{op.label()} → {response.status_code} {response.text[:200]}")
        assert refused == [], refused[:5]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_tool_versions_are_the_ones_docs_name():
    """docs/openapi.md records the versions the checks above last passed with."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "openapi.md").read_text(encoding="utf-8")
    for tool in ("redocly", "spectral", "prism"):
        path = shutil.which(tool)
        if path is None:
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120).stdout
        number = re.search(r"\d+\.\d+\.\d+", version)
        assert number and number.group(0) in docs, f"{tool} {version.strip()} is not recorded in docs/openapi.md"
