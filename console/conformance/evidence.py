"""Evidence a check gathers while it probes, and the exceptions that end a check early.

A check calls :meth:`Evidence.expect` for each promise it tests; the first broken promise ends
the check as *failed* with everything gathered so far, so the report always says which request
decided the verdict.
"""

from __future__ import annotations

from typing import Any

#: Response headers worth keeping as evidence (lower case); bodies are kept only when short.
DECIDING_HEADERS: tuple[str, ...] = (
    "x-request-id", "traceparent", "www-authenticate", "ratelimit-policy", "ratelimit",
    "x-ratelimit-limit-minute", "x-ratelimit-remaining-minute", "retry-after", "via",
    "deprecation", "sunset", "link", "vary", "content-type", "location", "allow",
    "server-timing", "x-event-id", "idempotency-key",
)


class CheckFailed(Exception):
    """A promise was broken: the verdict is *failed* with this reason."""


class CheckSkipped(Exception):
    """The check cannot run here (faults off, load not allowed): the verdict is *skipped*."""


class CheckNotApplicable(Exception):
    """Discovered at run time that the contract cannot apply: *not-applicable*."""


class Evidence:
    """Request ids, transaction ids, statuses and the deciding headers and event of one check."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []
        self.transaction_ids: list[str] = []
        self.data: dict[str, Any] = {}

    def response(self, response: Any, label: str | None = None) -> Any:
        """Note an httpx2 response (raw probe): its request id, status and deciding headers."""
        request_id = response.headers.get("x-request-id") or response.request.headers.get("x-request-id")
        if request_id:
            self._add(self.request_ids, request_id)
        self._note(label, response.status_code, dict(response.headers))
        return response

    def result(self, result: Any, label: str | None = None) -> Any:
        """Note a caller ``CallResult``: transaction id, every attempt's request id, status."""
        if getattr(result, "transaction_id", None):
            self._add(self.transaction_ids, result.transaction_id)
        for attempt in getattr(result, "attempts", None) or []:
            if getattr(attempt, "request_id", None):
                self._add(self.request_ids, attempt.request_id)
        if getattr(result, "request_id", None):
            self._add(self.request_ids, result.request_id)
        self._note(label, result.status, dict(result.response_headers or {}))
        return result

    def note(self, key: str, value: Any) -> None:
        self.data[key] = value

    def expect(self, condition: object, reason: str) -> None:
        """Fail the check with ``reason`` unless ``condition`` holds."""
        if not condition:
            raise CheckFailed(reason)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.data)
        if self.request_ids:
            out["request_ids"] = list(self.request_ids)
        if self.transaction_ids:
            out["transaction_ids"] = list(self.transaction_ids)
        return out

    def _note(self, label: str | None, status: int | None, headers: dict[str, str]) -> None:
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in DECIDING_HEADERS}
        self.data["status"] = status
        self.data["headers"] = kept
        if label:
            self.data.setdefault("probes", {})[label] = {"status": status, "headers": kept}

    @staticmethod
    def _add(values: list[str], value: str) -> None:
        if value not in values:
            values.append(value)
