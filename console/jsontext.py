"""JSON text read and written by msgspec, with the standard library's answers.

msgspec parses and writes JSON three to ten times as fast as :mod:`json`; the feed decodes every
event with it and the gateway reads every body and writes every response, record and event with
it. Reading keeps :func:`json.loads`'s answers exactly: msgspec parses what it accepts — strict
RFC 8259 JSON in UTF-8, integers of any size — to the values json.loads gives for it (tests
hold the two to that, Hypothesis-generated documents included), and what it refuses is handed
to the standard decoder, which reads it or raises as before. Writing is compact
(``separators=(",", ":")``, UTF-8 kept, as Starlette's ``JSONResponse`` writes); a float is
written in its shortest form (``1e16`` where json writes ``1e+16``: the same number).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

_fast_loads = msgspec.json.Decoder().decode

#: ``json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()``, as bytes.
dumps_json: Callable[[Any], bytes] = msgspec.json.Encoder().encode


def loads_json(raw: bytes | str, fallback: Callable[[Any], Any] = json.loads) -> Any:
    """``fallback(raw)`` (``json.loads`` unless given): the same value, or the same error, three
    to six times faster.

    What msgspec refuses and a standard decoder may read (``NaN``, ``Infinity``, a number past
    the float range, a lone surrogate, a BOM, UTF-16, nesting deeper than msgspec goes) is left
    to ``fallback``, which reads it or raises as it always did: a decoder with hooks (the
    gateway's, which refuses ``NaN`` and ``1e400`` with a problem) keeps its own answers.
    """
    try:
        return _fast_loads(raw)
    except (ValueError, RecursionError):
        return fallback(raw)
