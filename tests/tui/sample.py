"""Deterministic sample data for snapshots: a real transaction log file and decoded events.

Transaction ids are ULIDs (time + random bits); the random part and the id generator's memory
are pinned so the same rows get the same ids on every run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)

#: (method, path, action, outcome, statuses of the attempts, rolled back, elapsed ms)
CALLS = [
    ("PUT", "/security/firewall/config", "add-record", "committed", [201], False, 41.0),
    ("POST", "/ivr/callflow", "add-record", "committed", [503, 503, 201], False, 88.0),
    ("POST", "/crm/lead/import", "add-record", "rolled_back", [500], True, 23.0),
    ("GET", "/invoice/export", "export-data", "ok", [200], False, 12.0),
    ("POST", "/network/qos/monitor", "add-record", "rate_limited", [429], False, 5.0),
    ("DELETE", "/security/firewall/config", "check-status", "rejected", [400], False, 7.0),
    (
        "PUT",
        "/network/qos/monitor",
        "add-record",
        "retries_exhausted",
        [503, 503, 503, 503],
        False,
        1502.0,
    ),
]


def pin_ids(monkeypatch: Any) -> None:
    from console.txlog import model

    monkeypatch.setattr(model, "_last", [0, 0])
    monkeypatch.setattr(model.secrets, "randbits", lambda bits: 0x1234)


def fill_log(path: Path) -> list[str]:
    """Write :data:`CALLS` into a real log file; returns their transaction ids, oldest first."""
    from console.caller.model import Attempt, CallResult
    from console.txlog import TransactionLog

    ids = []
    with TransactionLog(path) as txlog:
        for number, (method, api_path, action, outcome, statuses, rolled, elapsed) in enumerate(
            CALLS
        ):
            started = (BASE + timedelta(minutes=number * 3)).timestamp()
            tx_id = txlog.begin(
                method=method,
                path=api_path,
                action=action,
                started_at=started,
                url=f"http://127.0.0.1:8080{api_path}?action={action}",
                request_body='{"name": "Ada Lovelace"}',
                sla_ms=1000,
                request_headers={
                    "Authorization": "Bearer secret-token",
                    "Content-Type": "application/json",
                },
                origin="console",
            )
            attempts = [
                Attempt(
                    n + 1,
                    started + n * 0.01,
                    elapsed / len(statuses),
                    status,
                    retry_after_s=0.0 if status == 503 else None,
                )
                for n, status in enumerate(statuses)
            ]
            for attempt in attempts:
                txlog.record_attempt(tx_id, attempt)
            event_id = f"evt-{number:04d}" if outcome == "committed" else None
            body = (
                '{"rolled_back": true, "title": "fault after write"}'
                if rolled
                else json.dumps({"id": f"rec-{number}", "name": "Ada Lovelace"})
            )
            txlog.finish(
                tx_id,
                CallResult(
                    transaction_id=tx_id,
                    outcome=outcome,
                    status=statuses[-1],
                    attempts=attempts,
                    rolled_back=rolled,
                    event_id=event_id,
                    elapsed_ms=elapsed,
                    sla_ms=1000,
                    sla_ok=elapsed < 1000,
                    request_id=f"req-{number}",
                    trace_id=None,
                    response_headers={
                        "Content-Type": "application/json",
                        "X-Request-Id": f"req-{number}",
                    },
                    response_body=body,
                    request_headers={},
                    request_body=None,
                ),
            )
            ids.append(tx_id)
    return ids


def fill_others(path: Path, count: int, origin: str = "check") -> list[str]:
    """``count`` calls made by someone else than the console (a conformance run's probes, the
    CLI), newer than :data:`CALLS`; returns their ids, oldest first."""
    from console.caller.model import Attempt, CallResult
    from console.txlog import TransactionLog

    ids = []
    with TransactionLog(path) as txlog:
        for number in range(count):
            started = (BASE + timedelta(hours=1, seconds=number)).timestamp()
            tx_id = txlog.begin(method="POST", path="/crm/lead/import", action="add-record",
                                started_at=started, origin=origin,
                                url="http://127.0.0.1:8080/crm/lead/import?action=add-record")
            txlog.record_attempt(tx_id, Attempt(1, started, 3.0, 201))
            txlog.finish(tx_id, CallResult(
                transaction_id=tx_id, outcome="committed", status=201,
                attempts=[Attempt(1, started, 3.0, 201)], rolled_back=False,
                event_id=f"probe-evt-{number}", elapsed_ms=3.0, sla_ms=None, sla_ok=None,
                request_id=None, trace_id=None, response_headers={}, response_body="{}",
                request_headers={}, request_body=None))
            ids.append(tx_id)
    return ids


def sample_events(count: int = 12) -> list[Any]:
    """Decoded events as the feed delivers them (CloudEvents in binary mode, and one raw record)."""
    from console.events.decode import FeedEvent

    events = []
    domains = ["firewall", "ivr", "customer", "qos"]
    for number in range(count):
        domain = domains[number % len(domains)]
        when = BASE + timedelta(seconds=number * 2)
        if number == 5:
            events.append(
                FeedEvent(
                    topic=f"gateway.events.{domain}",
                    partition=0,
                    offset=number,
                    timestamp=when,
                    key=None,
                    header_names=(),
                    header_values=(),
                    raw_value=b"not json \xff",
                    mode="raw",
                    parsed="not json \ufffd",
                )
            )
            continue
        events.append(
            FeedEvent(
                topic=f"gateway.events.{domain}",
                partition=0,
                offset=number,
                timestamp=when,
                key=f"rec-{number}",
                header_names=("ce_specversion", "ce_id", "ce_type"),
                header_values=("1.0", f"evt-{number:04d}", f"apilog.{domain}.add-record"),
                raw_value=b"{}",
                mode="binary",
                parsed={"id": f"rec-{number}", "name": "Ada Lovelace"},
                id=f"evt-{number:04d}",
                type=f"apilog.{domain}.add-record",
                source="/gateway",
                subject=f"rec-{number}",
                time=when,
                transaction_id=f"01SAMPLE{number:018d}" if number % 3 == 0 else None,
            )
        )
    return events
