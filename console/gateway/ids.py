"""Random ids for the gateway's hot path: UUIDv4 strings and W3C trace ids, from the OS's CSPRNG.

``str(uuid.uuid4())`` and ``secrets.token_hex`` each read ``os.urandom`` (a system call) and,
for the UUID, build an object only to print it: three of them per request were ~3 % of the
event loop's time under load (docs/benchmarks.md). Here each thread draws 4 KiB from
``os.urandom`` at a time and cuts ids from it, so the ids stay as unpredictable as
``uuid4()``'s — a request id keys the access-log record, which no caller should be able to
guess — at one system call per 256 ids.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.at = 0


_pool = _Pool()


def _forget_after_fork() -> None:
    # A forked child would otherwise cut the very ids its parent is about to cut.
    _pool.data, _pool.at = b"", 0


os.register_at_fork(after_in_child=_forget_after_fork)


def random_hex(nbytes: int) -> str:
    """``2 * nbytes`` lower-case hex digits of fresh randomness (``secrets.token_hex(nbytes)``)."""
    pool = _pool
    at = pool.at
    if at + nbytes > len(pool.data):
        pool.data, at = os.urandom(_POOL_BYTES), 0
    pool.at = at + nbytes
    return pool.data[at:at + nbytes].hex()


def uuid4() -> str:
    """A random UUID (version 4, RFC 9562 variant) as ``str(uuid.uuid4())`` writes it."""
    h = random_hex(16)
    # Version nibble 4; variant bits 10xx in the first nibble of the fourth group.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
