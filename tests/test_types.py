"""The type checker passes over the core and the console with zero errors.

The settings live in ``pyproject.toml`` (``[tool.mypy]``); mypy is pinned in the test extras so
that a new release cannot turn the suite red on its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_reports_no_error_in_console_and_screens():
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
