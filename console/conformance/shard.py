"""Part of a conformance run decided in a second process.

``apilog check`` is CPU-bound in its own process (its HTTP client, the transaction log, the
feed) while the machine has a second core: one interpreter runs one thread at a time. A large
run therefore hands about half of its operations to a child process
(:mod:`console.check_process`) that opens its own session on the same profile and the same
transaction log, and decides them with half of the run's lanes.

The parent keeps what must happen in one place: the plan (which operations overrun a
deadline or exhaust a quota is decided over the whole catalogue), the operations whose quota a
burst exhausts and the bursts themselves (last, one at a time, after the child is done), and
the order of the verdicts. The child gets its checks, the operations its helpers must keep off
and whether the gateway injects faults, and sends back each verdict as it is decided.

The request travels on the child's standard input (it holds the profile's client secret, so it
never goes on a command line or into the environment); the child's standard output carries
only length-prefixed frames, anything it prints goes to its standard error. When the child
fails, the parent decides what the child left undecided itself and says so
(:attr:`console.conformance.runner.Runner.notes`); when the run is cancelled, the child is
terminated.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.children import module_command
from console.conformance.runner import ShardFailed

#: The interpreter the child runs on: this one.
PYTHON = sys.executable
#: How long a terminated child may take to close its session before it is killed.
STOP_GRACE_S = 5.0
#: How much of the child's standard error a failure quotes.
ERROR_TAIL = 2000


@dataclass(frozen=True)
class ShardSettings:
    """What the child needs to open the same session the parent checks with."""

    profile: Any
    catalogue: Any
    config: Any
    log_path: Path
    catalogue_path: str | None
    writes: Any
    allow_load: bool | None
    thorough: bool
    event_deadline_s: float | None


@dataclass(frozen=True)
class ShardRequest:
    settings: ShardSettings
    items: list[Any]  # PlannedCheck, in the parent's plan order
    lanes: int
    reserved: set[tuple[str, str, str]]
    faults_enabled: bool


class ChildShard:
    """A :data:`console.conformance.runner.Shard` that runs a child process per run."""

    def __init__(self, settings: ShardSettings) -> None:
        self.settings = settings

    async def __call__(self, sent: list[tuple[int, Any]], lanes: int,
                       reserved: set[tuple[str, str, str]], faults_enabled: bool,
                       record: Callable[[int, Any], None]) -> None:
        indices = [n for n, _ in sent]
        # One pickle: the checks' operations stay the very objects of the child's catalogue.
        request = pickle.dumps(ShardRequest(self.settings, [item for _, item in sent], lanes,
                                            reserved, faults_enabled))
        try:
            process = await asyncio.create_subprocess_exec(
                *module_command("console.check_process", python=PYTHON),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise ShardFailed(f"it could not be started: {exc}") from None
        assert process.stdin and process.stdout and process.stderr
        errors = asyncio.ensure_future(_tail(process.stderr))
        finished = False
        try:
            process.stdin.write(request)
            await process.stdin.drain()
            process.stdin.close()
            while True:
                head = await process.stdout.readexactly(4)
                kind, *rest = pickle.loads(await process.stdout.readexactly(
                    int.from_bytes(head, "big")))
                if kind == "result":
                    record(indices[rest[0]], rest[1])
                elif kind == "error":
                    raise ShardFailed(rest[0])
                else:
                    finished = True
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # it ended without saying so: its status and its errors say why
        finally:
            await _stop(process)
            tail = (await errors).strip()
        if not finished:
            why = f"it exited with status {process.returncode}"
            raise ShardFailed(f"{why}: {tail}" if tail else why)


async def _tail(stream: asyncio.StreamReader) -> str:
    """Read ``stream`` to its end (so the child never blocks on it); its last characters."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-ERROR_TAIL:]
    return kept.decode("utf-8", "replace")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Let a child that is still running close its session, then kill it."""
    if process.returncode is None:
        try:
            process.terminate()
            await asyncio.wait_for(asyncio.shield(process.wait()), STOP_GRACE_S)
        except ProcessLookupError:
            pass
        except TimeoutError:
            process.kill()
        except asyncio.CancelledError:
            process.kill()
            await process.wait()
            raise
    await process.wait()
