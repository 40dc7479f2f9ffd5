"""What the console talks to, and how it gets there, kept out of the widgets.

``Services`` names a gateway (a resolved ``console.config.Profile``), the transaction log file
and where the event feed starts. Tests hand one built from their gateway fixture; ``apilog``
builds one from the active profile (starting the embedded sandbox if that is the profile) in a
thread after the first frame. ``None`` means offline: every view says "not connected".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Services:
    #: A profile with base_url, token_url, client id/secret and, optionally, kafka_bootstrap;
    #: None to read the transaction log alone, with no gateway.
    profile: Any
    #: The transaction log's SQLite file.
    txlog_path: Path
    #: Where the event feed starts reading: "latest", "earliest", an offset or a datetime.
    events_from: Any = "latest"
    #: A sandbox this console started and must stop at exit (context-manager form).
    sandbox: Any = None

    def close(self) -> None:
        """Stop what this console owns (the embedded gateway and broker)."""
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            sandbox.__exit__(None, None, None)


def default_txlog_path() -> Path:
    from console.config import data_dir

    return data_dir() / "transactions.db"


def connect_profile(profile: Any, catalogue_path: str | None = None) -> Services:
    """Services for ``profile``; the embedded sandbox is started here (blocking: run in a thread).

    A sandbox that is already running (``apilog sandbox start``) is reused and left running; one
    started here belongs to this console and stops with it.
    """
    sandbox = None
    if profile.embedded:
        from console.sandbox import Sandbox

        sandbox = Sandbox(catalogue=catalogue_path)
        info = sandbox.__enter__()
        profile = profile.with_sandbox(info)
    return Services(profile=profile, txlog_path=default_txlog_path(), sandbox=sandbox)
