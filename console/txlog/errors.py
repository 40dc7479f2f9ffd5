"""What goes wrong with the log file, said in one line the operator can act on.

SQLite's own words ("database or disk is full", "file is not a database") name neither the
file nor the fix, and a full disk must not read like a damaged file: an operator who moves a
healthy log aside because of a full disk loses nothing but is sent the wrong way.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from console.errors import ApilogError

#: Below this much free space an I/O error is taken for a full disk (the WAL index alone needs 32 KiB).
NEARLY_FULL_BYTES = 1024 * 1024


class LogUnavailable(ApilogError, RuntimeError):
    """The log file cannot be opened (unreadable, not SQLite, disk full); the message says what to do."""


class LogWriteFailed(LogUnavailable):
    """A write to an open log failed (disk full, locked too long); nothing of that write was kept."""


def is_disk_full(exc: BaseException, directory: Path) -> bool:
    """SQLite's SQLITE_FULL, the system's ENOSPC / EDQUOT, or an I/O error on a disk with no room.

    On a full disk an *open* fails as SQLITE_IOERR_SHMSIZE ("disk I/O error": the WAL index
    cannot grow), which reads like damage; the free space on ``directory`` tells the two apart.
    """
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return True
    if code is None or code & 0xFF != sqlite3.SQLITE_IOERR:
        return False
    try:
        room = os.statvfs(directory)
    except OSError:
        return False
    return room.f_bavail * room.f_frsize < NEARLY_FULL_BYTES


def disk_full_message(path: Path, doing: str) -> str:
    return (f"the transaction log {path} cannot be {doing}: the disk holding {path.parent} is "
            f"full; free space on that disk, or set APILOG_DATA_DIR to a directory on another one")


def open_failure(path: Path, exc: BaseException) -> str:
    """Why ``path`` could not be opened as a log, and what to do."""
    if is_disk_full(exc, path.parent):
        return disk_full_message(path, "opened")
    return (f"cannot open the transaction log {path}: {exc}; move the file aside (it is kept as "
            f"is) or set APILOG_DATA_DIR to another directory")


def write_failure(path: Path, exc: BaseException) -> str:
    """Why a write to the open log at ``path`` failed, and what to do."""
    if is_disk_full(exc, path.parent):
        return disk_full_message(path, "written")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return (f"the transaction log {path} stayed locked by another apilog process for over "
                f"10 s; try again when it has finished")
    return f"the transaction log {path} cannot be written: {exc}"


def newer_schema_message(path: Path, found: int, known: int) -> str:
    return (f"the transaction log {path} was written by a newer apilog (schema version {found}; "
            f"this apilog knows up to {known}); upgrade apilog")
