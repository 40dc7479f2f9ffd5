"""Content negotiation: which format to answer in, and reading request bodies safely.

Two formats exist: JSON (always) and XML (only for operations with the ``json-xml`` policy).
``Accept`` is read per RFC 9110 §12.5.1: q-values, ``type/*`` and ``*/*``, the most specific
range deciding each format's weight; a tie goes to the more specific match, then to JSON.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from console.gateway.problems import Problem
from console.gateway.xmlcodec import MAX_DEPTH, from_xml, to_xml
from console.jsontext import dumps_json, loads_json

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


@functools.lru_cache(maxsize=256)
def _ranked(accept: str | None, xml_allowed: bool) -> str | None:
    """Remembered: the same few ``Accept`` values come with every request, and parsing one
    anew was ~2 % of the gateway's CPU during ``apilog check`` (cProfile)."""
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
    raise Problem(400, "Bad Request",
                  f"the JSON body holds {name}, which is not a JSON number; send a finite number or null")


def _finite_float(text: str) -> float:
    """``json.loads`` turns ``1e400`` into infinity, which can be neither stored nor sent back."""
    value = float(text)
    if not math.isfinite(value):
        raise Problem(400, "Bad Request",
                      f"the JSON body holds the number {text[:40]}, beyond the range of a 64-bit "
                      "float; send a smaller number, or a string if it is an identifier")
    return value


def _pointer(path: tuple[Any, ...]) -> str:
    """RFC 6901 JSON Pointer of a place in the body, for naming it in an error."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path) or "/"


def _lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text`` (``"\\ud800"`` escapes decode to one), else None.

    Such a string cannot be written as UTF-8, so it could be neither stored nor answered.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _check_storable(data: Any, what: str) -> None:
    """One pass over a parsed body: nesting depth, and strings that UTF-8 cannot carry.

    Iterative, so that a hostile body cannot blow the stack. ``what`` names the body in errors.
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            bad = _lone_surrogate(value)
            if bad is not None:
                raise _surrogate_problem(what, bad, "in the string at", path)
            continue
        if len(path) >= MAX_DEPTH and isinstance(value, dict | list):
            raise Problem(400, "Bad Request", f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                bad = _lone_surrogate(key)
                if bad is not None:
                    raise _surrogate_problem(what, bad, "in a member name under", path)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


def _surrogate_problem(what: str, char: str, where: str, path: tuple[Any, ...]) -> Problem:
    pointer = _pointer(path)
    return Problem(400, "Bad Request",
                   f"{what} holds a lone UTF-16 surrogate (\\u{ord(char):04x}) {where} {pointer}; "
                   "send valid Unicode (a complete surrogate pair, or the character itself)",
                   pointer=pointer)


def _json_text(raw: bytes) -> str:
    """The body as text: UTF-8 only (RFC 8259 §8.1), a UTF-8 BOM ignored.

    ``json.loads`` would detect UTF-16 and UTF-32 on bytes and accept them; this gateway, like
    its documentation, reads UTF-8 only. Raw NUL is never part of a JSON text, and UTF-16 or
    UTF-32 text without a BOM is full of them.
    """
    # The "utf-8" codec has a fast path that "utf-8-sig" (looked up by name) lacks.
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = (raw[bom:] if bom else raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Bad Request", f"the JSON body is not UTF-8 text ({exc.reason} at byte "
                      f"{exc.start + bom}); send it encoded as UTF-8") from None
    if "\x00" in text:
        raise Problem(400, "Bad Request", "the JSON body is not UTF-8 text (it holds NUL bytes, as "
                      "UTF-16 and UTF-32 do); send it encoded as UTF-8")
    return text


#: What msgspec refuses is read by this (:func:`console.jsontext.loads_json`), built once:
#: ``json.loads`` with options builds a new decoder per call. Its hooks refuse ``NaN`` and
#: numbers past the float range, so no stored value is one and msgspec writes every response.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _parse_json(raw: bytes) -> Any:
    text = _json_text(raw)
    try:
        return loads_json(text, _DECODER.decode)
    except json.JSONDecodeError as exc:
        raise Problem(
            400, "Bad Request",
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno, column=exc.colno,
        ) from None
    except ValueError as exc:
        raise Problem(400, "Bad Request", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise Problem(400, "Bad Request", f"the JSON body nests deeper than {MAX_DEPTH} levels") from None


class Streamed(Protocol):
    """What :func:`read_body` reads: Starlette's ``Request`` or the handler's own ``Call``."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_body(request: Streamed, max_bytes: int) -> bytes:
    """The raw body, refusing with 413 as soon as it passes ``max_bytes`` (before buffering it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, "Content Too Large",
                   f"the request body is larger than this gateway accepts ({max_bytes} bytes)",
                   max_bytes=max_bytes)


def parse_body(content_type: str | None, raw: bytes, xml_allowed: bool, max_bytes: int | None = None) -> Any:
    """The request body as JSON-shaped data that can be stored and sent back; ``None`` when empty.

    413 past ``max_bytes`` (None when the caller's reader already enforced the limit while
    streaming), 415 for a media type the operation does not read (XML on a JSON-only operation
    included), 400 for malformed JSON or XML with line and column in the detail, and 400 for
    what parses but could not be stored and read back: numbers beyond a 64-bit float (``1e400``),
    ``NaN``/``Infinity``, lone UTF-16 surrogates, nesting past the depth limit.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise Problem(
            413, "Content Too Large",
            f"the request body is {len(raw)} bytes; this gateway accepts at most {max_bytes}",
            max_bytes=max_bytes,
        )
    if not raw.strip():
        return None
    if _body_format(content_type, xml_allowed) == "xml":
        data = from_xml(raw)
        _check_storable(data, "the XML body")
        return data
    data = _parse_json(raw)
    _check_storable(data, "the JSON body")
    return data


#: Bodies larger than this are parsed on :data:`_PARSERS`, not on the event loop: reading a
#: large body (260,000 XML elements took 2.5 s) would stall every other request meanwhile.
OFF_LOOP_BYTES = 16_384
#: Two parses at a time: a burst of large bodies queues here instead of taking every core.
_PARSERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-parse")


async def parse_body_off_loop(content_type: str | None, raw: bytes, xml_allowed: bool) -> Any:
    """:func:`parse_body`, on a worker thread when ``raw`` is large, so the loop keeps serving."""
    if len(raw) <= OFF_LOOP_BYTES:
        return parse_body(content_type, raw, xml_allowed)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_PARSERS, parse_body, content_type, raw, xml_allowed)


def render(data: Any, fmt: str) -> tuple[bytes, str]:
    """``(body, media type)`` for a successful response in ``fmt`` (``"json"`` or ``"xml"``)."""
    if fmt == "xml":
        return to_xml(data), "application/xml"
    return dumps_json(data), "application/json"
