"""The log records operator activity: only its owner may read it, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.caller.model import Attempt
from console.config import data_dir
from console.txlog import TransactionLog, default_log_path, open_log
from tests.txlog.test_store import result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common 022 umask, under which files come out world-readable unless made otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def write_one(path: Path) -> TransactionLog:
    """A real call's writes, with the log still open: the -wal and -shm exist while we look."""
    log = open_log(path)
    tx = log.begin(method="POST", path="/p", action="add-record", request_body='{"a": 1}')
    log.record_attempt(tx, Attempt(1, time.time(), 3.0, 201))
    log.finish(tx, result())
    return log


def test_a_new_data_directory_and_log_are_private(monkeypatch, tmp_path, open_umask):
    monkeypatch.setenv("APILOG_DATA_DIR", str(tmp_path / "apilog"))
    path = default_log_path()
    log = write_one(path)
    try:
        assert mode(data_dir()) == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
    finally:
        log.close()


def test_a_log_left_readable_by_an_older_release_is_tightened_on_open(monkeypatch, tmp_path, open_umask):
    directory = tmp_path / "apilog"
    directory.mkdir(mode=0o755)
    monkeypatch.setenv("APILOG_DATA_DIR", str(directory))
    path = directory / "transactions.db"
    conn = sqlite3.connect(path)  # as before: SQLite's 0644 under the umask, WAL files beside it
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    assert mode(path) == 0o644 and mode(Path(f"{path}-wal")) == 0o644 and mode(directory) == 0o755
    log = write_one(path)
    try:
        assert mode(directory) == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
    finally:
        log.close()
        conn.close()


def test_a_directory_that_is_not_apilogs_own_is_left_alone(tmp_path, open_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    log = write_one(shared / "elsewhere.db")
    log.close()
    assert mode(shared) == 0o755
    assert mode(shared / "elsewhere.db") == 0o600
