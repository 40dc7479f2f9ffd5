"""The local transaction log: every call, every attempt, the events it caused.

>>> log = TransactionLog(default_log_path())
>>> log.query(outcome="rolled_back", limit=20)
"""

from __future__ import annotations

from pathlib import Path

from console.txlog.model import EventLink, Transaction, new_transaction_id
from console.txlog.outcomes import FINAL_OUTCOMES, OUTCOMES, SUCCESS_OUTCOMES
from console.txlog.store import TransactionLog

__all__ = ["FINAL_OUTCOMES", "OUTCOMES", "SUCCESS_OUTCOMES", "EventLink", "Transaction",
           "TransactionLog", "default_log_path", "new_transaction_id", "open_default_log"]


def default_log_path() -> Path:
    """``<data_dir>/transactions.db`` (``APILOG_DATA_DIR`` or ``$XDG_DATA_HOME/apilog``)."""
    from console.config import data_dir

    return data_dir() / "transactions.db"


def open_default_log(**kwargs: object) -> TransactionLog:
    """The operator's log, with the config file's ``redact_keys`` applied."""
    from console.config import ConfigError, load_config

    try:
        keys = load_config().redact_keys
    except ConfigError:
        keys = ()
    return TransactionLog(default_log_path(), redact_keys=keys, **kwargs)  # type: ignore[arg-type]
