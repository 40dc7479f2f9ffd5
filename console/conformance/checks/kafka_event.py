"""kafka-event: after the commit, a CloudEvents 1.0 event reaches Kafka within a deadline and
carries the call's trace.

The response names the event (``X-Event-Id``); the check waits for it in the console's own feed
and reads it as docs/contracts.md fixes it: binary mode, ``ce_type`` ``apilog.<domain>.<action>``,
topic ``gateway.events.<domain>``, the call's trace id in ``ce_traceparent``, and for an event
about one record, that record's id as subject and record key.
"""

from __future__ import annotations

from typing import Any

from console.conformance.checks.common import expect_success, header
from console.conformance.evidence import CheckSkipped, Evidence


def describe(event: Any) -> dict[str, Any]:
    """The deciding facts of an event, for the evidence."""
    return {"id": event.id, "type": event.type, "topic": event.topic, "partition": event.partition,
            "offset": event.offset, "key": event.key, "subject": event.subject,
            "traceparent": event.traceparent, "specversion": event.specversion, "mode": event.mode}


async def check(probe: Any, item: Any, ev: Evidence) -> str:
    if probe.feed is None:
        raise CheckSkipped("no Kafka feed: the profile names no bootstrap servers")
    op = item.operation
    fields = await probe.prepare(op)
    result = ev.result(await probe.call(op, **fields), "call")
    expect_success(ev, result, "call")
    event_id = header(result.response_headers, "x-event-id")
    ev.expect(event_id, "the response names no event (X-Event-Id)")
    ev.note("event_id", event_id)
    event = await probe.wait_event(lambda e: e.id == event_id, probe.event_deadline_s)
    if event is None:
        state = probe.feed.status.state
        ev.note("feed_state", state)
        feed = "" if state == "connected" else f" (the console's Kafka feed is {state})"
        ev.expect(False, f"event {event_id} did not arrive within {probe.event_deadline_s:g} s{feed}")
    ev.note("event", describe(event))
    ev.expect(event.mode == "binary", f"event {event_id} is in {event.mode} mode, not binary")
    ev.expect(event.specversion == "1.0", f"ce_specversion is {event.specversion!r}, not '1.0'")
    expected_type = f"apilog.{op.domain}.{op.action}"
    ev.expect(event.type == expected_type, f"ce_type is {event.type!r}, expected {expected_type!r}")
    expected_topic = f"gateway.events.{op.domain}"
    ev.expect(event.topic == expected_topic, f"event came on {event.topic!r}, expected {expected_topic!r}")
    ev.expect(event.trace_id == result.trace_id,
              f"ce_traceparent trace id {event.trace_id} is not the call's {result.trace_id}")
    record_id = (fields.get("body") or {}).get("id")
    if op.action in ("add-record", "delete-info") and record_id:
        ev.expect(event.subject == record_id, f"ce_subject is {event.subject!r}, not the record {record_id!r}")
        ev.expect(event.key == record_id, f"record key is {event.key!r}, not the record {record_id!r}")
    return f"{expected_type} on {expected_topic} with the call's trace, event {event_id}"
