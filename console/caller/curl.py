"""Copy as curl: the exchange as a shell command, with the token left as ``$TOKEN``."""

from __future__ import annotations

import shlex
from typing import Any

from console.redact import REDACTED

#: Headers curl sets itself or that describe this particular attempt only.
_SKIP = frozenset({"content-length", "host", "user-agent", "accept-encoding", "connection",
                   "traceparent", "x-request-id"})


def to_curl(tx: Any) -> str:
    """A runnable curl command for a ``Transaction`` or ``CallResult``.

    The Authorization header becomes ``Bearer $TOKEN`` (double-quoted so the shell expands it);
    other redacted values stay ``REDACTED`` for the operator to fill in.
    """
    parts = ["curl", "-sS", "-i", "-X", tx.method, shlex.quote(tx.url)]
    for name, value in (tx.request_headers or {}).items():
        lower = name.lower()
        if lower in _SKIP:
            continue
        if lower == "authorization":
            parts += ["-H", '"Authorization: Bearer $TOKEN"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if not any(k.lower() == "authorization" for k in (tx.request_headers or {})):
        parts += ["-H", '"Authorization: Bearer $TOKEN"']
    if tx.request_body:
        parts += ["--data-raw", shlex.quote(tx.request_body)]
    command = " ".join(parts)
    if REDACTED in (tx.request_body or ""):
        command += "  # REDACTED values were secrets: fill them in"
    return command
