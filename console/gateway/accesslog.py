"""One access-log record per request, in Kong's log shape, redacted before it is kept.

The record names the request, the response, the route and service, the client, latencies, tries,
the outcome (``committed | rolled_back | rejected | error``) and the trace id. For operations
with the ``full-log`` contract it also holds both sides' headers and bodies (bodies cut past a
size, with a ``truncated`` flag), enough to rebuild a HAR 1.2 entry. Records stay fetchable by
request id (``GET /admin/log/{request_id}``) and can be appended to an NDJSON file.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.private_files import open_private
from console.redact import REDACTED, redact_headers, redact_text

OUTCOMES = ("committed", "rolled_back", "rejected", "error")
#: Redacted paths and query strings remembered (:meth:`AccessLog._short`); cleared when full.
REDACTED_MEMO_SIZE = 4096
#: Only texts up to this length are remembered, so the memo stays under ~1 MiB.
REDACTED_MEMO_CHARS = 256


@dataclass
class Exchange:
    """What the gateway learns about one request while serving it; the log record's source."""

    request_id: str
    trace_id: str
    traceparent: str
    started_at: float
    t0: float
    method: str
    path: str
    query: str
    client_ip: str | None
    request_headers: list[tuple[str, str]]
    #: The request's headers by lower-case name (the first of a repeated one).
    headers: dict[str, str] = field(default_factory=dict)
    #: The caller's own ``X-Request-Id`` (when sane): recorded, never the record's key.
    client_request_id: str | None = None
    route: str | None = None
    service: str | None = None
    operation: dict[str, Any] | None = None
    version: str | None = None
    client_id: str | None = None
    outcome: str | None = None
    tries: int = 1
    transaction_id: str | None = None
    event_id: str | None = None
    faults_applied: list[str] = field(default_factory=list)
    faults_ignored: list[str] = field(default_factory=list)
    full: bool = False
    request_body: bytes | None = None
    action_ms: float | None = None
    replayed: bool = False
    problem: dict[str, Any] | None = None
    #: The request's size, once its headers and body are no longer kept (:meth:`AccessLog.record`).
    request_size: int | None = None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_outcome(status: int) -> str:
    if status < 400:
        return "committed"
    return "error" if status >= 500 else "rejected"


class AccessLog:
    """Keeps the latest records in memory by request id and appends each to an NDJSON file."""

    def __init__(self, capacity: int = 20_000, path: Path | None = None, body_limit: int = 16_384,
                 redact_keys: tuple[str, ...] = (), secrets: tuple[str, ...] = ()) -> None:
        self.capacity = capacity
        self.path = Path(path) if path else None
        self.body_limit = body_limit
        self.redact_keys = tuple(redact_keys)
        self.secrets = tuple(s for s in secrets if s)
        #: A record as JSON text, or the arguments of :meth:`build` for one nobody has asked
        #: for yet. Text rather than dicts: ``GET /admin/log/{id}`` answers it as it is, and
        #: thousands of kept dicts were work for every pass of the garbage collector.
        self._records: OrderedDict[str, str | _Deferred] = OrderedDict()
        self._lock = threading.Lock()
        self._file: Any = None
        #: Redacted forms of recent paths and query strings: the same few repeat on every call,
        #: and redacting them anew was a tenth of the gateway's time per request.
        self._redacted: dict[str, str] = {}
        if self.path is not None:
            self._file = open_private(self.path, "a", encoding="utf-8", buffering=1)

    def get(self, request_id: str) -> dict[str, Any] | None:
        text = self.get_json(request_id)
        return None if text is None else json.loads(text)

    def get_json(self, request_id: str) -> str | None:
        """The record as JSON text (what ``GET /admin/log/{request_id}`` answers), or None."""
        with self._lock:
            record = self._records.get(request_id)
            if isinstance(record, _Deferred):
                record = self._records[request_id] = _ENCODER.encode(self.build(*record.args))
            return record

    def record(self, ex: Exchange, status: int, response_headers: list[tuple[str, str]],
               response_body: bytes | None, response_size: int, ended: float, finished_at: float) -> None:
        """Keep the record of one finished exchange (arguments as :meth:`build`).

        Without an NDJSON file, a record that holds no headers or bodies (no ``full-log``) is
        built when first asked for: most never are, and building each one was ~3 % of the
        loop's time per request. What it is built from is cut down to what the record shows
        first: the request's headers and body are dropped, its size kept.
        """
        if self._file is not None or ex.full:
            self.add(self.build(ex, status, response_headers, response_body, response_size, ended,
                                finished_at))
            return
        ex.request_size = _request_size(ex)
        ex.request_headers, ex.headers, ex.request_body = [], {}, None
        with self._lock:
            self._records[ex.request_id] = _Deferred((ex, status, [], None, response_size, ended, finished_at))
            if len(self._records) > self.capacity:
                self._records.popitem(last=False)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: dict[str, Any]) -> None:
        text = _ENCODER.encode(record)
        with self._lock:
            self._records[record["request_id"]] = text
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)
        if self._file is not None:
            self._file.write(text + "\n")

    def close(self) -> None:
        """Close the NDJSON file (records stay readable from memory)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def build(self, ex: Exchange, status: int, response_headers: list[tuple[str, str]],
              response_body: bytes | None, response_size: int, ended: float, finished_at: float) -> dict[str, Any]:
        """The redacted record for one finished exchange."""
        total_ms = round((ended - ex.t0) * 1000, 3)
        req_size = ex.request_size if ex.request_size is not None else _request_size(ex)
        path, query = self._short(ex.path), self._short(ex.query)
        record: dict[str, Any] = {
            "request_id": ex.request_id,
            "client_request_id": self._text(ex.client_request_id) if ex.client_request_id else None,
            "trace_id": ex.trace_id,
            "started_at": _iso(ex.started_at),
            "finished_at": _iso(finished_at),
            "client_ip": ex.client_ip,
            "client_id": ex.client_id,
            "request": {
                "method": ex.method,
                "uri": path + (f"?{query}" if query else ""),
                "path": path,
                "querystring": query,
                "size": req_size,
            },
            "response": {"status": status, "size": response_size},
            "route": {"name": ex.route, "version": ex.version} if ex.route else None,
            "service": {"name": ex.service, "protocol": "http"} if ex.service else None,
            "operation": ex.operation,
            "latencies": {"request": total_ms, "gateway": round(total_ms - (ex.action_ms or 0), 3),
                          "proxy": ex.action_ms},
            "tries": ex.tries,
            "replayed": ex.replayed,
            "outcome": ex.outcome or default_outcome(status),
            "transaction_id": ex.transaction_id,
            "event_id": ex.event_id,
            "faults": {"applied": ex.faults_applied, "ignored": ex.faults_ignored},
            "full_log": ex.full,
        }
        if ex.problem:  # a detail may quote the request (a header, an id): redact it like one
            record["problem"] = {**ex.problem, "detail": self._text(ex.problem.get("detail") or "")}
        if ex.full:
            req_ct = _header(ex.request_headers, "content-type")
            resp_ct = _header(response_headers, "content-type")
            record["request"]["headers"] = self._headers(ex.request_headers)
            record["request"]["body"] = self._body(ex.request_body, req_ct)
            record["response"]["headers"] = self._headers(response_headers)
            record["response"]["body"] = self._body(response_body, resp_ct)
        return record

    def _text(self, text: str) -> str:
        return redact_text(text, secrets=self.secrets, keys=self.redact_keys)

    def _short(self, text: str) -> str:
        """:meth:`_text` of a path or query string, remembered (redaction is a pure function)."""
        if len(text) > REDACTED_MEMO_CHARS:
            return self._text(text)
        redacted = self._redacted.get(text)
        if redacted is None:
            if len(self._redacted) >= REDACTED_MEMO_SIZE:
                self._redacted.clear()
            redacted = self._redacted[text] = self._text(text)
        return redacted

    def _headers(self, headers: list[tuple[str, str]]) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in headers:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return redact_headers(merged, keys=self.redact_keys, secrets=self.secrets)

    def _body(self, body: bytes | None, content_type: str | None) -> dict[str, Any]:
        """``{"mime_type", "text" | "encoding"+"text", "size", "truncated"}`` (HAR-friendly)."""
        body = body or b""
        truncated = len(body) > self.body_limit
        cut = body[: self.body_limit]
        out: dict[str, Any] = {"mime_type": content_type or "", "size": len(body), "truncated": truncated}
        try:
            text = cut.decode("utf-8")
        except UnicodeDecodeError:
            if truncated:  # a cut through a multi-byte character is not binary
                text = cut.decode("utf-8", errors="ignore")
            else:
                out.update(encoding="base64", text=self._binary(cut))
                return out
        out["text"] = self._text(text)
        return out

    def _binary(self, body: bytes) -> str:
        """Base64 of a body that is not UTF-8, scanned first like text.

        Read byte for byte (Latin-1), credentials in ASCII are replaced in place. A body that
        reads as UTF-16 or UTF-32 (which spread a secret over every other byte) and holds a
        credential that way is withheld whole: it cannot be redacted in place.
        """
        as_bytes = body.decode("latin-1")
        redacted = self._text(as_bytes)
        if redacted != as_bytes:
            body = redacted.encode("latin-1", errors="replace")
        for codec in ("utf-16", "utf-16-be", "utf-32", "utf-32-be"):
            try:
                wide = body.decode(codec)
            except UnicodeDecodeError:
                continue
            if self._text(wide) != wide:
                return base64.b64encode(REDACTED.encode()).decode()
        return base64.b64encode(body).decode()


#: The NDJSON line's and the admin endpoint's encoding (Starlette's ``JSONResponse`` writes the
#: same bytes), built once: ``json.dumps`` with options builds an encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Deferred:
    """The arguments of :meth:`AccessLog.build` for a record not built yet."""

    __slots__ = ("args",)

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args


def _request_size(ex: Exchange) -> int:
    return int(_header(ex.request_headers, "content-length") or len(ex.request_body or b""))


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


__all__ = ["OUTCOMES", "REDACTED", "AccessLog", "Exchange", "default_outcome"]
