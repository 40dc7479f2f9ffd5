"""The log's files are private: its directory 0700, the file and its -wal/-shm 0600."""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path

from console.config import data_dir


def private_files(path: Path) -> None:
    """The log records operator activity: its directory 0700, the file and its -wal/-shm 0600.

    SQLite creates -wal and -shm with the main file's mode, so creating the file 0600 before
    SQLite opens it covers all three without touching the process umask (other threads may be
    creating files). Looser files left by an older release are tightened. An existing
    directory is tightened only when it is apilog's own data directory.
    """
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
    elif directory.resolve() == data_dir().resolve():
        _tighten(directory, 0o700)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        _tighten(candidate, 0o600)


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permissions from ``path`` when it has any (and is ours to change)."""
    try:
        info = path.stat()
        # A shared sticky directory (/tmp as APILOG_DATA_DIR) is everyone's: never narrowed.
        if info.st_mode & stat.S_ISVTX:
            return
        current = stat.S_IMODE(info.st_mode)
        if current & 0o077:
            path.chmod(current & mode)
    except FileNotFoundError:
        pass
    except PermissionError:
        # Another user's file (a shared log): theirs to tighten; SQLite still opens it.
        pass
