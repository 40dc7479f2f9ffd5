"""The log's files are private: its directory 0700, the file and its -wal/-shm 0600."""

from __future__ import annotations

from pathlib import Path

from console.config import data_dir
from console.private_files import private_dir, private_file


def private_files(path: Path) -> None:
    """The log records operator activity: its directory 0700, the file and its -wal/-shm 0600.

    SQLite creates -wal and -shm with the main file's mode, so creating the file 0600 before
    SQLite opens it covers all three without touching the process umask (other threads may be
    creating files). Looser files left by an older release are tightened. An existing directory
    is tightened only when it is apilog's own data directory.
    """
    private_dir(path.parent, ours=path.parent.resolve() == data_dir().resolve())
    private_file(path, companions=("-wal", "-shm"))
