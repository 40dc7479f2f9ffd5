"""OAuth2 on every operation (RFC 6750 §3): no token, a forged token, a missing scope, then the
right token.

A forged token is a real token with its signature altered: the gateway must check signatures,
not merely decode. The missing-scope token is valid and carries the same kind of scope on
another domain, so only the scope check can refuse it.
"""

from __future__ import annotations

from typing import Any

from console.conformance.checks.common import expect_problem, expect_success, other_domain_scope
from console.conformance.evidence import Evidence


def forge(token: str) -> str:
    """``token`` with its signature's first characters changed (still well-formed base64url)."""
    head, payload, signature = token.split(".")
    flipped = "".join("A" if ch != "A" else "B" for ch in signature[:8]) + signature[8:]
    return f"{head}.{payload}.{flipped}"


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    op = item.operation
    fields = await probe.prepare(op)
    body = fields.get("body")

    anonymous = ev.response(await probe.send(op, body, scope=None), "no-token")
    expect_problem(ev, anonymous, 401, "no token")
    challenge = anonymous.headers.get("www-authenticate") or ""
    ev.expect(challenge.lower().startswith("bearer") and "realm=" in challenge,
              f"no token: WWW-Authenticate is {challenge!r}, not a Bearer challenge with a realm")

    good = await probe.token(op.scope)
    forged = ev.response(await probe.send(op, body, token=forge(good)), "forged-token")
    expect_problem(ev, forged, 401, "forged token")
    challenge = forged.headers.get("www-authenticate") or ""
    ev.expect('error="invalid_token"' in challenge,
              f'forged token: WWW-Authenticate is {challenge!r}, lacks error="invalid_token"')

    if probe.thorough:
        garbage = ev.response(await probe.send(op, body, token="not-a-jwt"), "garbage-token")
        expect_problem(ev, garbage, 401, "malformed token")

    domains = sorted({o.domain for o in probe.catalogue.operations})
    scope = other_domain_scope(op, domains)
    narrow = ev.response(await probe.send(op, body, scope=scope), "missing-scope")
    expect_problem(ev, narrow, 403, f"token with only {scope}")
    challenge = narrow.headers.get("www-authenticate") or ""
    ev.expect('error="insufficient_scope"' in challenge,
              f'missing scope: WWW-Authenticate is {challenge!r}, lacks error="insufficient_scope"')

    result = ev.result(await probe.call(op, **fields), "authorised")
    expect_success(ev, result, f"token with {op.scope}")
    return f"401 without a token and with a forged one, 403 without {op.scope}, {result.status} with it"
