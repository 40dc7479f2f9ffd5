"""``apilog serve``'s rules that need no server: the command each tab runs, and the warning."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from console import serve as serve_module
from console.children import module_command
from console.cli import main
from tests.support.profiles import write_config


@pytest.fixture
def no_listening(monkeypatch, tmp_path):
    """Record what would be served instead of listening (these tests are about the checks)."""
    for kind in ("DATA", "CONFIG", "STATE"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path / kind.lower()))
    # A profile of its own: on the embedded default the server would start the sandbox.
    write_config('[profiles.ops]\nbase_url = "https://gw.example"\n'
                 'token_url = "https://gw.example/token"\nclient_id = "ops"\n')
    monkeypatch.setenv("APILOG_PROFILE", "ops")
    served: list[serve_module.ConsoleServer] = []
    monkeypatch.setattr(serve_module.ConsoleServer, "serve", lambda self: served.append(self))
    return served


def test_each_tab_runs_this_apilog_with_the_same_options_even_with_shell_characters(tmp_path):
    catalogue = tmp_path / "my cat; rm -rf ~.txt"
    command = serve_module.console_command("ops $(whoami)", True, "vi", str(catalogue))
    assert shlex.split(command) == module_command("console.cli", "--profile", "ops $(whoami)",
                                                  "--readonly", "--lang", "vi", "--catalogue",
                                                  str(catalogue.resolve()))
    assert shlex.split(command)[0] == sys.executable


def test_a_tab_started_where_another_console_package_lies_runs_this_apilog(tmp_path):
    """textual-serve starts each tab in its own directory: one that holds a ``console`` package
    (an operator's project) once had the tab import that instead, and the tab died."""
    other = tmp_path / "console"
    other.mkdir()
    (other / "__init__.py").write_text('raise SystemExit("the wrong console was imported")\n')
    command = serve_module.console_command("ops", False, None, None) + " --help"
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "wrong console" not in done.stderr


def test_readonly_before_or_after_serve_reaches_the_tabs(no_listening):
    runner = CliRunner()
    assert runner.invoke(main, ["--readonly", "serve"]).exit_code == 0
    assert runner.invoke(main, ["serve", "--readonly"]).exit_code == 0
    assert runner.invoke(main, ["serve"]).exit_code == 0
    flags = ["--readonly" in shlex.split(server.command) for server in no_listening]
    assert flags == [True, True, False]


def test_public_prints_a_warning_naming_what_anyone_can_do(no_listening):
    runner = CliRunner()
    done = runner.invoke(main, ["serve", "--host", "0.0.0.0", "--public"])
    assert done.exit_code == 0, done.output
    assert "0.0.0.0:8000" in done.stderr and "NO authentication" in done.stderr
    assert "including calls that change state" in done.stderr
    done = runner.invoke(main, ["--readonly", "serve", "--host", "0.0.0.0", "--public"])
    assert "NO authentication" in done.stderr
    assert "change state" not in done.stderr
    assert [server.host for server in no_listening] == ["0.0.0.0", "0.0.0.0"]


def test_loopback_serves_without_a_warning(no_listening):
    done = CliRunner().invoke(main, ["serve", "--host", "::1"])
    assert done.exit_code == 0 and done.stderr == ""
    assert [server.host for server in no_listening] == ["::1"]


def test_a_bad_profile_is_refused_once_at_start(no_listening):
    done = CliRunner().invoke(main, ["--profile", "nope", "serve"])
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1 and "profile 'nope'" in done.stderr
    assert no_listening == []
