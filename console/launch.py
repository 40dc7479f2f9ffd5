"""The ``apilog`` executable's entry point.

``apilog`` alone — what an operator types dozens of times a day — opens the console without
loading click: its import is ~14 ms of the ~390 ms to the console's first frame
(``bench/bench_tui.py``). Anything else on the command line, options included, goes to the
click command in :mod:`console.cli`, which parses, explains and refuses as before.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if len(sys.argv) > 1:
        from console.cli import main as cli

        cli()
        return
    from screens.app import run_console  # the only place the core reaches for the UI

    # What `apilog` with no options means in console.cli.main: the profile from APILOG_PROFILE
    # (click ignores it when empty), the language from the locale, the shipped catalogue.
    try:
        code = run_console(profile=os.environ.get("APILOG_PROFILE") or None, readonly=False,
                           lang=None, catalogue=None)
    except KeyboardInterrupt:  # before the app took the terminal: as click says it
        print("\nAborted!", file=sys.stderr)
        code = 1
    raise SystemExit(code)


if __name__ == "__main__":
    main()
