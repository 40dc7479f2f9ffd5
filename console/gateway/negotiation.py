"""Content negotiation: which format to answer in, and reading request bodies safely.

Two formats exist: JSON (always) and XML (only for operations with the ``json-xml`` policy).
``Accept`` is read per RFC 9110 §12.5.1: q-values, ``type/*`` and ``*/*``, the most specific
range deciding each format's weight; a tie goes to the more specific match, then to JSON.
"""

from __future__ import annotations

import json
from typing import Any

from console.gateway.problems import Problem

JSON_TYPES = ("application/json", "application/problem+json")
XML_TYPES = ("application/xml", "text/xml", "application/problem+xml")

_DEFAULT = "json"


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """``(type, subtype, q)`` for each well-formed media range; malformed ones are skipped."""
    ranges = []
    for part in accept.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        media = pieces[0].lower()
        if media.count("/") != 1:
            continue
        main, sub = media.split("/")
        if not main or not sub or (main == "*" and sub != "*"):
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
                break
        if 0.0 <= quality <= 1.0:
            ranges.append((main, sub, quality))
    return ranges


def _weight(ranges: list[tuple[str, str, float]], media_types: tuple[str, ...]) -> tuple[float, int]:
    """``(q, specificity)`` of a format, from the most specific range naming any of its types.

    Specificity first, so that ``application/json;q=0, */*`` refuses JSON even though
    ``*/*`` would admit ``application/problem+json``. q is -1 when no range matches.
    """
    best = (-1, -1.0)
    for media_type in media_types:
        main, sub = media_type.split("/")
        match = (-1.0, -1)
        for range_main, range_sub, quality in ranges:
            if (range_main, range_sub) == (main, sub):
                specificity = 2
            elif range_main == main and range_sub == "*":
                specificity = 1
            elif range_main == "*":
                specificity = 0
            else:
                continue
            if specificity > match[1]:
                match = (quality, specificity)
        best = max(best, (match[1], match[0]))
    return best[1], best[0]


def _ranked(accept: str | None, xml_allowed: bool) -> str | None:
    if accept is None or not accept.strip():
        return _DEFAULT
    ranges = _media_ranges(accept)
    json_weight = _weight(ranges, JSON_TYPES)
    xml_weight = _weight(ranges, XML_TYPES) if xml_allowed else (-1.0, -1)
    best_format, best_weight = ("json", json_weight)
    if xml_weight > json_weight:
        best_format, best_weight = ("xml", xml_weight)
    if best_weight[0] <= 0.0:
        return None
    return best_format


def choose_format(accept: str | None, xml_allowed: bool) -> str:
    """``"json"`` or ``"xml"`` for a response; a 406 problem when neither is acceptable.

    No ``Accept`` means JSON. ``application/problem+json`` counts as asking for JSON, so a
    client that only accepts error bodies still gets an answer.
    """
    chosen = _ranked(accept, xml_allowed)
    if chosen is None:
        offered = ", ".join(("application/json", "application/xml") if xml_allowed else ("application/json",))
        raise Problem(
            406, "Not Acceptable",
            f"Accept: {accept} names no format this operation produces; send Accept: {offered}",
            acceptable=offered.split(", "),
        )
    return chosen


def prefers_xml(accept: str | None) -> bool:
    """Whether an error body should be XML: the caller ranks XML above JSON.

    Independent of the operation, so that even a 406 from a JSON-only operation can be written
    in the form the caller reads.
    """
    return _ranked(accept, xml_allowed=True) == "xml"


def _body_format(content_type: str | None, xml_allowed: bool) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return "json"
    is_xml = media in ("application/xml", "text/xml") or (
        media.startswith("application/") and media.endswith("+xml")
    )
    if is_xml and xml_allowed:
        return "xml"
    offered = "application/json or application/xml" if xml_allowed else "application/json"
    if is_xml:
        detail = f"this operation reads JSON only; send Content-Type: {offered}"
    elif not media:
        detail = f"the request has a body but no Content-Type; send Content-Type: {offered}"
    else:
        detail = f"Content-Type: {media} is not read here; send Content-Type: {offered}"
    raise Problem(415, "Unsupported Media Type", detail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (a hostile body cannot blow the stack)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in value.values())
        elif isinstance(value, list):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in value)
    return deepest


def _parse_json(raw: bytes) -> Any:
    from console.gateway.xmlcodec import MAX_DEPTH

    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise Problem(
            400, "Bad Request",
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno, column=exc.colno,
        ) from None
    except UnicodeDecodeError as exc:
        raise Problem(400, "Bad Request", f"the JSON body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise Problem(400, "Bad Request", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise Problem(400, "Bad Request", f"the JSON body nests deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise Problem(400, "Bad Request", f"the JSON body nests deeper than {MAX_DEPTH} levels")
    return data


def parse_body(content_type: str | None, raw: bytes, xml_allowed: bool, max_bytes: int) -> Any:
    """The request body as JSON-shaped data; ``None`` for an empty body.

    413 past ``max_bytes``, 415 for a media type the operation does not read (XML on a JSON-only
    operation included), 400 for malformed JSON or XML with line and column in the detail.
    """
    if len(raw) > max_bytes:
        raise Problem(
            413, "Content Too Large",
            f"the request body is {len(raw)} bytes; this gateway accepts at most {max_bytes}",
            max_bytes=max_bytes,
        )
    if not raw.strip():
        return None
    if _body_format(content_type, xml_allowed) == "xml":
        from console.gateway.xmlcodec import from_xml

        return from_xml(raw)
    return _parse_json(raw)


def render(data: Any, fmt: str) -> tuple[bytes, str]:
    """``(body, media type)`` for a successful response in ``fmt`` (``"json"`` or ``"xml"``)."""
    if fmt == "xml":
        from console.gateway.xmlcodec import to_xml

        return to_xml(data), "application/xml"
    return json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8"), "application/json"
