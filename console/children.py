"""Commands that run one of apilog's own modules in a child Python process.

``python -m console.cli`` puts the child's working directory first on its module path: an
operator who starts apilog in a directory holding a ``console`` package of its own (any project
may have one) would have the child import that instead, and the sandbox's gateway, a console
tab of ``apilog serve`` or ``apilog check``'s second process would fail to start (a ``json.py``
there did the same to the standard library's modules). These
commands give the child this process's module path, so it imports what this process imported,
from wherever apilog was installed or checked out.
"""

from __future__ import annotations

import json
import os
import sys

#: ``python -P -c BOOT PATH MODULE ARG…``: the module path, then ``MODULE`` run as ``-m`` would.
BOOT = ("import json, runpy, sys; sys.path[:] = json.loads(sys.argv.pop(1)); "
        "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def module_command(module: str, *args: str, python: str | None = None) -> list[str]:
    """The command that runs ``python -m module args…`` with this process's module path
    (relative entries made absolute: the child may start in another directory)."""
    path = [os.path.abspath(entry) for entry in sys.path]  # "" is the working directory
    # -P: not even BOOT's own imports (json, runpy) may come from the working directory.
    return [python or sys.executable, "-P", "-c", BOOT, json.dumps(path), module, *args]
