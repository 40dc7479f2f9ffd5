"""Commands that run one of apilog's own modules in a child Python process.

``python -m console.cli`` puts the child's working directory first on its module path: an
operator who starts apilog in a directory holding a ``console`` package of its own (any project
may have one) would have the child import that instead, and the sandbox's gateway, a console
tab of ``apilog serve`` or ``apilog check``'s second process would fail to start. These
commands give the child this process's module path, so it imports what this process imported,
from wherever apilog was installed or checked out.
"""

from __future__ import annotations

import json
import sys

#: ``python -c BOOT PATH MODULE ARG…``: the module path, then ``MODULE`` run as ``-m`` would run it.
BOOT = ("import json, runpy, sys; sys.path[:] = json.loads(sys.argv.pop(1)); "
        "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def module_command(module: str, *args: str, python: str | None = None) -> list[str]:
    """The command that runs ``python -m module args…`` with this process's module path."""
    return [python or sys.executable, "-c", BOOT, json.dumps(sys.path), module, *args]
