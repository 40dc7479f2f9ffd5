"""Small readers shared by the checks: bodies, problem details, trace ids, data equality."""

from __future__ import annotations

import json
import re
from typing import Any

from console.catalogue import Operation
from console.conformance.evidence import Evidence

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, or None when it is not one."""
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    return match.group(1) if match else None


def json_body(text: str | bytes | None) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def unwrap(data: Any) -> Any:
    """The resource inside a v2 envelope ``{"data": …, "meta": …}``; anything else as is."""
    if isinstance(data, dict) and set(data) == {"data", "meta"}:
        return data["data"]
    return data


#: Members that hold data keyed by the caller (a configuration map, a record's own fields):
#: their keys are content, not shape.
OPAQUE = frozenset({"config", "fields"})


def skeleton(data: Any) -> Any:
    """Member names and value types only (lists by their first item): equal for two answers of
    one operation even when their records, counts and clocks differ."""
    if isinstance(data, dict):
        return {k: ("object" if k in OPAQUE else skeleton(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [skeleton(data[0])] if data else []
    return type(data).__name__


def alike(first: Any, second: Any) -> bool:
    """Two skeletons agree; a null stands for any value (an empty optional member)."""
    if "NoneType" in (first, second):
        return True
    if isinstance(first, dict) and isinstance(second, dict):
        return set(first) == set(second) and all(alike(first[k], second[k]) for k in first)
    if isinstance(first, list) and isinstance(second, list):
        return not first or not second or alike(first[0], second[0])
    return first == second


def header(headers: Any, name: str) -> str | None:
    """A header from an httpx2 Headers or a plain dict (any case)."""
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None and isinstance(headers, dict):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def expect_problem(ev: Evidence, response: Any, status: int, what: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status``; its members."""
    ev.expect(response.status_code == status,
              f"{what}: expected {status}, got {response.status_code}")
    media = (response.headers.get("content-type") or "").split(";")[0].strip()
    ev.expect(media in ("application/problem+json", "application/problem+xml"),
              f"{what}: error body is {media or 'untyped'}, not RFC 9457 problem details")
    if media == "application/problem+json":
        body = json_body(response.content)
        ev.expect(isinstance(body, dict) and body.get("status") == status,
                  f"{what}: problem body lacks \"status\": {status}")
        return body
    return {}


def expect_success(ev: Evidence, result: Any, what: str) -> None:
    """A caller result that answered 2xx."""
    status = result.status
    ev.expect(status is not None and 200 <= status < 300,
              f"{what}: expected 2xx, got {status if status is not None else result.error}")


def other_domain_scope(op: Operation, domains: list[str]) -> str:
    """A scope the client may hold that is never enough for ``op``: the same kind on another
    domain, or — in a one-domain catalogue — the other kind on the same domain."""
    domain, suffix = op.scope.split(":")
    other = next((d for d in domains if d != domain), None)
    if other is not None:
        return f"{other}:{suffix}"
    return f"{domain}:{'write' if suffix == 'read' else 'read'}"
