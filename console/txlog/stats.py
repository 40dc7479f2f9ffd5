"""Figures for the overview screen: throughput, latency percentiles, SLA breaches, outcomes."""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any


def _percentile(conn: sqlite3.Connection, since: float, total: int, fraction: float) -> float | None:
    if total == 0:
        return None
    offset = max(0, min(total - 1, math.ceil(fraction * total) - 1))  # nearest rank
    row = conn.execute("SELECT elapsed_ms FROM transactions WHERE started_at >= ? AND elapsed_ms "
                       "IS NOT NULL ORDER BY elapsed_ms LIMIT 1 OFFSET ?", [since, offset]).fetchone()
    return row[0] if row else None


def compute_stats(conn: sqlite3.Connection, since: float) -> dict[str, Any]:
    """``since`` is epoch seconds. Percentiles are nearest-rank over finished calls.

    ``+outcome`` keeps SQLite from scanning the whole outcome index to avoid a sort; every
    query here reads the covering time index only.
    """
    calls, timed, breaches, retried, rolled = conn.execute(
        "SELECT count(*), count(elapsed_ms), coalesce(sum(sla_ok = 0), 0), "
        "coalesce(sum(attempt_count > 1), 0), coalesce(sum(rolled_back), 0) "
        "FROM transactions WHERE started_at >= ?", [since]).fetchone()
    outcomes = dict(conn.execute("SELECT outcome, count(*) FROM transactions WHERE started_at >= ? "
                                 "GROUP BY +outcome ORDER BY count(*) DESC", [since]).fetchall())
    per_minute = [{"minute": minute * 60.0, "calls": count} for minute, count in conn.execute(
        "SELECT CAST(started_at / 60 AS INTEGER) AS minute, count(*) FROM transactions "
        "WHERE started_at >= ? GROUP BY minute ORDER BY minute", [since]).fetchall()]
    span_min = max(1.0, (time.time() - since) / 60)
    return {"since": since, "calls": calls, "calls_per_minute": calls / span_min,
            "per_minute": per_minute, "p50_ms": _percentile(conn, since, timed, 0.50),
            "p95_ms": _percentile(conn, since, timed, 0.95), "sla_breaches": breaches,
            "retried": retried, "rolled_back": rolled, "outcomes": outcomes}
