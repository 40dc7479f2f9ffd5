"""Benchmark the transaction log at scale, beside raw ``sqlite3.executemany`` of the same rows.

    .venv/bin/python bench/bench_txlog.py --rows 1000000

Measures, in one run on one machine: bulk insert through :class:`TransactionLog.insert_many`
(sqlite-utils, WAL, FTS5 triggers, redaction) against raw ``executemany`` into the same schema
and into a bare table; the crash-safe per-call path (begin → attempt → finish, one commit each);
a first page, a filtered page, a deep keyset page, a filtered count, full-text searches, stats;
and full CSV/NDJSON exports plus a HAR export of a filtered set. Rows are generated from a fixed
seed, so every store gets the very same rows; generation alone is timed too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.caller.model import Attempt  # noqa: E402
from console.txlog import EventSeen, Transaction, TransactionLog  # noqa: E402
from console.txlog.schema import TRANSACTIONS  # noqa: E402

PATHS = ["/customer/update", "/invoice/export", "/security/firewall/config", "/ivr/callflow",
         "/crm/lead/import", "/rpa/task/execute", "/network/qos/monitor"]
ACTIONS = ["add-record", "delete-info", "check-status", "export-data", "update-config"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
OUTCOMES = [("committed", 60), ("ok", 25), ("rejected", 5), ("rolled_back", 4), ("failed", 2),
            ("rate_limited", 2), ("retries_exhausted", 1), ("interrupted", 1)]
STATUS = {"committed": 201, "ok": 200, "rejected": 422, "rolled_back": 500, "failed": 502,
          "rate_limited": 429, "retries_exhausted": 503, "interrupted": None}
RARE_EVERY = 100_000


def generate(rows: int, seed: int = 42) -> Iterator[Transaction]:
    """``rows`` transactions over the last 30 days, oldest first, ids in time order."""
    from console.txlog.model import new_transaction_id

    rng = random.Random(seed)
    words = [f"w{n:04d}" for n in range(5000)]
    outcome_pool = [o for o, weight in OUTCOMES for _ in range(weight)]
    start = time.time() - 30 * 86400
    step = 30 * 86400 / rows
    for i in range(rows):
        started = start + i * step
        outcome = rng.choice(outcome_pool)
        path, method, action = rng.choice(PATHS), rng.choice(METHODS), rng.choice(ACTIONS)
        note = " ".join(rng.choices(words, k=6))
        if i % RARE_EVERY == 7:
            note += " zebraquartz"
        elapsed = rng.lognormvariate(3.5, 0.8)
        tries = 1 + (outcome == "retries_exhausted") * 3 + (rng.random() < 0.05)
        rng_id = f"{rng.getrandbits(64):016x}"
        tx = Transaction(
            id=new_transaction_id(started), started_at=started, ended_at=started + elapsed / 1000,
            method=method, path=path, action=action, outcome=outcome, status=STATUS[outcome],
            url=f"http://127.0.0.1:8080{path}?action={action}", record_id=str(i),
            attempt_count=tries, rolled_back=outcome == "rolled_back",
            event_id=f"evt-{rng_id}" if outcome == "committed" else None,
            trace_id=rng_id * 2, request_id=f"req-{rng_id}", elapsed_ms=elapsed, sla_ms=1000,
            sla_ok=elapsed < 1000 if outcome in ("committed", "ok") else None,
            request_headers={"Accept": "application/json", "Authorization": "REDACTED"},
            request_body=json.dumps({"name": f"user {i}", "note": note}),
            response_headers={"Content-Type": "application/json", "X-Request-Id": f"req-{rng_id}"},
            response_body=json.dumps({"data": {"id": str(i), "status": outcome}}),
            attempts=[Attempt(n, started, elapsed / tries, STATUS[outcome] if n == tries else 503)
                      for n in range(1, tries + 1)])
        yield tx


TX_COLUMNS = list(TRANSACTIONS.columns)


def as_tuples(rows: Iterator[Transaction]) -> Iterator[tuple[tuple, list[tuple]]]:
    for tx in rows:
        yield ((tx.id, tx.started_at, tx.ended_at, tx.method, tx.path, tx.action, tx.version,
                tx.fmt, tx.url, tx.record_id, tx.outcome, tx.status, tx.attempt_count,
                int(tx.rolled_back), tx.event_id, tx.trace_id, tx.request_id, tx.idempotency_key,
                tx.elapsed_ms, tx.sla_ms, None if tx.sla_ok is None else int(tx.sla_ok),
                json.dumps(tx.request_headers), tx.request_body, json.dumps(tx.response_headers),
                tx.response_body, tx.error, tx.profile, tx.pid, None, tx.origin),
               [(tx.id, a.number, a.started_at, a.elapsed_ms, a.status, a.error, a.retry_after_s,
                 a.request_id, json.dumps(a.headers)) for a in tx.attempts])


def raw_insert(path: Path, rows: int, *, fts: bool, batch: int = 5000) -> float:
    """Raw sqlite3.executemany, same WAL pragmas; the same schema (``fts``) or a bare table."""
    if fts:
        TransactionLog(path).close()  # the log's own tables, indexes and FTS triggers, no rows
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if not fts:
        conn.execute(f"CREATE TABLE transactions ({', '.join(TX_COLUMNS)})")
        conn.execute("CREATE TABLE attempts (tx_id, number, started_at, elapsed_ms, status, error, "
                     "retry_after_s, request_id, headers)")
    tx_sql = f"INSERT INTO transactions ({', '.join(TX_COLUMNS)}) VALUES ({', '.join('?' * len(TX_COLUMNS))})"
    at_sql = "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    t0 = time.perf_counter()
    txs: list[tuple] = []
    ats: list[tuple] = []
    for tx_row, attempt_rows in as_tuples(generate(rows)):
        txs.append(tx_row)
        ats.extend(attempt_rows)
        if len(txs) >= batch:
            with conn:
                conn.executemany(tx_sql, txs)
                conn.executemany(at_sql, ats)
            txs, ats = [], []
    if txs:
        with conn:
            conn.executemany(tx_sql, txs)
            conn.executemany(at_sql, ats)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    """Best of ``repeat`` runs, in milliseconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="transactions to insert (default 100000)")
    parser.add_argument("--per-call", type=int, default=5000, help="transactions through begin/finish")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="bench-txlog-"))
    workdir.mkdir(parents=True, exist_ok=True)
    n = args.rows
    out: list[tuple[str, str]] = []

    def report(name: str, value: str) -> None:
        out.append((name, value))
        print(f"{name:<58} {value}", flush=True)

    t0 = time.perf_counter()
    for _ in as_tuples(generate(n)):
        pass
    gen_s = time.perf_counter() - t0
    report(f"generate {n:,} rows only (included in every insert below)", f"{gen_s:.1f} s")

    log_path = workdir / "txlog.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(log_path) + suffix).unlink(missing_ok=True)
    log = TransactionLog(log_path)
    t0 = time.perf_counter()
    log.insert_many(generate(n))
    ins_s = time.perf_counter() - t0
    report("TransactionLog.insert_many (sqlite-utils, FTS5, redaction)", f"{ins_s:.1f} s = {n / ins_s:,.0f} tx/s")

    for fts in (True, False):
        raw_path = workdir / f"raw-{'fts' if fts else 'bare'}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(raw_path) + suffix).unlink(missing_ok=True)
        raw_s = raw_insert(raw_path, n, fts=fts)
        label = "same schema + FTS5 triggers" if fts else "bare table, no index"
        report(f"raw sqlite3.executemany ({label})", f"{raw_s:.1f} s = {n / raw_s:,.0f} tx/s")

    per_path = workdir / "per-call.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(per_path) + suffix).unlink(missing_ok=True)
    per_log = TransactionLog(per_path)
    calls = args.per_call
    t0 = time.perf_counter()
    for tx in generate(calls, seed=7):
        tx_id = per_log.begin(method=tx.method, path=tx.path, action=tx.action, url=tx.url,
                              request_headers=tx.request_headers, request_body=tx.request_body)
        for attempt in tx.attempts:
            per_log.record_attempt(tx_id, attempt)
        tx.request_headers, tx.request_body = {}, None
        per_log.finish(tx_id, tx)
    per_s = time.perf_counter() - t0
    report(f"per call: begin+attempts+finish, commit each ({calls:,} calls)", f"{calls / per_s:,.0f} calls/s")

    # The event feed's links: every event matched by trace id to one of the calls above.
    traces = [t for (t,) in per_log.db.execute("SELECT trace_id FROM transactions WHERE trace_id IS NOT NULL")]
    traces = (traces or [None]) * (calls // max(1, len(traces)) + 1)
    now = time.time()
    t0 = time.perf_counter()
    for i in range(calls):
        per_log.link_event(f"one-{i}", traces[i], "t", 0, i, now)
    one_s = time.perf_counter() - t0
    report(f"link_event, one transaction each ({calls:,} events)", f"{calls / one_s:,.0f} events/s")
    t0 = time.perf_counter()
    for start in range(0, calls, 500):
        per_log.link_events([EventSeen(f"batch-{i}", traces[i], "t", 0, i, now)
                             for i in range(start, min(calls, start + 500))])
    batch_s = time.perf_counter() - t0
    report(f"link_events, batches of 500 ({calls:,} events)", f"{calls / batch_s:,.0f} events/s")
    per_log.close()

    ms, page = timed(lambda: log.query(limit=50))
    report("first page (50, newest first, no filter)", f"{ms:.2f} ms")
    ms, page = timed(lambda: log.query(outcome="rolled_back", path="/ivr/callflow", limit=50))
    report("filtered page (outcome + path, 50)", f"{ms:.2f} ms ({len(page)} rows)")
    ms, page = timed(lambda: log.query(method="POST", action="delete-info", limit=50))
    report("filtered page (method + action, 50)", f"{ms:.2f} ms ({len(page)} rows)")
    middle = log.query(limit=1, before=None, until=time.time() - 15 * 86400)[0].id
    ms, page = timed(lambda: log.query(outcome="committed", limit=50, before=middle))
    report("deep keyset page (before= a cursor 15 days back)", f"{ms:.2f} ms ({len(page)} rows)")
    ms, count = timed(lambda: log.count(outcome="rolled_back"), repeat=3)
    report("count(outcome=rolled_back)", f"{ms:.1f} ms ({count:,} rows)")
    ms, page = timed(lambda: log.query(text="zebraquartz", limit=50))
    report("full-text search, rare word (page of 50)", f"{ms:.2f} ms ({len(page)} rows)")
    ms, page = timed(lambda: log.query(text="w0042", limit=50))
    report("full-text search, common word (page of 50)", f"{ms:.1f} ms ({len(page)} rows)")
    ms, count = timed(lambda: log.count(text="w0042"), repeat=3)
    report("full-text count, common word", f"{ms:.1f} ms ({count:,} rows)")
    ms, stats = timed(lambda: log.stats(since=time.time() - 86400), repeat=3)
    report("stats over the last 24 h", f"{ms:.1f} ms ({stats['calls']:,} calls)")

    from console.txlog.export import export_csv, export_har, export_ndjson

    for name, exporter in (("csv", export_csv), ("ndjson", export_ndjson)):
        target = workdir / f"export.{name}"
        t0 = time.perf_counter()
        with open(target, "w", encoding="utf-8", newline="") as fh:
            rows = exporter(log, fh)
        secs = time.perf_counter() - t0
        size = os.path.getsize(target) / 1e6
        what = "one line each" if name == "csv" else "with attempts and events"
        report(f"export {name} (all {rows:,}, {what})", f"{secs:.1f} s = {rows / secs:,.0f} tx/s, {size:,.0f} MB")
    buffer = io.StringIO()
    t0 = time.perf_counter()
    rows = export_har(log, buffer, outcome="rolled_back", path="/ivr/callflow")
    secs = time.perf_counter() - t0
    report("export har (outcome + path filter)", f"{secs:.2f} s for {rows:,} entries")
    log.close()
    report("database size (txlog.db + wal)", f"{sum(p.stat().st_size for p in workdir.glob('txlog.db*')) / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
