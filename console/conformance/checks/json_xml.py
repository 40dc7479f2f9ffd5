"""json-xml: ``Accept`` and ``Content-Type`` negotiate JSON and XML, the same data reads equal
in both (through the one documented mapping), ``Vary: Accept`` is sent, an unacceptable
``Accept`` gets 406, errors come as ``application/problem+xml`` to a caller preferring XML, and — for methods that carry a body — another media type gets 415, an XML
body is accepted, and hostile XML (an entity expansion bomb) is refused with 400.
"""

from __future__ import annotations

from typing import Any

from console.catalogue.vocabulary import QUERY_METHODS
from console.catalogue.xmlmap import XmlMappingError, from_xml
from console.conformance.checks.common import (
    alike,
    expect_problem,
    expect_success,
    header,
    json_body,
    skeleton,
    unwrap,
)
from console.conformance.evidence import Evidence

PROBLEM_NS = "urn:ietf:rfc:7807"
#: "Billion laughs": a DTD whose entities expand exponentially. Parsers must refuse the DTD.
HOSTILE_XML = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<request><name>&lol3;</name></request>"""


def decode_xml(text: str) -> Any:
    """An XML answer read back through the json-xml contract's documented mapping."""
    return from_xml(text.encode("utf-8"))


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    exact = op.action == "check-status"
    shared = await probe.comparable(op) if exact else None
    as_json = ev.result(await probe.call(op, accept="application/json",
                                         **(shared or await probe.comparable(op))), "json")
    expect_success(ev, as_json, "JSON call")
    as_xml = ev.result(await probe.call(op, fmt="xml", **(shared or await probe.comparable(op))), "xml")
    expect_success(ev, as_xml, "XML call")
    vary = (header(as_xml.response_headers, "vary") or "").lower()
    ev.expect("accept" in vary, f"Vary is {vary!r}, lacks Accept")
    if as_xml.status != 204:
        media = (header(as_xml.response_headers, "content-type") or "").split(";")[0].strip()
        ev.expect(media == "application/xml", f"Accept: application/xml answered {media or 'untyped'}")
        try:
            xml_data = decode_xml(as_xml.response_body)
        except XmlMappingError as exc:
            ev.expect(False, f"XML answer does not read back through the mapping: {exc}")
        json_data = json_body(as_json.response_body)
        if exact:
            ev.expect(unwrap(xml_data) == unwrap(json_data), "the same record reads differently in XML and JSON")
        else:
            ev.expect(alike(skeleton(unwrap(xml_data)), skeleton(unwrap(json_data))),
                      "XML and JSON answers differ in shape")

    refused = ev.response(await probe.raw(op, headers={"Accept": "text/csv"}), "406")
    expect_problem(ev, refused, 406, "Accept: text/csv")
    xml_error = ev.response(await probe.raw(op, scope=None, headers={"Accept": "application/xml"}),
                            "problem-xml")
    media = (xml_error.headers.get("content-type") or "").split(";")[0].strip()
    ev.expect(media == "application/problem+xml" and PROBLEM_NS in xml_error.text,
              f"an error for a caller preferring XML came as {media or 'untyped'}, not "
              f"application/problem+xml in {PROBLEM_NS}")
    if op.method in QUERY_METHODS:
        return "JSON and XML read equal, Vary: Accept, 406 for text/csv (no body to negotiate)"

    wrong_type = ev.response(await probe.raw(op, headers={"Content-Type": "text/plain"},
                                             content=b"name=conformance"), "415")
    expect_problem(ev, wrong_type, 415, "Content-Type: text/plain")
    hostile = ev.response(await probe.raw(op, headers={"Content-Type": "application/xml"},
                                          content=HOSTILE_XML), "hostile-xml")
    expect_problem(ev, hostile, 400, "an XML body with an entity-expansion DTD")
    return "JSON and XML read equal, XML body accepted, Vary: Accept, 406, 415, hostile XML → 400"
