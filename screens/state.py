"""What the header shows: the profile and the live state of gateway, token and broker.

Plain data, replaced as a whole when anything changes, so a watcher sees one consistent picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ConnectionState:
    profile: str = "sandbox"
    readonly: bool = False
    #: "not connected" (offline), "connecting", "up", "down".
    gateway: str = "not connected"
    gateway_error: str = ""
    #: When the token runs out, on the app's clock; None while there is none.
    token_expires_at: datetime | None = None
    token_error: str = ""
    #: "not connected", "connecting", "connected", "down".
    kafka: str = "not connected"
    kafka_error: str = ""
    #: The gateway's /healthz says it honours X-Fault-* headers (the reference gateway, --faults).
    faults: bool = False


def expires_in(expires_at: datetime | None, now: datetime) -> str:
    """``4m 05s`` style countdown; ``expired`` once past."""
    if expires_at is None:
        return ""
    seconds = int((expires_at - now).total_seconds())
    if seconds <= 0:
        return "expired"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s"
