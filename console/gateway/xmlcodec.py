"""The json-xml mapping as the gateway serves it: mapping errors become problems, work is bounded.

The mapping itself is :mod:`console.catalogue.xmlmap`, shared with the console so both sides
read the same data the same way. A request body is read with bounds: at most
:data:`MAX_ELEMENTS` elements, :data:`MAX_DEPTH` levels and :data:`TIME_BUDGET_S` seconds, so
one client's body costs bounded work whatever it holds.
"""

from __future__ import annotations

import time
from typing import Any

from console.catalogue.xmlmap import MAX_DEPTH, XmlMappingError, to_xml, write_element
from console.catalogue.xmlmap import from_xml as _from_xml
from console.catalogue.xmlmap import parse_xml as _parse_xml
from console.gateway.problems import Problem

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "TIME_BUDGET_S", "from_xml", "parse_xml", "to_xml", "write_element"]

#: Elements one request body may hold (a 1 MiB body can hold 260,000 empty ones).
MAX_ELEMENTS = 20_000
#: Seconds one body may take to read; past it the gateway is too busy: 503 + Retry-After.
TIME_BUDGET_S = 2.0


def _problem(error: XmlMappingError) -> Problem:
    if error.members.get("limit") == "time":
        return Problem(503, "Service Unavailable", error.detail, headers={"Retry-After": "1"},
                       **error.members)
    return Problem(400, "Bad Request", error.detail, **error.members)


def from_xml(raw: bytes) -> Any:
    """:func:`console.catalogue.xmlmap.from_xml` within the bounds, refusing bad XML with a :class:`Problem`."""
    try:
        return _from_xml(raw, max_elements=MAX_ELEMENTS, deadline=time.monotonic() + TIME_BUDGET_S)
    except XmlMappingError as error:
        raise _problem(error) from None


def parse_xml(raw: bytes) -> Any:
    """:func:`console.catalogue.xmlmap.parse_xml` within the bounds, refusing bad XML with a :class:`Problem`."""
    try:
        return _parse_xml(raw, max_elements=MAX_ELEMENTS, deadline=time.monotonic() + TIME_BUDGET_S)
    except XmlMappingError as error:
        raise _problem(error) from None
