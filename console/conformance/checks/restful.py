"""restful: RFC 9110 semantics on the wire — add → 201 + ``Location``, delete → 204 with no
body, reads and configuration → 200, a method the path does not serve → 405 + ``Allow`` naming
the ones it does, and the OpenAPI description published at ``/openapi.json``.

A row whose method contradicts its action never gets here: the plan reports it as a catalogue
defect, from the catalogue lint (``console.catalogue.lint.restful_defect``).
"""

from __future__ import annotations

from typing import Any

from console.catalogue.vocabulary import METHODS
from console.conformance.checks.common import expect_problem, header, json_body
from console.conformance.evidence import Evidence

EXPECTED_STATUS = {"add-record": (201,), "delete-info": (204,), "check-status": (200,),
                   "export-data": (200,), "update-config": (200, 204)}
#: Probed when the catalogue serves every method of METHODS on the path.
UNSERVED_FALLBACK = "TRACE"


def allowed(value: str | None) -> set[str]:
    return {m.strip().upper() for m in (value or "").split(",") if m.strip()}


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    result = ev.result(await probe.call(op, **await probe.prepare(op)), "call")
    expected = EXPECTED_STATUS[op.action]
    ev.expect(result.status in expected,
              f"{op.action} answered {result.status}, RFC 9110 expects {' or '.join(map(str, expected))}")
    if op.action == "add-record":
        ev.expect(header(result.response_headers, "location"), "201 without a Location header")
    if result.status == 204:
        ev.expect(not result.response_body, "204 with a body")

    served = probe.catalogue.methods_for(op.path)
    unserved = next((m for m in METHODS if m not in served), UNSERVED_FALLBACK)
    refusal = ev.response(await probe.raw(op, method=unserved), "405")
    expect_problem(ev, refusal, 405, f"{unserved} {op.path}")
    allow = allowed(refusal.headers.get("allow"))
    ev.expect(allow and set(served) <= allow and unserved not in allow,
              f"405 Allow is {refusal.headers.get('allow')!r}; {op.path} serves {', '.join(served)}")

    document = await _openapi(probe)
    ev.expect(document is not None, "no OpenAPI description at /openapi.json")
    assert document is not None
    ev.expect(str(document.get("openapi", "")).startswith("3."),
              f"/openapi.json is not OpenAPI 3 (openapi: {document.get('openapi')!r})")
    item_paths = document.get("paths") or {}
    ev.expect(op.method.lower() in (item_paths.get(op.path) or {}),
              f"/openapi.json does not describe {op.method} {op.path}")
    return f"{result.status} for {op.action}, 405 + Allow for {unserved}, described in /openapi.json"


async def _openapi(probe: Any) -> dict[str, Any] | None:
    """``/openapi.json``, fetched once per run."""

    async def fetch() -> dict[str, Any] | None:
        response = await probe.http.get(f"{probe.base_url}/openapi.json")
        body = json_body(response.content) if response.status_code == 200 else None
        return body if isinstance(body, dict) else None

    return await probe.once("openapi", fetch)
