"""The json-xml mapping as the gateway serves it: mapping errors become 400 problems.

The mapping itself is :mod:`console.catalogue.xmlmap`, shared with the console so both sides
read the same data the same way.
"""

from __future__ import annotations

from typing import Any

from console.catalogue.xmlmap import MAX_DEPTH, XmlMappingError, to_xml, write_element
from console.catalogue.xmlmap import from_xml as _from_xml
from console.catalogue.xmlmap import parse_xml as _parse_xml
from console.gateway.problems import Problem

__all__ = ["MAX_DEPTH", "from_xml", "parse_xml", "to_xml", "write_element"]


def _problem(error: XmlMappingError) -> Problem:
    return Problem(400, "Bad Request", error.detail, **error.members)


def from_xml(raw: bytes) -> Any:
    """:func:`console.catalogue.xmlmap.from_xml`, refusing bad XML with a 400 :class:`Problem`."""
    try:
        return _from_xml(raw)
    except XmlMappingError as error:
        raise _problem(error) from None


def parse_xml(raw: bytes) -> Any:
    """:func:`console.catalogue.xmlmap.parse_xml`, refusing bad XML with a 400 :class:`Problem`."""
    try:
        return _parse_xml(raw)
    except XmlMappingError as error:
        raise _problem(error) from None
