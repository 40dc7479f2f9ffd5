"""api-gateway: the answer came through the gateway route (docs/contracts.md, Policy notes).

``Via`` and ``X-Request-Id`` on the response, the caller's W3C trace continued in
``traceparent``, and the log record naming the route and the service.
"""

from __future__ import annotations

from typing import Any

from console.conformance.checks.common import expect_success, header, trace_id_of
from console.conformance.evidence import Evidence


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    result = ev.result(await probe.call(op, **await probe.prepare(op)), "call")
    expect_success(ev, result, "call")
    headers = result.response_headers
    via = header(headers, "via")
    ev.expect(via, "no Via header: the answer does not show it came through the gateway")
    ev.expect(header(headers, "x-request-id"), "no X-Request-Id header")
    echoed = trace_id_of(header(headers, "traceparent"))
    ev.expect(echoed == result.trace_id,
              f"traceparent trace id {echoed} does not continue the caller's {result.trace_id}")
    record = await probe.admin_log(result.request_id)
    ev.expect(record is not None, f"no gateway log record for request {result.request_id}")
    route = (record.get("route") or {}).get("name")
    service = (record.get("service") or {}).get("name")
    ev.note("route", route)
    ev.note("service", service)
    ev.expect(route, f"log record {result.request_id} names no route")
    ev.expect(service, f"log record {result.request_id} names no service")
    return f"Via {via!r}, trace continued, route {route!r} of service {service!r}"
