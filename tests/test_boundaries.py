"""The core never imports Textual (architecture.md, Boundaries)."""

import subprocess
import sys


def test_console_modules_do_not_import_textual():
    code = (
        "import importlib, pkgutil, sys, console\n"
        "for m in pkgutil.walk_packages(console.__path__, 'console.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "print('TEXTUAL' if bad else 'CLEAN')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("CLEAN"), "a console module imports textual"
