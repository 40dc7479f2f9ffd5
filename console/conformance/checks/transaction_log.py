"""The detailed transaction log on every operation: one record per request, holding no secret.

The console's own log must hold the call too, with its outcome and every attempt.

A call through the caller must leave a gateway record (found by its request id, in Kong's log
shape: request, response, route, client id, latencies, tries, outcome, trace id) that agrees with
what the caller saw. A raw call carrying a known token, a cookie and the client secret in a
query parameter must leave a record in which none of the three appear.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from console.catalogue.vocabulary import READ_ACTIONS
from console.conformance.checks.common import expect_success
from console.conformance.evidence import Evidence

KONG_FIELDS = ("request", "response", "client_id", "latencies", "tries", "outcome", "trace_id")
OUTCOMES = ("committed", "rolled_back", "rejected", "error")


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    result = ev.result(await probe.call(op, **await probe.prepare(op)), "call")
    expect_success(ev, result, "call")
    ev.expect(result.request_id, "the response carries no X-Request-Id to find its log record by")
    record = await probe.admin_log(result.request_id)
    ev.expect(record is not None, f"no gateway log record for request {result.request_id}")
    ev.note("log_record", {k: record.get(k) for k in ("outcome", "tries", "client_id", "trace_id")})
    missing = [name for name in KONG_FIELDS if name not in record]
    ev.expect(not missing, f"log record lacks {', '.join(missing)}")
    ev.expect(record["outcome"] in OUTCOMES, f"log outcome {record['outcome']!r} is none of {OUTCOMES}")
    ev.expect(record["outcome"] == "committed",
              f"a {result.status} answer is logged as {record['outcome']!r}, not 'committed'")
    ev.expect((record.get("response") or {}).get("status") == result.status,
              f"log says status {(record.get('response') or {}).get('status')}, the call got {result.status}")
    ev.expect((record.get("request") or {}).get("method") == op.method,
              f"log says method {(record.get('request') or {}).get('method')}, the call used {op.method}")
    ev.expect(record.get("client_id") == probe.profile.client_id,
              f"log names client {record.get('client_id')!r}, the call came from {probe.profile.client_id!r}")
    ev.expect(record.get("trace_id") == result.trace_id,
              f"log trace id {record.get('trace_id')} is not the call's {result.trace_id}")

    console = await probe.caller.txlog.run(probe.caller.txlog.get, result.transaction_id)
    ev.expect(console is not None and console.outcome == result.outcome
              and len(console.attempts) == len(result.attempts),
              f"the console's transaction log does not hold transaction {result.transaction_id} "
              "with its outcome and attempts")

    token = await probe.token(op.scope)
    cookie = f"session={secrets.token_hex(12)}"
    secret = probe.profile.client_secret
    fields = await probe.prepare(op)
    body = dict(fields.get("body") or {})
    # Reads ignore unknown fields, so only they get the secret in the query string; a write
    # would store it as record data, which is not the log's business.
    params = {"client_secret": secret} if op.action in READ_ACTIONS else {}
    leaky = ev.response(await probe.send(op, body or None, headers={"Cookie": cookie},
                                         params=params, token=token), "secrets")
    request_id = leaky.headers.get("x-request-id")
    ev.expect(request_id, "the response carries no X-Request-Id")
    leaked_record = await probe.admin_log(request_id)
    ev.expect(leaked_record is not None, f"no gateway log record for request {request_id}")
    text = json.dumps(leaked_record)
    for name, value in (("the access token", token), ("the cookie", cookie.split("=", 1)[1]),
                        ("the client secret", secret)):
        ev.expect(value not in text, f"log record {request_id} holds {name}")
    return f"record {result.request_id} agrees with the call; record {request_id} holds no secret"
