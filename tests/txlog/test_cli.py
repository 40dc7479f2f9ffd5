"""``apilog log`` on bad numbers and the origin filter, against a real log file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from console.cli import main
from console.txlog import open_log
from tests.txlog.test_store import result

HUGE = "99999999999999999999"


@pytest.fixture
def log_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("APILOG_DATA_DIR", str(tmp_path / "apilog"))
    with open_log(tmp_path / "apilog" / "transactions.db") as log:
        for origin in ("cli", "console", "check", None):
            tx = log.begin(method="GET", path="/p", action="check-status", origin=origin)
            log.finish(tx, result("ok", 200))

    def run(*args: str):
        return CliRunner().invoke(main, ["log", *args])

    return run


@pytest.mark.parametrize(("args", "names"), [
    (("list", "--limit", HUGE), "--limit"),
    (("list", "--limit", "0"), "--limit"),
    (("prune", "--max-rows", HUGE), "--max-rows"),
    (("prune", "--max-rows", "-1"), "--max-rows"),
    (("prune", "--max-age-days", "-3"), "--max-age-days"),
    (("prune", "--max-age-days", "nan"), "--max-age-days"),
])
def test_numbers_out_of_range_are_one_line_and_exit_2(log_cli, args, names):
    out = log_cli(*args)
    assert out.exit_code == 2, out.output
    assert out.output.count("\n") == 1 and names in out.output and "give a" in out.output
    assert log_cli("list").output.count("\n") == 4, "nothing was removed"


def test_the_largest_numbers_that_are_allowed_work(log_cli):
    assert log_cli("list", "--limit", "1000000").output.count("\n") == 4
    kept = log_cli("prune", "--max-rows", str(2**63 - 1))
    assert kept.exit_code == 0 and kept.output == "0 transactions removed\n"


def test_list_and_export_filter_by_origin(log_cli):
    listed = [json.loads(line) for line in log_cli("list", "--origin", "cli", "--origin", "check",
                                                   "--json").output.splitlines()]
    assert sorted(tx["origin"] for tx in listed) == ["check", "cli"]
    exported = log_cli("export", "--format", "ndjson", "--origin", "console").output.splitlines()
    assert [json.loads(line)["origin"] for line in exported] == ["console"]
    assert "'robot' is not one of 'console', 'cli', 'check'" in log_cli("list", "--origin", "robot").output
