"""The one root of apilog's own exceptions.

Every error the core raises on purpose derives from :class:`ApilogError`, so a front end can
catch ``ApilogError`` and print its one-line ``str()`` (the input and the fix) instead of a
traceback, the way httpx callers catch ``httpx.HTTPError``.
"""

from __future__ import annotations


class ApilogError(Exception):
    """An error apilog raises on purpose; ``str()`` is one line naming the input and the fix."""
