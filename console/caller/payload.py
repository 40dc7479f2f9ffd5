"""Turning a ``CallRequest`` into a URL, headers and bytes, per docs/contracts.md.

The action travels as the ``action`` query parameter, the record id as ``id``; GET and DELETE
carry their fields in the query. XML bodies use the gateway's documented mapping
(``console.catalogue.xmlmap``, docs/gateway-edge.md) under a ``<request>`` root.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from console.caller.model import CallRequest
from console.catalogue.vocabulary import QUERY_METHODS

MEDIA = {"json": "application/json", "xml": "application/xml"}


def to_xml(value: Any, root: str = "request") -> str:
    """``value`` in the gateway's documented JSON↔XML mapping (one mapping for both sides)."""
    from console.catalogue.xmlmap import to_xml as encode

    return encode(value, root).decode("utf-8")


def build_url(base_url: str, req: CallRequest) -> tuple[str, dict[str, Any]]:
    """The full URL (query included) and the query parameters that went into it."""
    prefix = f"/{req.version.strip('/')}" if req.version else ""
    path = req.path if req.path.startswith("/") else "/" + req.path
    params: dict[str, Any] = {"action": req.action}
    if req.record_id is not None:
        params["id"] = req.record_id
    if isinstance(req.body, dict) and req.method in QUERY_METHODS:
        params.update({k: _query_value(v) for k, v in req.body.items()})
    params.update({k: _query_value(v) for k, v in req.params.items()})
    return f"{base_url.rstrip('/')}{prefix}{path}?{urlencode(params)}", params


def _query_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_body(req: CallRequest) -> tuple[bytes | None, str | None]:
    """The body bytes and their Content-Type (None, None when the request has no body)."""
    body = req.body
    if body is None or (isinstance(body, dict) and req.method in QUERY_METHODS):
        return None, None
    media = MEDIA[req.fmt]
    if isinstance(body, dict):
        text = json.dumps(body, ensure_ascii=False) if req.fmt == "json" else to_xml(body)
        return text.encode("utf-8"), media
    if isinstance(body, str):
        return body.encode("utf-8"), media
    return bytes(body), media


def body_text(data: bytes | None) -> str | None:
    """Request bytes as text for the log (binary stays readable enough to tell what it was)."""
    return None if data is None else data.decode("utf-8", errors="replace")
