"""The caller's policy against a real HTTP server (the mini gateway): retries, idempotency,
rate budget, rollback, token handling, and what reaches the log."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from console.caller import Caller, CallRequest
from console.txlog import TransactionLog
from tests.support.txlog import CLIENT_SECRET, db_bytes, small_catalogue

PATH = "/customer/update"


def caller(profile, catalogue, log, **kwargs) -> Caller:
    return Caller(profile, catalogue, log, retry_base_s=0.01, rng=random.Random(7), **kwargs)


async def test_two_transient_failures_then_commit_creates_one_record(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={"name": "An"},
                                          headers={"X-Fault-Fail-Attempts": "2"}))
    assert result.outcome == "committed"
    assert [a.status for a in result.attempts] == [503, 503, 201]
    assert len(mini_gateway.records) == 1
    sent = [r["headers"] for r in mini_gateway.requests]
    keys = {h["idempotency-key"] for h in sent}
    assert len(keys) == 1 and next(iter(keys)).startswith('"') and next(iter(keys)).endswith('"')
    assert len({h["x-request-id"] for h in sent}) == 1
    parents = [h["traceparent"].split("-") for h in sent]
    assert len({p[1] for p in parents}) == 1, "one trace for the whole call"
    assert len({p[2] for p in parents}) == 3, "a new span per attempt"
    stored = txlog.get(result.transaction_id)
    assert stored.outcome == "committed" and stored.attempt_count == 3 and stored.retries == 2
    assert [a.status for a in stored.attempts] == [503, 503, 201]
    assert stored.event_id == result.event_id == "evt-1"
    assert stored.request_body == result.request_body == '{"name": "An"}'
    assert stored.request_headers == result.request_headers
    assert stored.request_headers["Authorization"] == "REDACTED"


async def test_every_attempt_failing_stops_after_max_retries_plus_one(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(max_retries=2), txlog) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={"n": 1},
                                          headers={"X-Fault-Fail-Attempts": "99"}))
    assert result.outcome == "retries_exhausted"
    assert len(result.attempts) == 3 == len(mini_gateway.requests)
    assert txlog.get(result.transaction_id).outcome == "retries_exhausted"


async def test_operation_without_retry_contract_is_tried_once(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        result = await c.call(CallRequest(PATH, "DELETE", "delete-info", record_id="9",
                                          headers={"X-Fault-Abort": "503"}))
    assert result.outcome == "failed" and len(result.attempts) == 1
    assert mini_gateway.requests[0]["query"] == {"action": "delete-info", "id": "9"}
    assert "idempotency-key" not in mini_gateway.requests[0]["headers"]


async def test_non_retryable_status_is_not_retried(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={},
                                          headers={"X-Fault-Abort": "500"}))
    assert result.outcome == "failed" and len(result.attempts) == 1


async def test_bad_request_is_rejected(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={},
                                          headers={"X-Fault-Abort": "422"}))
    assert result.outcome == "rejected" and result.status == 422 and not result.ok


async def test_fault_after_write_is_rolled_back(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        result = await c.call(CallRequest(PATH, "DELETE", "delete-info", record_id="1",
                                          headers={"X-Fault-After-Write": "true"}))
    assert result.outcome == "rolled_back" and result.rolled_back
    assert txlog.get(result.transaction_id).rolled_back is True


async def test_retry_after_is_honoured(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(max_retries=1), txlog) as c:
        result = await c.call(CallRequest(PATH, "PATCH", "update-config", body={"k": "v"},
                                          headers={"X-Fault-Abort": "429", "X-Test-Retry-After": "1"}))
    first, second = result.attempts
    assert first.retry_after_s == 1.0
    assert second.started_at - (first.started_at + first.elapsed_ms / 1000) >= 0.99
    assert result.outcome == "retries_exhausted"


async def test_retry_after_beyond_the_wait_limit_stops_as_rate_limited(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog, max_wait_s=5) as c:
        result = await c.call(CallRequest(PATH, "PATCH", "update-config", body={"k": "v"},
                                          headers={"X-Fault-Abort": "429", "X-Test-Retry-After": "120"}))
    assert result.outcome == "rate_limited" and len(result.attempts) == 1
    assert "Retry-After" in result.error


async def test_burst_over_the_budget_is_refused_without_sending(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(limit=5), txlog) as c:
        results = await asyncio.gather(*[c.call(CallRequest(PATH, "POST", "add-record", body={"i": i}))
                                         for i in range(7)])
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["committed"] * 5 + ["rate_limited"] * 2
    assert len(mini_gateway.requests) == 5, "never more than the declared limit on the wire"
    refused = [r for r in results if r.outcome == "rate_limited"]
    assert all(r.attempts == [] and "budget" in r.error for r in refused)
    assert txlog.count(outcome="rate_limited") == 2


async def test_budget_off_lets_the_gateway_answer(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(limit=1), txlog, use_budget=False) as c:
        for _ in range(3):
            assert (await c.call(CallRequest(PATH, "POST", "add-record", body={}))).outcome == "committed"


async def test_a_401_refetches_the_token_once(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        assert (await c.call(CallRequest(PATH, "GET", "check-status"))).outcome == "ok"
        mini_gateway.revoke_all()
        result = await c.call(CallRequest(PATH, "GET", "check-status"))
    assert result.outcome == "ok"
    assert [a.status for a in result.attempts] == [401, 200]
    assert [a.status for a in txlog.get(result.transaction_id).attempts] == [401, 200]
    assert len(mini_gateway.tokens) == 2


async def test_an_expired_token_is_refetched_by_the_client(mini_gateway, mini_profile, txlog):
    mini_gateway.expires_in = 1
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        await c.call(CallRequest(PATH, "GET", "check-status"))
        state = await c.token_state()
        assert state.valid and state.expires_in_s <= 1
        deadline = time.monotonic() + 5
        while (await c.token_state()).expires_in_s > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        result = await c.call(CallRequest(PATH, "GET", "check-status"))
    assert result.outcome == "ok" and [a.status for a in result.attempts] == [200]
    assert len(mini_gateway.tokens) == 2
    txlog.close()
    data = db_bytes(txlog.path)
    assert not any(token.encode() in data for token in mini_gateway.tokens)


async def test_wrong_secret_is_a_failed_call_with_a_clear_error(mini_gateway, mini_profile, txlog):
    import dataclasses

    profile = dataclasses.replace(mini_profile, client_secret="wrong-secret-value")
    async with caller(profile, small_catalogue(), txlog) as c:
        state = await c.token_state()
        result = await c.call(CallRequest(PATH, "GET", "check-status"))
    assert not state.valid and "invalid_client" in state.error
    assert result.outcome == "failed" and "token request" in result.error
    assert mini_gateway.requests == []


async def test_connection_refused_is_retried_then_exhausted(mini_profile, txlog):
    import dataclasses

    from console.events.broker import free_port

    async with caller(mini_profile, small_catalogue(max_retries=2), txlog) as c:
        await c.token_state()
        c.profile = dataclasses.replace(mini_profile, base_url=f"http://127.0.0.1:{free_port()}")
        result = await c.call(CallRequest(PATH, "GET", "export-data"))
    assert result.outcome == "retries_exhausted" and len(result.attempts) == 3
    assert all(a.status is None and a.error.startswith("connection error") for a in result.attempts)


async def test_sla_verdict(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(max_ms=500), txlog) as c:
        fast = await c.call(CallRequest(PATH, "GET", "check-status"))
        slow = await c.call(CallRequest(PATH, "GET", "check-status", headers={"X-Fault-Delay-Ms": "600"}))
    assert fast.sla_ms == 500 and fast.sla_ok is True
    assert slow.sla_ok is False and slow.outcome == "ok"
    assert txlog.stats()["sla_breaches"] == 1


async def test_xml_body_and_negotiation(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        await c.call(CallRequest(PATH, "PATCH", "update-config", fmt="xml", body={"mode": "on"}))
    sent = mini_gateway.requests[0]
    assert sent["headers"]["content-type"] == "application/xml"
    assert sent["headers"]["accept"] == "application/xml"
    assert "<request><mode>on</mode></request>" in sent["body"]


async def test_get_body_fields_travel_as_query_and_versions_prefix_the_path(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        await c.call(CallRequest(PATH, "GET", "export-data", version="v2", body={"limit": 5}))
    sent = mini_gateway.requests[0]
    assert sent["path"] == "/v2/customer/update" and sent["query"] == {"action": "export-data", "limit": "5"}


async def test_cancelled_call_is_recorded_interrupted(mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(), txlog) as c:
        task = asyncio.create_task(c.call(CallRequest(PATH, "GET", "check-status",
                                                      headers={"X-Fault-Delay-Ms": "1500"})))
        deadline = time.monotonic() + 5
        while not mini_gateway.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [tx] = txlog.query()
    assert tx.outcome == "interrupted"


async def test_an_attempt_is_stored_before_the_backoff_so_an_abandoned_call_keeps_it(
        mini_gateway, mini_profile, txlog):
    async with caller(mini_profile, small_catalogue(max_retries=1), txlog) as c:
        task = asyncio.create_task(c.call(CallRequest(
            PATH, "PATCH", "update-config", body={"k": "v"},
            headers={"X-Fault-Abort": "429", "X-Test-Retry-After": "25"})))
        deadline = time.monotonic() + 10
        while not (txlog.query() and txlog.query()[0].attempt_count):
            assert time.monotonic() < deadline and not task.done(), "the first attempt was not stored"
            await asyncio.sleep(0.02)
        task.cancel()  # during the 25 s Retry-After wait
        with pytest.raises(asyncio.CancelledError):
            await task
    [tx] = txlog.query(with_attempts=True)
    assert tx.outcome == "interrupted" and [a.status for a in tx.attempts] == [429]


async def test_no_secret_or_token_reaches_the_database_file(mini_gateway, mini_profile, tmp_path):
    path = tmp_path / "secret-check.db"
    log = TransactionLog(path)
    async with caller(mini_profile, small_catalogue(), log) as c:
        await c.call(CallRequest(PATH, "POST", "add-record",
                                 body={"client_secret": CLIENT_SECRET, "note": f"pasted {CLIENT_SECRET}"}))
        await c.call(CallRequest(PATH, "GET", "check-status", headers={"X-Api-Key": "k-123456789"}))
        mini_gateway.revoke_all()
        await c.call(CallRequest(PATH, "GET", "check-status"))
    log.close()
    data = db_bytes(path)
    assert mini_gateway.tokens and len(mini_gateway.tokens) == 2
    for secret in [CLIENT_SECRET, "k-123456789", *mini_gateway.tokens]:
        assert secret.encode() not in data, f"{secret[:6]}… leaked into the database file"
    assert b"REDACTED" in data


async def test_an_in_process_transport_is_used_for_token_and_calls(txlog):
    import httpx2

    from console.config import Profile
    from tests.support.txlog import CLIENT_ID, MiniGateway, mini_gateway_app

    gw = MiniGateway(base_url="http://gateway.test", token_url="http://gateway.test/oauth/token")
    profile = Profile(name="asgi", base_url=gw.base_url, token_url=gw.token_url,
                      client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with caller(profile, small_catalogue(), txlog,
                      transport=httpx2.ASGITransport(app=mini_gateway_app(gw))) as c:
        result = await c.call(CallRequest(PATH, "POST", "add-record", body={"a": 1}))
    assert result.outcome == "committed" and len(gw.tokens) == 1 and len(gw.records) == 1


async def test_budget_sliding_window_waits_or_refuses():
    from console.caller import BudgetRefused, RateBudget

    now = [100.0]
    budget = RateBudget(clock=lambda: now[0])
    key = ("/p", "POST", "add-record")
    for _ in range(3):
        await budget.acquire(key, 3, 60)
    with pytest.raises(BudgetRefused) as refused:
        await budget.acquire(key, 3, 60)
    assert refused.value.retry_in_s == 60 and "3 per 60 s" in str(refused.value)
    now[0] += 59.9
    assert budget.remaining(key, 3, 60) == 0
    now[0] += 0.2
    assert budget.remaining(key, 3, 60) == 3
    assert budget.remaining(("/p", "GET", "check-status"), 3, 60) == 3, "one window per operation"


async def test_budget_wait_takes_the_next_free_slot():
    from console.caller import BudgetRefused, RateBudget

    budget = RateBudget()
    key = ("/p", "POST", "add-record")
    started = time.monotonic()
    await budget.acquire(key, 1, 0.3)
    await budget.acquire(key, 1, 0.3, max_wait_s=2)
    assert 0.3 <= time.monotonic() - started < 2, "the second slot frees one window after the first"
    with pytest.raises(BudgetRefused):
        await budget.acquire(key, 1, 0.3, max_wait_s=0.1)


async def test_token_request_is_client_credentials_with_the_profiles_scopes(mini_gateway, mini_profile, txlog):
    import dataclasses

    profile = dataclasses.replace(mini_profile, scopes=("customer:read", "customer:write"))
    async with caller(profile, small_catalogue(), txlog) as c:
        assert (await c.token_state()).valid
    [form] = mini_gateway.token_forms
    assert form == {"grant_type": "client_credentials", "scope": "customer:read customer:write"}
