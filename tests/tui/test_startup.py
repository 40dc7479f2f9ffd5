"""Start-up order: the catalogue's rows come first; the session (and everything heavy behind it)
is made after them, and the header says "connecting" until it has been, never a false state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from console.errors import ApilogError
from tests.tui.conftest import notices, screen_text, settle, wait_for

ROOT = Path(__file__).resolve().parents[2]


async def test_the_session_is_made_after_the_rows_and_the_header_says_connecting(
    make_app, catalogue, tmp_path
):
    from console.session import Session

    rows_when_connecting: list[int] = []
    release = threading.Event()

    def connect() -> Session:
        rows_when_connecting.append(len(app.screen.shown))
        release.wait(20)  # hold the session back while the test reads the first frame
        return Session(None, catalogue, log_path=tmp_path / "tx.db", origin="console")

    app = make_app(connect=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await wait_for(pilot, lambda: rows_when_connecting, message="connect called")
            assert rows_when_connecting == [len(catalogue.operations)]
            header = screen_text(app).splitlines()[0]
            assert "gateway ◌ connecting" in header and "kafka ◌ connecting" in header
            assert "not connected" not in header
        finally:
            release.set()
        # The deferred step still happens: the session is made and opened (its log exists),
        # and the header says what it is (a log alone: no gateway).
        await wait_for(pilot, lambda: app.connection.gateway == "not connected",
                       message="header after the session opened")
        await wait_for(pilot, lambda: (tmp_path / "tx.db").exists(), message="log opened")
        assert app.runtime is not None and app.session is not None
        await wait_for(pilot, lambda: app.screen.linted, message="lint started")
        await settle(pilot)


async def test_a_session_that_cannot_be_made_says_so_instead_of_connecting(make_app):
    def connect():
        raise ApilogError("profile 'lab': no such certificate /nope.pem")

    app = make_app(connect=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.connection.gateway == "down", message="gateway down")
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        assert "gateway ✗ down" in header and "connecting" not in header
        assert "no such certificate /nope.pem" in notices(app)


async def test_offline_console_says_not_connected_from_the_first_frame(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "gateway ○ not connected" in screen_text(app).splitlines()[0]


FIRST_FRAME = """
import json, sys
import screens.app as console_app

HEAVY = ("console.session", "console.caller", "console.events", "console.txlog",
         "console.conformance", "screens.runtime", "screens.call_view", "screens.events_view",
         "screens.tx_view", "screens.overview_view", "screens.check_view",
         "textual.widgets._text_area", "aiokafka", "httpx2", "authlib", "joserfc", "starlette",
         "sqlite_utils", "importlib.resources", "console.redact", "click")

def at_first_frame(app):
    app.exit(json.dumps({"rows": len(app.screen.shown),
                         "loaded": [m for m in HEAVY if m in sys.modules]}))

console_app.ApilogApp.start_runtime = at_first_frame
run = console_app.ApilogApp.run
console_app.ApilogApp.run = lambda app, **kw: run(app, headless=True, size=(120, 40), **kw)
real = console_app.run_console

def shown(**options):
    print(real(**options))
    return 0

# `apilog` alone, through the executable's entry point: no click before the first frame.
console_app.run_console = shown
sys.argv = ["apilog"]
from console.launch import main
main()
"""


def test_apilog_draws_the_catalogue_before_importing_the_session_or_other_views(tmp_path):
    """``apilog`` (its entry point, then run_console) up to the moment the catalogue's rows
    are drawn."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "APILOG_BASE_URL": "http://127.0.0.1:9",
        "APILOG_TOKEN_URL": "http://127.0.0.1:9/t",
    }
    done = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["rows"] > 0
    assert seen["loaded"] == []


def test_a_second_start_reads_the_catalogue_back_without_its_parsers(tmp_path):
    """The first start parses the shipped catalogue and keeps it (console.catalogue.cache);
    the next one draws the same rows without importing a parser."""
    parsers = '"console.catalogue.formats", "console.catalogue.td448", "csv")'
    script = FIRST_FRAME.replace('"click")', f'"click", {parsers}')
    assert script != FIRST_FRAME
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "APILOG_BASE_URL": "http://127.0.0.1:9", "APILOG_TOKEN_URL": "http://127.0.0.1:9/t"}
    starts = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        starts.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = starts
    assert "console.catalogue.td448" in first["loaded"]  # parsed, then kept
    assert second["loaded"] == []
    assert second["rows"] == first["rows"] > 0


async def test_slash_before_the_filter_bar_is_mounted_still_filters(make_app, monkeypatch):
    """The bar and the footer are mounted after the view's first frame; a `/` typed before
    that (a fast operator, keys queued while the console starts) must still open the bar and
    filter, and the footer must still come with its keys."""
    from screens.base import View
    from screens.keymap import translate_bindings

    def on_mount_only(self) -> None:  # View.on_mount without mounting the bar after the frame
        translate_bindings(self, self.console.labels)

    monkeypatch.setattr(View, "on_mount", on_mount_only)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.screen
        assert not view.query("#filter")  # the first frame's state, held
        await pilot.press("slash", *"delete")
        await settle(pilot)
        assert view.query_one("#filter").value == "delete"
        assert 0 < len(view.shown) < len(view.entries)
        assert "^q" in screen_text(app).splitlines()[-1]


LAUNCH = """
import json, os, sys
import screens.app as console_app

console_app.run_console = lambda **options: print(json.dumps(options)) or 0
sys.argv = ["apilog", *sys.argv[1:]]
from console.launch import main
main()
"""


@pytest.mark.parametrize("argv, expected", [
    ([], {"profile": "night-shift", "readonly": False, "lang": None, "catalogue": None}),
    (["--readonly", "--lang", "vi"],
     {"profile": "night-shift", "readonly": True, "lang": "vi", "catalogue": None}),
])
def test_apilog_alone_and_with_console_options_open_the_console_alike(argv, expected):
    """The entry point's shortcut for `apilog` alone means what click's command means."""
    env = {**os.environ, "APILOG_PROFILE": "night-shift"}
    done = subprocess.run([sys.executable, "-c", LAUNCH, *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_apilog_with_a_bad_option_is_refused_by_click():
    done = subprocess.run([sys.executable, "-c", LAUNCH, "--lang", "fr"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "'fr' is not one of 'en', 'vi'" in done.stderr
