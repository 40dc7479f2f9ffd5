"""Each check can fail: against the real gateway with one behaviour broken by a tampering layer,
the matching check reports *failed* with a reason that names the broken promise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from console.catalogue import Contract
from tests.conformance import broken
from tests.conformance.conftest import PATH
from tests.support.gateway import make_catalogue

ADD = (PATH, "POST", "add-record")
READ = (PATH, "GET", "check-status")
LIMITED = (PATH, "GET", "export-data")
DELETE = (PATH, "DELETE", "delete-info")


def xml_request(scope: dict[str, Any]) -> bool:
    return "xml" in (broken.header(scope["headers"], "content-type") or "")


def operation_call(scope: dict[str, Any]) -> bool:
    return scope["path"].endswith(PATH)


def v1(scope: dict[str, Any]) -> bool:
    return scope["path"].startswith("/v1/")


@dataclass
class Breakage:
    """One broken behaviour: how to wrap the app, what to check, what the reason must say."""

    contract: str
    operation: tuple[str, str, str]
    wrap: Callable[[Any], Any]
    says: str
    start: dict[str, Any] = field(default_factory=dict)


BREAKAGES: dict[str, Breakage] = {
    "oauth2-serves-without-token": Breakage(
        "oauth2", ADD, lambda app: broken.Tamper(
            app, when=operation_call,
            request=lambda h: h if broken.header(h, "authorization")
            else [*h, (b"authorization", b"Bearer " + SERVED_TOKEN["token"].encode())]),
        "no token: expected 401"),
    "log-record-missing": Breakage(
        "transaction-log", ADD, lambda app: broken.Tamper(
            app, when=broken.path_is("/admin/log/"),
            response=lambda s, st, h, b: (404, broken.replaced(h, "content-type", "application/problem+json"),
                                          b'{"status": 404, "title": "Not Found"}')),
        "no gateway log record"),
    "log-keeps-the-token": Breakage("transaction-log", READ, broken.LeakyLog, "holds the access token"),
    "rollback-keeps-the-write": Breakage(
        "rollback-on-error", ADD, broken.CommitDespiteRollback, "exists after the rolled-back add"),
    "rollback-keeps-the-delete": Breakage(
        "rollback-on-error", DELETE, broken.CommitDespiteRollback, "is gone after the rolled-back delete"),
    "rollback-still-publishes": Breakage(
        "rollback-on-error", ADD, broken.EventDespiteRollback,
        "was published for the rolled-back call"),
    "event-never-published": Breakage(
        "kafka-event", READ, lambda app: app, "did not arrive", {"kafka": False}),
    "event-carries-another-trace": Breakage(
        "kafka-event", ADD, broken.SwapTrace, "is not the call's"),
    "no-server-timing": Breakage(
        "latency-sla", ADD, lambda app: broken.Tamper(app, response=broken.drop_headers("server-timing")),
        "no Server-Timing"),
    "late-answer-instead-of-504": Breakage(
        "latency-sla", ADD, broken.SlowWithoutDeadline, "expected 504"),
    "full-log-without-bodies": Breakage(
        "full-log", ADD, lambda app: broken.Tamper(
            app, when=broken.path_is("/admin/log/"),
            response=broken.edit_json(lambda r: {**r, "request": {k: v for k, v in r["request"].items()
                                                                  if k != "body"}})),
        "holds no request body"),
    "retry-runs-the-failing-attempts": Breakage(
        "retry", ADD, broken.RunsDespiteFailing, "took effect"),
    "retry-fault-ignored": Breakage(
        "retry", ADD, lambda app: broken.Tamper(app, request=lambda h: broken.without(h, "x-fault-fail-attempts")),
        "attempts made, expected"),
    "no-rate-limit-headers": Breakage(
        "rate-limit", LIMITED, lambda app: broken.Tamper(app, response=broken.drop_headers("ratelimit-policy")),
        "RateLimit-Policy is None"),
    "rate-limit-ignored": Breakage(
        "rate-limit", LIMITED, lambda app: broken.Tamper(app, response=broken.status_map({429: 200})),
        "0 answered 429"),
    "remaining-never-falls": Breakage(
        "rate-limit", LIMITED, lambda app: broken.Tamper(
            app, response=lambda s, st, h, b: (st, broken.replaced(broken.replaced(
                h, "ratelimit", '"default";r=9;t=30'), "x-ratelimit-remaining-minute", "9"), b)),
        "remaining did not fall"),
    "no-via": Breakage(
        "api-gateway", ADD, lambda app: broken.Tamper(app, response=broken.drop_headers("via")), "no Via"),
    "v1-without-deprecation": Breakage(
        "versioning", READ, lambda app: broken.Tamper(app, when=v1, response=broken.drop_headers("deprecation")),
        "Deprecation is None"),
    "json-when-xml-asked": Breakage(
        "json-xml", READ, lambda app: broken.Tamper(
            app, request=lambda h: broken.replaced(h, "accept", "application/json")
            if "xml" in (broken.header(h, "accept") or "") else h),
        "answered application/json"),
    "no-vary": Breakage(
        "json-xml", READ, lambda app: broken.Tamper(app, response=broken.drop_headers("vary")), "lacks Accept"),
    "hostile-xml-accepted": Breakage(
        "json-xml", ADD, lambda app: broken.Tamper(app, when=xml_request, response=broken.status_map({400: 201})),
        "expected 400, got 201"),
    "problem-json-to-an-xml-caller": Breakage(
        "json-xml", READ, lambda app: broken.Tamper(
            app, when=lambda scope: "xml" in (broken.header(scope["headers"], "accept") or ""),
            response=lambda s, st, h, b: (st, broken.replaced(h, "content-type", "application/problem+json")
                                          if st >= 400 else h, b)),
        "not application/problem+xml"),
    "add-answers-200": Breakage(
        "restful", ADD, lambda app: broken.Tamper(app, response=broken.status_map({201: 200})),
        "add-record answered 200"),
    "405-without-allow": Breakage(
        "restful", DELETE, lambda app: broken.Tamper(app, response=broken.drop_headers("allow")), "405 Allow is None"),
}

#: The token the "serves without a token" gateway slips into anonymous requests.
SERVED_TOKEN: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
async def test_check_reports_the_broken_behaviour(name, broken_gateway, check):
    breakage = BREAKAGES[name]
    target = broken_gateway(wrap=breakage.wrap, **breakage.start)
    SERVED_TOKEN["token"] = target.token()
    verdicts = await check(target, contracts=[breakage.contract], operations=[breakage.operation],
                           event_deadline_s=2.0)
    verdict = verdicts[(*breakage.operation, breakage.contract)]
    assert verdict.verdict == "failed", verdict
    assert breakage.says in verdict.reason
    assert verdict.request_ids or verdict.transaction_ids, "a failure points at its evidence"


async def test_slow_successes_fail_the_latency_sla(broken_gateway, check):
    catalogue = make_catalogue([(PATH, "GET", "check-status", [Contract("latency-sla", {"max_ms": 150})]),
                                (PATH, "POST", "add-record", [Contract("api-gateway")])])
    target = broken_gateway(catalogue, wrap=lambda app: broken.Sluggish(app, 0.2, broken.action_is("check-status")))
    verdicts = await check(target, contracts=["latency-sla"])
    verdict = verdicts[(PATH, "GET", "check-status", "latency-sla")]
    assert verdict.verdict == "failed"
    assert "over the 150 ms SLA" in verdict.reason
    assert verdict.evidence["p95_ms"] > 150


async def test_retry_catches_a_second_effect_without_records_to_count(broken_gateway, check):
    catalogue = make_catalogue([(PATH, "POST", "add-record", [Contract("retry", {"max_retries": 3})]),
                                (PATH, "GET", "check-status", [Contract("api-gateway")])])
    target = broken_gateway(catalogue, wrap=broken.RunsDespiteFailing)
    verdicts = await check(target, contracts=["retry"])
    verdict = verdicts[(*ADD, "retry")]
    assert verdict.verdict == "failed"
    assert "expected 2xx, got 409" in verdict.reason, verdict.reason
