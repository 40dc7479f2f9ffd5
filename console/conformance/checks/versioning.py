"""versioning: every catalogued version serves the operation; the oldest answers the bare
resource and announces its retirement (``Deprecation`` RFC 9745, ``Sunset`` RFC 8594, ``Link``
to its successor with ``rel="successor-version"``); later ones wrap it as
``{"data": …, "meta": …}``; an unversioned call is the latest; and the data read equal across
versions (exactly, for one record's status; by shape for everything else).
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any

from console.conformance.checks.common import alike, expect_success, header, json_body, skeleton
from console.conformance.evidence import Evidence


def is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"data", "meta"}


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    versions = list(item.contract.params.get("versions") or ["v1", "v2"])
    oldest, latest = versions[0], versions[-1]
    exact = op.action == "check-status"
    shared = await probe.comparable(op) if exact else None
    resources: dict[str, Any] = {}
    for version in [*versions, None]:
        label = version or "unversioned"
        fields = shared or await probe.comparable(op)
        result = ev.result(await probe.call(op, version=version, **fields), label)
        expect_success(ev, result, f"{label} call")
        headers = result.response_headers
        body = json_body(result.response_body)
        if version == oldest:
            _expect_retirement(ev, headers, versions[1], op.path)
            ev.expect(result.status == 204 or not is_envelope(body),
                      f"{oldest} answered an envelope; it serves the bare resource")
            resources[label] = body
            continue
        ev.expect(not header(headers, "deprecation") or version not in (latest, None),
                  f"{label} (the latest) carries a Deprecation header")
        if result.status != 204:
            ev.expect(is_envelope(body), f"{label} did not wrap the resource as {{\"data\", \"meta\"}}")
            resources[label] = body["data"]
    if oldest in resources and latest in resources and resources[oldest] is not None:
        if exact:
            ev.expect(resources[oldest] == resources[latest],
                      f"{oldest} and {latest} read the same record differently")
        else:
            ev.expect(alike(skeleton(resources[oldest]), skeleton(resources[latest])),
                      f"{oldest} and {latest} answer in different shapes")
    return (f"{', '.join(versions)} served; {oldest} bare with Deprecation, Sunset and a successor "
            f"Link; {latest} enveloped; unversioned = {latest}")


def _expect_retirement(ev: Evidence, headers: Any, successor: str, path: str) -> None:
    deprecation = header(headers, "deprecation")
    ev.expect(deprecation and re.fullmatch(r"@-?\d+", deprecation.strip()),
              f"Deprecation is {deprecation!r}, not an RFC 9745 date (@<unix seconds>)")
    sunset = header(headers, "sunset")
    try:
        ev.expect(sunset and parsedate_to_datetime(sunset), f"Sunset is {sunset!r}, not an HTTP-date")
    except (TypeError, ValueError):
        ev.expect(False, f"Sunset is {sunset!r}, not an HTTP-date")
    link = header(headers, "link") or ""
    ev.expect('rel="successor-version"' in link and f"/{successor}{path}" in link,
              f'Link is {link!r}, expected <…/{successor}{path}…>; rel="successor-version"')
