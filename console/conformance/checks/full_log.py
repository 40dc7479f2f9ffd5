"""full-log: the gateway's record holds both sides' headers and bodies, redacted, and rebuilds
as a valid HAR 1.2 entry.

The bodies are compared with what the caller sent and received (allowing for the truncation
flag), the ``Authorization`` header must read ``REDACTED``, and the HAR entry built from the
record alone — and the console's own HAR export of the transaction — must pass the HAR 1.2
validator.
"""

from __future__ import annotations

from typing import Any

from console.conformance.checks.common import expect_success
from console.conformance.evidence import Evidence
from console.conformance.har import entry_from_record, validate_entry


def _same_text(logged: dict[str, Any], actual: str | None) -> bool:
    text = logged.get("text") or ""
    actual = actual or ""
    return actual.startswith(text) if logged.get("truncated") else text == actual


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    result = ev.result(await probe.call(op, **await probe.prepare(op)), "call")
    expect_success(ev, result, "call")
    record = await probe.admin_log(result.request_id)
    ev.expect(record is not None, f"no gateway log record for request {result.request_id}")
    request, response = record.get("request") or {}, record.get("response") or {}
    for side, part in (("request", request), ("response", response)):
        ev.expect(isinstance(part.get("headers"), dict), f"log record holds no {side} headers")
        ev.expect(isinstance(part.get("body"), dict), f"log record holds no {side} body")
    authorization = {k.lower(): v for k, v in request["headers"].items()}.get("authorization")
    ev.expect(authorization == "REDACTED",
              f"logged Authorization is {'missing' if authorization is None else 'not REDACTED'}")
    ev.expect(_same_text(response["body"], result.response_body),
              "logged response body differs from the body the caller received")
    if result.request_body:
        ev.expect(_same_text(request["body"], result.request_body),
                  "logged request body differs from the body the caller sent")
    ev.note("truncated", {"request": request["body"].get("truncated"),
                          "response": response["body"].get("truncated")})
    try:
        entry = entry_from_record(record, probe.base_url)
    except (KeyError, TypeError, ValueError) as exc:
        ev.expect(False, f"log record cannot make a HAR entry: missing {exc}")
    problems = validate_entry(entry)
    ev.expect(not problems, "HAR entry from the gateway's record invalid: " + "; ".join(problems[:3]))

    from console.txlog.har import har_entry

    txlog = probe.caller.txlog
    transaction = await txlog.run(txlog.get, result.transaction_id)
    ev.expect(transaction is not None, f"the console's log lacks transaction {result.transaction_id}")
    problems = validate_entry(har_entry(transaction))
    ev.expect(not problems, "HAR export of the console's transaction invalid: " + "; ".join(problems[:3]))
    return (f"record {result.request_id} holds both bodies and headers, redacted; it and the "
            "console's transaction export as valid HAR 1.2 entries")
