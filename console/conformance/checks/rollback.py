"""rollback-on-error: a failure after the write keeps nothing — no data, no event.

The gateway is asked to fail inside the transaction (``X-Fault-After-Write: true``); the answer
must be a problem saying ``"rolled_back": true`` with the transaction id, the log outcome
``rolled_back``, the domain's data as it was before (the added record absent, the deleted one
still there, the configuration key unset), and no event for the call in Kafka.

"No event" is proven with a fence rather than a wait: a change to the same record or
configuration key is then committed (the add itself, the delete itself, the key removed), and
once its event is read, an event of the rolled-back call would have been read before it: a
topic of one partition is read in the order it was written. Where the topic has more
partitions (an event with another key could sit on another one), or the fence's event does not
come, the check watches the feed for ``QUIET_S`` instead. The fence replaced a 1.5 s watch in
every rollback check.
"""

from __future__ import annotations

import uuid
from typing import Any

from console.conformance.checks.common import json_body
from console.conformance.evidence import CheckSkipped, Evidence
from console.conformance.probe import QUIET_S

FAULT = {"X-Fault-After-Write": "true"}


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    if not probe.faults_enabled:
        raise CheckSkipped("the gateway ignores X-Fault-After-Write (faults off): start it with --faults")
    op = item.operation
    if op.action == "add-record":
        record_id = f"chk-rb-{uuid.uuid4().hex[:12]}"
        body = probe.body_for(op, record_id)
        result = await _faulted(probe, op, ev, body)
        ev.expect(not await probe.record_exists(op.path, record_id),
                  f"record {record_id} exists after the rolled-back add")
        kept = f"record {record_id} absent"
    elif op.action == "delete-info":
        record_id = await probe.new_record(op.path)
        body = {"id": record_id}
        result = await _faulted(probe, op, ev, body)
        ev.expect(await probe.record_exists(op.path, record_id),
                  f"record {record_id} is gone after the rolled-back delete")
        kept = f"record {record_id} still there"
    else:
        key = f"chk-rb-{uuid.uuid4().hex[:8]}"
        result = await _faulted(probe, op, ev, {key: "must not stay"})
        body = {key: None}  # the fence removes the key: a committed change that leaves nothing
        config = await probe.config_of(op.path)
        ev.expect(key not in config, f"configuration key {key} is set after the rolled-back update")
        kept = f"configuration key {key} unset"
    record = await probe.admin_log(result.request_id)
    ev.expect(record is not None, f"no gateway log record for request {result.request_id}")
    ev.expect(record.get("outcome") == "rolled_back",
              f"log outcome is {record.get('outcome')!r}, not 'rolled_back'")
    if probe.feed is None:
        return f"rolled back: {kept}, log outcome rolled_back"
    how = await _no_event(probe, op, ev, result, body)
    return f"rolled back: {kept}, log outcome rolled_back, no event ({how})"


async def _no_event(probe: Any, op: Any, ev: Evidence, result: Any, body: dict[str, Any]) -> str:
    """Fail if the rolled-back call's event is read before a fence (or within ``QUIET_S``)."""
    def of_the_call(event: Any) -> bool:
        return bool(event.trace_id == result.trace_id)

    fence = await probe.call(op, body=body)
    fenced = None
    if fence.status is not None and fence.status < 300 and fence.trace_id:
        fenced = await probe.wait_event(lambda e: e.trace_id == fence.trace_id,
                                        probe.event_deadline_s)
    if fenced is not None and _partitions(probe.feed, fenced.position[0]) == 1:
        ev.note("fence_event", fenced.id)
        event = await probe.wait_event(of_the_call, 0)
        how = f"read up to the fence event {fenced.id}"
    else:
        ev.note("quiet_s", QUIET_S)
        event = await probe.wait_event(of_the_call, QUIET_S)
        how = f"watched for {QUIET_S:g} s"
    ev.expect(event is None, f"event {getattr(event, 'id', '')} was published for the rolled-back call")
    return how


def _partitions(feed: Any, topic: str) -> int:
    """How many partitions of ``topic`` the feed reads (0 when it does not know)."""
    return sum(1 for position in feed.status.positions if position[0] == topic)


async def _faulted(probe: Any, op: Any, ev: Evidence, body: dict[str, Any]) -> Any:
    result = ev.result(await probe.call(op, body=body, headers=dict(FAULT)), "faulted")
    ev.expect(result.status is not None and result.status >= 500,
              f"a write failed after X-Fault-After-Write answered {result.status}, expected a 5xx problem")
    problem = json_body(result.response_body) or {}
    ev.expect(problem.get("rolled_back") is True, 'the problem body lacks "rolled_back": true')
    ev.expect(problem.get("transaction_id"), "the problem body names no transaction id")
    ev.note("gateway_transaction_id", problem.get("transaction_id"))
    return result
