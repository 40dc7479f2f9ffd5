"""``apilog check`` against a gateway that is not the sandbox changes nothing unless allowed.

The proof is the gateway's own access log: with a read-only profile, or without
``--allow-writes``, not one POST, PUT, PATCH or DELETE reaches a catalogued path (the token
endpoint's POST changes no data), and every check that would have written is ``skipped`` with
the reason.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.support.profiles import write_config

pytestmark = pytest.mark.slow

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def gateway_methods(log_path) -> list[tuple[str, str]]:
    """(method, uri) of every request the gateway logged, the token endpoint left out."""
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    return [(r["request"]["method"], r["request"]["uri"]) for r in records
            if not r["request"]["uri"].startswith("/oauth/token")]


def write_profile(tmp_path, target, *, readonly: bool) -> str:
    """A ``prod`` profile naming ``target``; the path of its catalogue as a file."""
    from console.catalogue.formats import write_catalogue

    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(write_catalogue(target.catalogue, "json"), encoding="utf-8")
    write_config(f"""
[profiles.prod]
base_url = "{target.base_url}"
token_url = "{target.token_url}"
client_id = "{target.client_id}"
client_secret_env = "PROD_SECRET"
kafka_bootstrap = "{target.kafka_bootstrap}"
readonly = {"true" if readonly else "false"}
""")
    return str(catalogue)


@pytest.mark.parametrize(("readonly", "reason"), [(True, "read-only profile"),
                                                   (False, "writes not allowed")])
def test_check_sends_no_state_changing_request(broken_gateway, tmp_path, monkeypatch, readonly, reason):
    access_log = tmp_path / "access.ndjson"
    target = broken_gateway(log_path=access_log)
    catalogue = write_profile(tmp_path, target, readonly=readonly)
    monkeypatch.setenv("PROD_SECRET", target.client_secret)
    result = CliRunner().invoke(main, ["--catalogue", catalogue, "check", "--profile", "prod", "--json"])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    sent = gateway_methods(access_log)
    assert sent, "the reads were checked against the gateway"
    assert not [(m, uri) for m, uri in sent if m in STATE_CHANGING]
    by_op = {(v["method"], v["action"]): v for v in verdicts if v["contract"] == "oauth2"}
    writer = by_op[("POST", "add-record")]
    assert writer["verdict"] == "skipped" and writer["reason"].startswith(reason)
    reader = by_op[("GET", "check-status")]
    assert reader["verdict"] == "passed"
    assert {v["verdict"] for v in verdicts} >= {"passed", "skipped"}
    assert not [v for v in verdicts if v["verdict"] == "failed"]


def test_allow_writes_on_a_read_only_profile_is_refused_in_one_line(broken_gateway, tmp_path, monkeypatch):
    access_log = tmp_path / "access.ndjson"
    target = broken_gateway(log_path=access_log)
    catalogue = write_profile(tmp_path, target, readonly=True)
    monkeypatch.setenv("PROD_SECRET", target.client_secret)
    result = CliRunner().invoke(main, ["--catalogue", catalogue, "check", "--profile", "prod",
                                       "--allow-writes"])
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: profile 'prod' is read-only: --allow-writes is "
                                     "refused; use a profile without readonly = true")
    assert not access_log.exists() or not gateway_methods(access_log)
