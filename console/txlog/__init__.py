"""The local transaction log: every call, every attempt, the events it caused.

>>> log = TransactionLog(default_log_path())
>>> log.query(outcome="rolled_back", limit=20)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.txlog.errors import LogUnavailable, LogWriteFailed, open_failure
from console.txlog.model import EventLink, EventSeen, LinkAnswers, Transaction, new_transaction_id
from console.txlog.outcomes import FINAL_OUTCOMES, OUTCOMES, SUCCESS_OUTCOMES

if TYPE_CHECKING:
    from console.txlog.store import TransactionLog


def __getattr__(name: str) -> Any:
    """``TransactionLog`` on first use: sqlite-utils costs ~60 ms, and importing the outcome
    words (as the caller and the screens do) should not pay for it."""
    if name == "TransactionLog":
        from console.txlog.store import TransactionLog

        return TransactionLog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["FINAL_OUTCOMES", "OUTCOMES", "SUCCESS_OUTCOMES", "EventLink", "EventSeen",
           "LinkAnswers", "LogUnavailable", "LogWriteFailed", "Transaction", "TransactionLog",
           "default_log_path", "new_transaction_id", "open_log"]


def default_log_path() -> Path:
    """``<data_dir>/transactions.db`` (``APILOG_DATA_DIR`` or ``$XDG_DATA_HOME/apilog``)."""
    from console.config import data_dir

    return data_dir() / "transactions.db"


def open_log(path: str | Path, **kwargs: object) -> TransactionLog:
    """:class:`TransactionLog` at ``path``; SQLite errors become one :class:`LogUnavailable` line.

    The file is never deleted or rewritten here: a damaged log stays for the operator to keep.
    A full disk says so (the file is fine), and a log from a newer apilog is left untouched.
    """
    import sqlite3

    from console.txlog.store import TransactionLog

    try:
        return TransactionLog(path, **kwargs)  # type: ignore[arg-type]
    except (sqlite3.Error, OSError) as exc:
        raise LogUnavailable(open_failure(Path(path), exc)) from None
