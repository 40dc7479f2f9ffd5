"""`apilog` refuses bad start-up input with one line naming the input and the fix, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APILOG = Path(sys.executable).with_name("apilog")


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    return subprocess.run(
        [str(APILOG), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_missing_catalogue_file(tmp_path):
    done = run("--catalogue", str(tmp_path / "nope.csv"), tmp_path=tmp_path)
    assert done.returncode != 0
    assert "nope.csv" in done.stderr and "Traceback" not in done.stderr


def test_unknown_profile(tmp_path):
    done = run("--profile", "staging", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'staging'" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_keys_file(tmp_path):
    keys = tmp_path / "config" / "apilog" / "keys.toml"
    keys.parent.mkdir(parents=True)
    keys.write_text('sned = "f5"\n')
    done = run(tmp_path=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.startswith("apilog: ") and "keys.toml:1: unknown action 'sned'" in done.stderr
    )
    assert "Traceback" not in done.stderr
