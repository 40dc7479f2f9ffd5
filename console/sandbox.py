"""The embedded sandbox: the reference gateway and a Kafka broker on loopback, no configuration.

``Sandbox().ensure()`` reuses a running sandbox (recorded in ``<data dir>/sandbox/state.json``,
its process alive, ``/healthz`` answering, the broker accepting connections) or starts one: the
gateway as a child process (``python -m console.cli gateway --embedded-kafka --faults …``), which
runs the Tansu broker and stops it when it stops; the broker also dies with the gateway when the
gateway is killed (a parent-death signal). Logs stay in ``<data dir>/sandbox/*.log``; the
client secret lives in a 0600 file and is handed to the gateway through its environment, so it
never reaches a log. Every file is 0600 in the 0700 sandbox directory.

Two forms: detached (``apilog call`` starts it when none runs, ``apilog sandbox stop`` ends it)
and owned (``with Sandbox() as info:`` — the console's form; what it started stops with it, and
also when the owner is killed, because the gateway watches the owner's pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from console.children import module_command
from console.config import system_tls_context
from console.errors import ApilogError
from console.gateway.settings import CLIENT_ID_ENV, CLIENT_SECRET_ENV, DEFAULT_CLIENT_ID, data_dir
from console.private_files import open_private, private_dir


class SandboxError(ApilogError, RuntimeError):
    """The sandbox could not start; the message names the log to read."""


@dataclass(frozen=True)
class SandboxInfo:
    """How to reach a running sandbox. ``owned``: this process started it (and stops it)."""

    base_url: str
    token_url: str
    jwks_url: str
    kafka_bootstrap: str
    client_id: str
    client_secret: str
    owned: bool


def _alive(pid: int | None, marker: str) -> bool:
    """True when ``pid`` runs and its command line contains ``marker`` (no pid-reuse accidents)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return marker in cmdline


def _health(base_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The gateway's ``/healthz`` body, or None when it does not answer."""
    import httpx2

    try:
        # The shared context: httpx2 would load the CA bundle for each poll (~70 ms of CPU),
        # and the start-up loop polls every 50 ms while the gateway child needs the CPU.
        response = httpx2.get(f"{base_url}/healthz", timeout=timeout, verify=system_tls_context())
        return response.json() if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError):
        return None


def _port_answers(bootstrap: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (the broker is up)."""
    import socket

    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _terminate(pid: int | None, marker: str, timeout: float = 10.0) -> None:
    """SIGTERM (the gateway then stops its broker), and SIGKILL past ``timeout``.

    A killed gateway cannot stop its broker, which runs in a session of its own and would
    outlive it: the broker is killed with it.
    """
    if not _alive(pid, marker):
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid, marker) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _alive(pid, marker):
        orphans = _children(pid)
        os.kill(pid, signal.SIGKILL)
        for child in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 5.0  # SIGKILL lands asynchronously: see it land
        while _alive(pid, marker) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.01)
    _reap(pid)


def _processes_writing_to(paths: list[Path]) -> list[int]:
    """This user's processes whose standard output is one of ``paths`` (Linux ``/proc``).

    The sandbox's gateway and broker write there and nothing else does, so this finds what a
    sandbox left running even when its ``state.json`` is gone or names a dead gateway.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    targets = {str(path.resolve()) for path in paths}
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "fd" / "1") in targets:
                found.append(int(entry.name))
        except OSError:  # gone, or another user's
            continue
    return found


def _stop_all(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM each, then SIGKILL what is still there after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(_exists(pid) for pid in pids):
            return
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux ``/proc``; none where it is missing)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _reap(pid: int) -> None:
    """Collect a child that exited, so it does not linger as a zombie (and look alive)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class Sandbox:
    """Start, find and stop the embedded sandbox under ``data_dir/sandbox``."""

    GATEWAY_MARKER = "console.cli"

    def __init__(self, base_dir: Path | None = None, catalogue: str | None = None,
                 startup_timeout: float = 30.0) -> None:
        self.dir = (Path(base_dir) if base_dir else data_dir()) / "sandbox"
        #: Under apilog's own data directory (tightened to 0700 too), not a directory given.
        self._in_data_dir = base_dir is None
        self.catalogue = catalogue
        self.startup_timeout = startup_timeout
        self._owned: SandboxInfo | None = None

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    @property
    def secret_path(self) -> Path:
        return self.dir / "client-secret"

    # --- finding --------------------------------------------------------------------------------

    @property
    def log_paths(self) -> list[Path]:
        """Where the sandbox's gateway and broker write (and how leftovers are recognised)."""
        return [self.dir / "gateway.log", self.dir / "gateway-broker.log"]

    def _state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def status(self) -> SandboxInfo | None:
        """The running sandbox, or None (a stale record is cleaned up)."""
        state = self._state()
        if state is None:
            return None
        running = (_alive(state.get("gateway_pid"), self.GATEWAY_MARKER)
                   and _health(state["base_url"]) is not None
                   and _port_answers(state.get("kafka_bootstrap", "")))
        if not running:
            self._cleanup(state)
            return None
        return self._info(state, owned=False)

    def _info(self, state: dict[str, Any], owned: bool) -> SandboxInfo:
        return SandboxInfo(state["base_url"], state["token_url"], state["jwks_url"], state["kafka_bootstrap"],
                           state["client_id"], self._read_secret(), owned)

    # --- starting -------------------------------------------------------------------------------

    def _make_dir(self) -> None:
        private_dir(self.dir.parent, ours=self._in_data_dir)
        private_dir(self.dir, ours=True)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One process at a time decides whether to start: two ``apilog call`` at once share one."""
        import fcntl

        self._make_dir()
        with open_private(self.dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure(self) -> SandboxInfo:
        """The running sandbox, or a new detached one."""
        with self._exclusive():
            return self.status() or self.start()

    def _secret(self) -> str:
        from_env = os.environ.get(CLIENT_SECRET_ENV)
        secret = from_env or self._read_secret() or secrets.token_urlsafe(32)
        from console.gateway.cli import save_secret

        save_secret(self.secret_path, secret)
        return secret

    def _read_secret(self) -> str:
        try:
            return self.secret_path.read_text().strip()
        except OSError:
            return ""

    def start(self, owner_pid: int | None = None) -> SandboxInfo:
        """Start the gateway with its embedded broker, record it in ``state.json``, say how to reach it.

        One child process: the gateway runs the broker (``--embedded-kafka``) and stops it when
        it stops. With ``owner_pid`` it also stops when that process is gone, so an owner that
        is killed leaves nothing behind.
        """
        from console.events.broker import free_port

        self._make_dir()
        stale = self._state()
        if stale is not None:
            self._cleanup(stale)
        _stop_all(_processes_writing_to(self.log_paths))
        client_id = os.environ.get(CLIENT_ID_ENV) or DEFAULT_CLIENT_ID
        secret = self._secret()
        port = free_port()
        args = module_command("console.cli")
        if self.catalogue:
            args += ["--catalogue", str(self.catalogue)]
        args += ["gateway", "--port", str(port), "--embedded-kafka", "--faults",
                 "--db", str(self.dir / "gateway.db"), "--access-log", str(self.dir / "access.ndjson")]
        if owner_pid is not None:
            args += ["--exit-with-pid", str(owner_pid)]
        env = {**os.environ, CLIENT_ID_ENV: client_id, CLIENT_SECRET_ENV: secret}
        log_path = self.dir / "gateway.log"
        with open_private(log_path, "ab") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while (health := _health(base_url, timeout=0.5)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.terminate()
                process.wait(10)
                raise SandboxError(f"the sandbox gateway did not start; see {log_path}")
            time.sleep(0.05)
        state = {"base_url": base_url, "token_url": f"{base_url}/oauth/token",
                 "jwks_url": f"{base_url}/.well-known/jwks.json",
                 "kafka_bootstrap": health["kafka"]["bootstrap"], "client_id": client_id,
                 "gateway_pid": process.pid, "owner_pid": owner_pid, "started_at": time.time(),
                 "logs": str(self.dir)}
        tmp = self.state_path.with_suffix(".tmp")
        with open_private(tmp, "w") as out:
            out.write(json.dumps(state, indent=2))
        tmp.replace(self.state_path)
        return self._info(state, owned=owner_pid is not None)

    # --- stopping -------------------------------------------------------------------------------

    def stop(self) -> bool:
        """Stop the recorded sandbox and whatever it left running; True when there was anything.

        A gateway killed with SIGKILL cannot stop its broker; the broker dies with it on Linux,
        and anything still writing to the sandbox's logs (the broker elsewhere, a gateway whose
        ``state.json`` was lost) is found and stopped here too.
        """
        state = self._state()
        if state is not None:
            self._cleanup(state)
        leftovers = _processes_writing_to(self.log_paths)
        _stop_all(leftovers)
        return state is not None or bool(leftovers)

    def _cleanup(self, state: dict[str, Any]) -> None:
        _terminate(state.get("gateway_pid"), self.GATEWAY_MARKER)
        _stop_all(_processes_writing_to(self.log_paths))
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    # --- the owned form -------------------------------------------------------------------------

    def __enter__(self) -> SandboxInfo:
        with self._exclusive():
            running = self.status()
            if running is not None:
                return running
            self._owned = self.start(owner_pid=os.getpid())
        return self._owned

    def __exit__(self, *exc: object) -> None:
        if self._owned is not None:
            self.stop()
            self._owned = None


def info_dict(info: SandboxInfo) -> dict[str, Any]:
    """The info without the secret, for printing and JSON output."""
    data = asdict(info)
    data.pop("client_secret")
    return data
