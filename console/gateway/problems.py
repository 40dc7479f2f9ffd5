"""RFC 9457 problem details: the one shape of every error the gateway sends.

Handlers raise :class:`Problem`; the app turns it into ``application/problem+json`` or, when the
caller prefers XML, ``application/problem+xml`` (RFC 9457 Appendix B, namespace
``urn:ietf:rfc:7807``). Nothing else reaches the wire on failure: no traceback, no HTML page.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from console.catalogue.xmlmap import XmlMappingError, from_xml, write_element

#: RFC 9457 §4.2 registered type for "over the rate limit or quota".
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"

PROBLEM_JSON = "application/problem+json"
PROBLEM_XML = "application/problem+xml"
PROBLEM_XML_NAMESPACE = "urn:ietf:rfc:7807"

_STANDARD_MEMBERS = ("type", "title", "status", "detail", "instance")


class Problem(Exception):
    """An HTTP error with its problem-details body and any headers it needs (``Allow``, ...).

    ``Problem(404, "Not Found", "no path /x; known paths: /customer/update")``. Extension
    members go in as keyword arguments (``rolled_back=True``) and are sent beside the standard
    ones; ``headers`` travel with the response (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        type: str = "about:blank",  # noqa: A002 - the RFC 9457 member is called "type"
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = extensions

    def to_dict(self) -> dict[str, Any]:
        """The RFC 9457 members, then the extensions (which never override a standard member)."""
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        for name, value in self.extensions.items():
            if name not in body:
                body[name] = value
        return body


def problem_body(problem: Problem, fmt: str) -> tuple[bytes, str]:
    """The serialized body and its media type; ``fmt`` is ``"xml"`` or anything else for JSON."""
    if fmt == "xml":
        return problem_to_xml(problem.to_dict()), PROBLEM_XML
    return json.dumps(problem.to_dict(), ensure_ascii=False).encode("utf-8"), PROBLEM_JSON


def problem_response(problem: Problem, fmt: str) -> Response:
    """A Starlette response carrying ``problem`` in the caller's preferred format."""
    body, media_type = problem_body(problem, fmt)
    headers = dict(problem.headers)
    headers.setdefault("Vary", "Accept")
    return Response(body, status_code=problem.status, headers=headers, media_type=media_type)


def problem_to_xml(members: dict[str, Any]) -> bytes:
    """RFC 9457 Appendix B XML: standard members as plain elements, extensions per the codec.

    The standard members carry no ``type`` attribute, as the RFC's schema has them; the
    extensions use the json-xml mapping so that ``true`` stays a boolean.
    """
    out = ['<?xml version="1.0" encoding="utf-8"?>\n', f'<problem xmlns="{PROBLEM_XML_NAMESPACE}">']
    for name, value in members.items():
        write_element(out, name, value, typed=name not in _STANDARD_MEMBERS)
    out.append("</problem>")
    return "".join(out).encode("utf-8")


def problem_from_xml(raw: bytes) -> dict[str, Any]:
    """Read an ``application/problem+xml`` body back into the JSON members (``status`` an int)."""
    try:
        members = from_xml(raw)
    except XmlMappingError as error:
        raise Problem(400, "Bad Request", error.detail, **error.members) from None
    if not isinstance(members, dict):
        raise Problem(400, "Bad Request", "a problem+xml body must hold member elements")
    status = members.get("status")
    if isinstance(status, str) and status.strip().isdigit():
        members["status"] = int(status)
    return members
