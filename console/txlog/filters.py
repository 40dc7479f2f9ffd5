"""The WHERE clause shared by listing, counting and exporting transactions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple


class Filters(NamedTuple):
    outcome: str | Iterable[str] | None
    path: str | None
    method: str | None
    action: str | None
    since: float | None
    until: float | None
    text: str | None
    before: str | None
    origin: str | Iterable[str] | None = None


def fts_query(text: str) -> str:
    """Operator text as an FTS5 query: every word must match, quoted so punctuation is literal."""
    words = [w for w in text.split() if w]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def build_where(f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, wanted in (("outcome", f.outcome), ("origin", f.origin)):
        if wanted:
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            args += values
    for column, value in (("path", f.path), ("method", f.method and f.method.upper()),
                          ("action", f.action)):
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    if f.since is not None:
        clauses.append("started_at >= ?")
        args.append(f.since)
    if f.until is not None:
        clauses.append("started_at < ?")
        args.append(f.until)
    if f.before:
        clauses.append("id < ?")
        args.append(f.before)
    if f.text and f.text.strip():
        clauses.append("rowid IN (SELECT rowid FROM transactions_fts WHERE transactions_fts MATCH ?)")
        args.append(fts_query(f.text))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args
