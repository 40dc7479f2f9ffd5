"""A gateway full-log record as a HAR 1.2 entry, and a validator for the entry.

The full-log contract promises records "enough to export the exchange as a HAR 1.2 entry"; the
check proves it by building the entry from the record alone and validating it against the
required members of the HAR 1.2 specification (http://www.softwareishard.com/blog/har-12-spec/).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl


def entry_from_record(record: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The HAR entry for one full-log record (KeyError/TypeError when the record lacks a part)."""
    request, response = record["request"], record["response"]
    request_body = request["body"]
    response_body = response["body"]
    status = int(response["status"])
    total = float(record["latencies"]["request"])
    entry: dict[str, Any] = {
        "startedDateTime": record["started_at"],
        "time": total,
        "request": {
            "method": request["method"],
            "url": base_url.rstrip("/") + request["uri"],
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _pairs(request["headers"]),
            "queryString": [{"name": k, "value": v}
                            for k, v in parse_qsl(request.get("querystring") or "", keep_blank_values=True)],
            "headersSize": -1,
            "bodySize": int(request_body.get("size", -1)),
        },
        "response": {
            "status": status,
            "statusText": _phrase(status),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _pairs(response["headers"]),
            "content": {"size": int(response_body.get("size", 0)),
                        "mimeType": response_body.get("mime_type") or "",
                        "text": response_body.get("text", "")},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": int(response_body.get("size", -1)),
        },
        "cache": {},
        "timings": {"send": 0, "wait": total, "receive": 0},
    }
    if request_body.get("text"):
        entry["request"]["postData"] = {"mimeType": request_body.get("mime_type") or "",
                                        "text": request_body["text"]}
    if response_body.get("encoding"):
        entry["response"]["content"]["encoding"] = response_body["encoding"]
    return entry


def validate_entry(entry: dict[str, Any]) -> list[str]:
    """Every way ``entry`` breaks HAR 1.2's required members and types; empty when valid."""
    problems: list[str] = []
    _require(problems, entry, "entry", {"startedDateTime": str, "time": (int, float), "request": dict,
                                        "response": dict, "cache": dict, "timings": dict})
    request, response = entry.get("request", {}), entry.get("response", {})
    _require(problems, request, "request", {"method": str, "url": str, "httpVersion": str,
                                            "cookies": list, "headers": list, "queryString": list,
                                            "headersSize": int, "bodySize": int})
    _require(problems, response, "response", {"status": int, "statusText": str, "httpVersion": str,
                                              "cookies": list, "headers": list, "content": dict,
                                              "redirectURL": str, "headersSize": int, "bodySize": int})
    _require(problems, response.get("content", {}), "response.content", {"size": int, "mimeType": str})
    timings = entry.get("timings", {})
    _require(problems, timings, "timings", {"send": (int, float), "wait": (int, float),
                                            "receive": (int, float)})
    for where, pairs in (("request.headers", request.get("headers", [])),
                         ("response.headers", response.get("headers", [])),
                         ("request.queryString", request.get("queryString", []))):
        for pair in pairs if isinstance(pairs, list) else []:
            if not (isinstance(pair, dict) and isinstance(pair.get("name"), str)
                    and isinstance(pair.get("value"), str)):
                problems.append(f"{where}: {pair!r} is not a {{name, value}} pair of strings")
    if "postData" in request:
        _require(problems, request["postData"], "request.postData", {"mimeType": str})
    started = entry.get("startedDateTime")
    if isinstance(started, str):
        from datetime import datetime

        try:
            datetime.fromisoformat(started.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"startedDateTime {started!r} is not ISO 8601")
    return problems


def _require(problems: list[str], obj: Any, where: str, members: dict[str, Any]) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where} is not an object")
        return
    for name, kind in members.items():
        if name not in obj:
            problems.append(f"{where}.{name} is missing")
        elif not isinstance(obj[name], kind) or isinstance(obj[name], bool):
            problems.append(f"{where}.{name} has the wrong type ({type(obj[name]).__name__})")


def _pairs(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in headers.items()]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
