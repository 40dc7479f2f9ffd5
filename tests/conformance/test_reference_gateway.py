"""Every check passes against the reference gateway (real app, real broker, real HTTP), and the
checks that need faults or load say why they were skipped when they cannot run."""

from __future__ import annotations

from tests.conformance.conftest import PATH

EVERY_CONTRACT = ["oauth2", "transaction-log", "rollback-on-error", "kafka-event", "latency-sla",
                  "full-log", "retry", "rate-limit", "api-gateway", "versioning", "json-xml", "restful"]


def failures(verdicts: dict) -> list[str]:
    return [f"{v.operation_label} {v.contract}: {v.verdict}: {v.reason}"
            for v in verdicts.values() if v.verdict != "passed"]


async def test_every_check_passes_on_the_reference_gateway(broken_gateway, check):
    target = broken_gateway()
    verdicts = await check(target, contracts=EVERY_CONTRACT)
    assert not failures(verdicts)
    assert {v.contract for v in verdicts.values()} == set(EVERY_CONTRACT)
    burst = verdicts[(PATH, "GET", "export-data", "rate-limit")]
    assert burst.evidence["refused"] == 1, "the limit+1 burst ran and met exactly one 429"
    event = verdicts[(PATH, "POST", "add-record", "kafka-event")].evidence["event"]
    assert event["type"] == "apilog.customer.add-record"
    assert all(v.request_ids or v.transaction_ids for v in verdicts.values()), "every verdict has evidence"
    # "No event" for each rolled-back action is proven by a fence on a one-partition topic.
    for method, action in (("POST", "add-record"), ("DELETE", "delete-info"), ("PUT", "update-config")):
        rollback = verdicts[(PATH, method, action, "rollback-on-error")]
        assert "read up to the fence event" in rollback.reason, rollback.reason
        assert rollback.evidence["fence_event"]


async def test_fault_checks_are_skipped_with_the_reason_when_faults_are_off(broken_gateway, check):
    target = broken_gateway(faults=False)
    verdicts = await check(target, contracts=["rollback-on-error", "retry"],
                           operations=[(PATH, "POST", "add-record")])
    for contract in ("rollback-on-error", "retry"):
        verdict = verdicts[(PATH, "POST", "add-record", contract)]
        assert verdict.verdict == "skipped"
        assert "faults off" in verdict.reason


async def test_a_run_right_after_a_burst_still_finds_the_faults(broken_gateway, check):
    """The fault probe once went to the plainest read, GET export-data here: its quota spent by
    the run before, the 429 read as "faults off" and every fault check was skipped."""
    target = broken_gateway()
    first = await check(target, contracts=["rate-limit"])
    assert first[(PATH, "GET", "export-data", "rate-limit")].evidence["refused"] == 1
    second = await check(target, contracts=["retry", "rollback-on-error"])
    assert second and not failures(second)


async def test_quota_exhaustion_is_skipped_without_allow_load(broken_gateway, check):
    target = broken_gateway()
    verdicts = await check(target, contracts=["rate-limit"], allow_load=False)
    verdict = verdicts[(PATH, "GET", "export-data", "rate-limit")]
    assert verdict.verdict == "skipped"
    assert "--allow-load" in verdict.reason
    assert verdict.evidence["remaining"][1] < verdict.evidence["remaining"][0]


async def test_thorough_run_passes_and_probes_more(broken_gateway, check):
    target = broken_gateway()
    verdicts = await check(target, contracts=["oauth2", "retry", "latency-sla", "rate-limit"],
                           thorough=True)
    assert not failures(verdicts)
    latency = verdicts[(PATH, "POST", "add-record", "latency-sla")]
    assert len(latency.evidence["elapsed_ms"]) == 20
    retry = verdicts[(PATH, "POST", "add-record", "retry")]
    assert retry.evidence["attempts_k1"] == [503, 201], "k=1 is tried too"
    assert "garbage-token" in verdicts[(PATH, "POST", "add-record", "oauth2")].evidence["probes"]


async def test_other_numbers_in_the_catalogue_are_checked_as_printed(broken_gateway, check):
    from console.catalogue import Contract
    from tests.support.gateway import make_catalogue

    catalogue = make_catalogue([
        (PATH, "POST", "add-record", [Contract("retry", {"max_retries": 5}),
                                      Contract("latency-sla", {"max_ms": 2000}),
                                      Contract("versioning", {"versions": ["v1", "v2", "v3"]})]),
        (PATH, "GET", "check-status", [Contract("rate-limit", {"limit": 20, "window_s": 60})]),
    ])
    target = broken_gateway(catalogue)
    verdicts = await check(target)
    assert not failures(verdicts)
    retry = verdicts[(PATH, "POST", "add-record", "retry")]
    assert len(retry.evidence["attempts_k5"]) == 6 and len(retry.evidence["attempts_k6"]) == 6
    assert "≤ 2000 ms" in verdicts[(PATH, "POST", "add-record", "latency-sla")].reason
    assert "v1, v2, v3 served" in verdicts[(PATH, "POST", "add-record", "versioning")].reason
    assert "q=20" in verdicts[(PATH, "GET", "check-status", "rate-limit")].evidence["headers"]["ratelimit-policy"]


async def test_a_check_reads_the_feed_the_front_end_opened_instead_of_a_second_one(
        broken_gateway, tmp_path, monkeypatch):
    """The console opens a feed for its Events view; its :check must not decode every event twice."""
    from console.session import Session

    target = broken_gateway()
    session = Session(target.profile(), target.catalogue, origin="console",
                      log_path=tmp_path / "transactions.db")
    async with session:
        feed = await session.open_feed(wait_connected_s=10.0)
        assert feed is not None and feed.status.state == "connected"
        started: list[object] = []
        real_start = type(feed).start

        async def counted_start(self):
            started.append(self)
            await real_start(self)

        monkeypatch.setattr(type(feed), "start", counted_start)
        verdicts = await session.check(contracts=["kafka-event", "rollback-on-error"],
                                       operations=[(PATH, "POST", "add-record")], allow_writes=True)
        assert not started, "the check started a feed of its own"
        assert all(v.verdict == "passed" for v in verdicts), [(v.contract, v.reason) for v in verdicts]
        event_id = next(v for v in verdicts if v.contract == "kafka-event").evidence["event"]["id"]
        assert feed.buffer.find(lambda e: e.id == event_id) is not None, "read on the console's feed"
