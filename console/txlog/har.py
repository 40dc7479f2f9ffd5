"""HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from transactions.

One entry per transaction: the request as sent (redacted) and the final response. Retries,
outcome, rollback flag and event id ride in underscore-prefixed custom fields, which the spec
allows. A call that got no response has status 0, as browsers record failed requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from console import __version__
from console.txlog.model import Transaction


def _pairs(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in headers.items()]


def _mime(headers: dict[str, str], default: str = "") -> str:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return value
    return default


def _status_text(status: int | None) -> str:
    try:
        return HTTPStatus(status).phrase if status else ""
    except ValueError:
        return ""


def har_entry(tx: Transaction) -> dict[str, Any]:
    """One HAR entry for ``tx``; ``time`` is the sum of ``timings`` as the spec requires."""
    body = tx.request_body or ""
    request: dict[str, Any] = {
        "method": tx.method, "url": tx.url or tx.path, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": _pairs(tx.request_headers), "headersSize": -1,
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(tx.url).query)],
        "bodySize": len(body.encode("utf-8")) if body else 0,
    }
    if body:
        request["postData"] = {"mimeType": _mime(tx.request_headers, "application/octet-stream"),
                               "params": [], "text": body}
    content = tx.response_body or ""
    size = len(content.encode("utf-8"))
    response = {
        "status": tx.status or 0, "statusText": _status_text(tx.status), "httpVersion": "HTTP/1.1",
        "cookies": [], "headers": _pairs(tx.response_headers), "redirectURL": "",
        "headersSize": -1, "bodySize": size if tx.status else -1,
        "content": {"size": size, "mimeType": _mime(tx.response_headers, "x-unknown"), "text": content},
    }
    last = tx.attempts[-1] if tx.attempts else None
    wait = round(last.elapsed_ms, 3) if last else round(tx.elapsed_ms or 0.0, 3)
    started = last.started_at if last else tx.started_at
    return {
        "startedDateTime": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
        "time": wait, "request": request, "response": response, "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1,
                    "send": 0, "wait": wait, "receive": 0},
        "comment": f"{tx.method} {tx.path}?action={tx.action}: {tx.outcome}",
        "_transactionId": tx.id, "_outcome": tx.outcome, "_attempts": tx.attempt_count,
        "_rolledBack": tx.rolled_back, "_eventId": tx.event_id, "_traceId": tx.trace_id,
        "_slaOk": tx.sla_ok, "_elapsedMs": tx.elapsed_ms,
    }


def har_document(transactions: Iterable[Transaction]) -> dict[str, Any]:
    """The whole HAR log object, entries oldest first (the order HAR viewers expect)."""
    entries = [har_entry(tx) for tx in transactions]
    entries.reverse()
    return {"log": {"version": "1.2", "creator": {"name": "apilog", "version": __version__},
                    "pages": [], "entries": entries}}
