"""What a call is made of: the request the operator asked for, each attempt, the result.

Plain data shared by the caller, the transaction log, the screens and the conformance checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from console.catalogue.vocabulary import QUERY_METHODS
from console.redact import REDACTED

#: Request headers the caller sets itself on every attempt; a rerun sends only the others.
CALLER_HEADERS = frozenset({"authorization", "traceparent", "x-request-id", "idempotency-key",
                            "content-type", "accept", "user-agent", "content-length", "host",
                            "accept-encoding", "connection"})


@dataclass
class CallRequest:
    """One call as the operator named it: ``METHOD [/vN]/path?action=<slug>`` plus the payload.

    ``body`` may be text or bytes (sent as is) or a dict (encoded as JSON or XML per ``fmt``;
    for GET and DELETE its fields become query parameters, as the contract says).
    ``record_id`` travels as the ``id`` query parameter.
    """

    path: str
    method: str
    action: str
    version: str | None = None
    fmt: Literal["json", "xml"] = "json"
    accept: str | None = None
    record_id: str | None = None
    body: str | bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        self.method = self.method.upper()

    @classmethod
    def from_transaction(cls, tx: Any) -> CallRequest:
        """The call a logged transaction made, to send again: the operator's own headers and
        body, not what the caller set for that attempt (token, ids, Idempotency-Key — a rerun
        is a new call) nor values the log redacted."""
        headers = {name: value for name, value in (tx.request_headers or {}).items()
                   if name.lower() not in CALLER_HEADERS and value != REDACTED}
        body = None if tx.method.upper() in QUERY_METHODS else tx.request_body
        return cls(path=tx.path, method=tx.method, action=tx.action, version=tx.version,
                   fmt="xml" if tx.fmt == "xml" else "json", record_id=tx.record_id,
                   body=body, headers=headers)


@dataclass
class Attempt:
    """One request on the wire and how it ended (``status`` None when no response came back)."""

    number: int
    started_at: float            # epoch seconds
    elapsed_ms: float
    status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    request_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)   # response headers, redacted

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["headers"] = dict(self.headers)
        return data


@dataclass
class CallResult:
    """The whole call: final outcome (see ``console.txlog.OUTCOMES``), every attempt, evidence.

    ``request_headers`` and every header map are redacted; the token is never kept.
    ``log_warning`` is set when the transaction log could not record how the call ended (disk
    full): one line to show the operator, naming the Idempotency-Key to retry with.
    """

    transaction_id: str
    outcome: str
    status: int | None
    attempts: list[Attempt]
    rolled_back: bool
    event_id: str | None
    elapsed_ms: float
    sla_ms: int | None
    sla_ok: bool | None
    request_id: str | None
    trace_id: str | None
    response_headers: dict[str, str]
    response_body: str
    request_headers: dict[str, str]
    request_body: str | None
    method: str = ""
    path: str = ""
    action: str = ""
    url: str = ""
    error: str | None = None
    log_warning: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call committed or read successfully (``apilog call`` exits 0)."""
        from console.txlog.outcomes import SUCCESS_OUTCOMES

        return self.outcome in SUCCESS_OUTCOMES

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["retries"] = self.retries
        return data


@dataclass(frozen=True)
class TokenState:
    """The OAuth2 token as the console header shows it."""

    valid: bool
    expires_in_s: float | None = None
    error: str | None = None
