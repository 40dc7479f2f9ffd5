"""Writes ``v0_transactions.db``: a transaction log as the release before schema versions wrote it.

Run with the *old* code on the path, from a checkout of that release (see README.md here):
``PYTHONPATH=/tmp/oldlog python tests/txlog/data/make_v0_log.py OUT.db``
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from console.caller.model import Attempt
from console.txlog.store import TransactionLog

T0 = 1_780_000_000.0  # 2026-05-28: fixed, so the file is the same each time it is made


def result(outcome: str, status: int | None, attempts: list[Attempt], **extra: object) -> SimpleNamespace:
    base = dict(outcome=outcome, status=status, rolled_back=outcome == "rolled_back",
                event_id=None, elapsed_ms=12.5, sla_ms=None, sla_ok=None, request_id="req-1",
                trace_id=None, response_headers={"Content-Type": "application/json"},
                response_body='{"ok": true}', request_headers={}, request_body=None, error=None,
                attempts=attempts)
    base.update(extra)
    return SimpleNamespace(**base)


def main(out: str) -> None:
    log = TransactionLog(out, secrets=["old-secret-value"])
    tx1 = log.begin(method="POST", path="/customer/update", action="add-record",
                    url="http://gw/customer/update?action=add-record", idempotency_key='"key-1"',
                    request_headers={"Authorization": "Bearer abc.def.ghi"},
                    request_body='{"name": "needle-old", "secret": "old-secret-value"}',
                    trace_id="a" * 32, profile="sandbox", started_at=T0)
    log.record_attempt(tx1, Attempt(1, T0, 5.0, 503, None, 0.0, "r1", {"Retry-After": "0"}))
    log.record_attempt(tx1, Attempt(2, T0 + 0.1, 6.0, 201, None, None, "r2", {}))
    log.finish(tx1, result("committed", 201, [Attempt(1, T0, 5.0, 503), Attempt(2, T0 + 0.1, 6.0, 201)],
                           event_id="evt-old-1", trace_id="a" * 32, sla_ms=1000, sla_ok=True))
    tx2 = log.begin(method="GET", path="/customer/update", action="check-status",
                    url="http://gw/customer/update?action=check-status", started_at=T0 + 1)
    log.record_attempt(tx2, Attempt(1, T0 + 1, 3.0, 200))
    log.finish(tx2, result("ok", 200, [Attempt(1, T0 + 1, 3.0, 200)]))
    tx3 = log.begin(method="DELETE", path="/customer/update", action="delete-info", started_at=T0 + 2)
    log.record_attempt(tx3, Attempt(1, T0 + 2, 4.0, 500))
    log.finish(tx3, result("rolled_back", 500, [Attempt(1, T0 + 2, 4.0, 500)], error="HTTP 500"))
    log.link_event("evt-old-1", "a" * 32, "apilog.events", 0, 7, T0 + 0.5)
    log.link_event("evt-orphan", None, "apilog.events", 1, 3, T0 + 3)
    # A pending row whose process is gone (pid 999999999 never runs): settled on a later open.
    tx4 = log.begin(method="PATCH", path="/customer/update", action="update-config",
                    idempotency_key='"key-4"', started_at=T0 + 4)
    log.db.execute("UPDATE transactions SET pid = 999999999 WHERE id = ?", [tx4])
    log.close()
    print(tx1, tx2, tx3, tx4, time.time() > T0)


if __name__ == "__main__":
    main(sys.argv[1])
