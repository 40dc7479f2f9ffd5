"""Files that hold secrets or operator activity: readable by their owner only.

The servers this tool runs on are shared, so a database, an access log or a state file is
created 0600 in a 0700 directory. Files and directories that already exist lose their group
and other permissions; a directory apilog did not create (the one a ``--db`` path names) is
left as it is unless the caller says it is apilog's own.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def tighten(path: Path, mode: int) -> None:
    """Drop from ``path`` every permission ``mode`` does not grant (when it exists and is ours).

    A shared sticky directory (``/tmp`` named as a data directory) is everyone's and is never
    narrowed; another user's file (a shared log) is theirs to tighten.
    """
    try:
        info = path.stat()
        if info.st_mode & stat.S_ISVTX:
            return
        current = stat.S_IMODE(info.st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except (FileNotFoundError, PermissionError):
        pass


def private_dir(path: Path, *, ours: bool = False) -> Path:
    """``path`` as a directory: created 0700 when missing, tightened to 0700 when ``ours``."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(DIR_MODE)
    elif ours:
        tighten(path, DIR_MODE)
    return path


def private_file(path: Path, *, companions: tuple[str, ...] = ()) -> Path:
    """``path`` created empty at 0600 when missing (its directory as :func:`private_dir`), else
    tightened to 0600; ``companions`` are suffixes of sibling files to tighten as well (SQLite's
    ``-wal`` and ``-shm``, which SQLite creates with the database file's mode)."""
    path = Path(path)
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in companions)):
        tighten(candidate, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "a", *, encoding: str | None = None,
                 buffering: int = -1) -> IO:
    """``open(path, mode)`` for appending or writing, the file created 0600 (tightened if older)."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    tighten(path, FILE_MODE)
    return os.fdopen(fd, mode, encoding=encoding, buffering=buffering)
