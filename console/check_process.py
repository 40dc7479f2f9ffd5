"""``apilog check``'s second process.

Started by :class:`console.conformance.shard.ChildShard`, never by hand. Reads a
:class:`~console.conformance.shard.ShardRequest` (a pickle) on standard input, opens a session
on the same profile and transaction log as its parent, decides the checks it was given and
writes each verdict back as a length-prefixed pickle frame on standard output; anything else
it prints goes to standard error. SIGTERM closes the session and ends it; Ctrl+C is left to
the parent, which stops it.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any

from console.conformance.shard import ShardRequest
from console.session import Session


def main() -> int:
    # Ctrl+C reaches the whole process group: the parent decides, and stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames go to the original standard output, and nothing else does.
    frames = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    request: ShardRequest = pickle.load(sys.stdin.buffer)

    def send(*message: Any) -> None:
        data = pickle.dumps(message)
        frames.write(len(data).to_bytes(4, "big") + data)

    try:
        asyncio.run(_serve(request, send))
    except asyncio.CancelledError:  # terminated by the parent, which no longer listens
        return 1
    except BaseException as exc:  # noqa: BLE001 - the parent is told why, whatever it is
        send("error", f"{type(exc).__name__}: {exc}")
        return 1
    send("done")
    return 0


async def _serve(request: ShardRequest, send: Callable[..., None]) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await Session.decide_shard(request, lambda n, verdict: send("result", n, verdict))


if __name__ == "__main__":
    sys.exit(main())
