"""Export the log: CSV for spreadsheets, NDJSON for scripts (one transaction with its attempts
per line), HAR 1.2 for browser tools (see :mod:`console.txlog.har`). Everything read back from
the log is already redacted; exports stream a page at a time so a million rows fit in memory."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

from console.txlog.store import TransactionLog

CSV_COLUMNS = ("id", "started", "method", "path", "action", "version", "outcome", "status",
               "attempt_count", "retries", "rolled_back", "event_id", "elapsed_ms", "sla_ms",
               "sla_ok", "request_id", "trace_id", "record_id", "url", "error", "origin")


def export_csv(log: TransactionLog, out: IO[str], **filters: Any) -> int:
    """Write matching transactions (newest first) as CSV with a header row; returns the count."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for tx in log.iter_all(with_attempts=False, **filters):
        row = [tx.started.isoformat(timespec="milliseconds") if c == "started" else getattr(tx, c)
               for c in CSV_COLUMNS]
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return count


def export_ndjson(log: TransactionLog, out: IO[str], **filters: Any) -> int:
    """One JSON object per line: the transaction, its attempts and its linked events."""
    count = 0
    for tx in log.iter_all(**filters):
        out.write(json.dumps(tx.to_dict(), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def export_har(log: TransactionLog, out: IO[str], **filters: Any) -> int:
    """A HAR 1.2 document with one entry per transaction (its final exchange)."""
    from console.txlog.har import har_document

    document = har_document(log.iter_all(**filters))
    # json.dumps without indent uses the C encoder; json.dump(indent=…) is pure Python, 10x slower.
    out.write(json.dumps(document, ensure_ascii=False))
    return len(document["log"]["entries"])


EXPORTERS = {"csv": export_csv, "ndjson": export_ndjson, "har": export_har}
