"""``apilog log``: list, show, export and copy as curl from the local transaction log."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from console.txlog.outcomes import OUTCOMES
from console.txlog.schema import ORIGINS

#: ``--limit`` of one page: more is an export's job.
MAX_PAGE = 1_000_000
#: The largest integer SQLite stores.
SQLITE_MAX_INT = 2**63 - 1


class BadInput(click.ClickException):
    """Bad input on the command line: one line naming the option and the fix, exit status 2."""

    exit_code = 2


def parse_when(value: str | None, option: str) -> float | None:
    """``15m``, ``2h``, ``7d`` (that long ago) or an ISO 8601 time, as epoch seconds."""
    if value is None:
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", value.strip())
    if found:
        scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
        return time.time() - float(found.group(1)) * scale
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise click.ClickException(f"{option} {value!r}: give a duration like 15m, 2h, 7d "
                                   f"or a time like 2026-11-26T18:00") from None


def filter_options(fn: Any) -> Any:
    options = [
        click.option("--outcome", "outcomes", multiple=True, type=click.Choice(OUTCOMES), help="Only this outcome (repeatable)."),
        click.option("--path", default=None, help="Only this API path."),
        click.option("--method", default=None, help="Only this HTTP method."),
        click.option("--action", default=None, help="Only this action slug."),
        click.option("--since", default=None, help="Started at or after (15m, 2h, 7d, or ISO time)."),
        click.option("--until", default=None, help="Started before (same forms as --since)."),
        click.option("--text", "-q", default=None, help="Full-text search in bodies, URLs, errors, ids."),
        click.option("--origin", "origins", multiple=True, type=click.Choice(ORIGINS),
                     help="Only calls made from here (repeatable); older rows have none."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(outcomes: tuple[str, ...], path: str | None, method: str | None, action: str | None,
             since: str | None, until: str | None, text: str | None,
             origins: tuple[str, ...]) -> dict[str, Any]:
    return {"outcome": list(outcomes) or None, "path": path, "method": method, "action": action,
            "since": parse_when(since, "--since"), "until": parse_when(until, "--until"), "text": text,
            "origin": list(origins) or None}


def _whole_number(option: str, value: int | None, low: int, high: int, meaning: str) -> None:
    if value is not None and not low <= value <= high:
        raise BadInput(f"{option} {value}: give a whole number from {low} to {high} ({meaning})")


@contextmanager
def _open() -> Iterator[Any]:
    """The operator's log for one command; an unusable log (disk full, newer apilog) is one line."""
    from console.txlog import LogUnavailable, open_default_log

    try:
        with open_default_log() as store:
            yield store
    except LogUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def log() -> None:
    """List, show and export the local transaction log (secrets already redacted)."""


@log.command("list")
@filter_options
@click.option("--limit", default=50, show_default=True, help="Rows per page.")
@click.option("--before", default=None, help="Page cursor: list transactions older than this id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(outcomes: tuple[str, ...], path: str | None, method: str | None, action: str | None,
          since: str | None, until: str | None, text: str | None, origins: tuple[str, ...],
          limit: int, before: str | None, as_json: bool) -> None:
    """Newest first. The last id printed is the --before cursor of the next page."""
    _whole_number("--limit", limit, 1, MAX_PAGE,
                  "rows a page; page on with --before, or use 'apilog log export' for everything")
    with _open() as store:
        rows = store.query(**_filters(outcomes, path, method, action, since, until, text, origins),
                           limit=limit, before=before)
    for tx in rows:
        if as_json:
            data = tx.to_dict()
            for bulky in ("request_body", "response_body", "request_headers", "response_headers"):
                data.pop(bulky)
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            elapsed = f"{tx.elapsed_ms:.0f}ms" if tx.elapsed_ms is not None else "-"
            click.echo(f"{tx.id}  {tx.started.strftime('%Y-%m-%d %H:%M:%S')}  {tx.outcome:<17} "
                       f"{tx.status or '-':>3}  {tx.method:<6} {tx.path}?action={tx.action}  "
                       f"{elapsed}  tries={tx.attempt_count}")


@log.command("show")
@click.argument("tx_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(tx_id: str, as_json: bool) -> None:
    """One transaction with its attempts, headers, bodies and linked events."""
    with _open() as store:
        tx = store.get(tx_id)
    if tx is None:
        raise click.ClickException(f"no transaction {tx_id!r} in the log; list ids with 'apilog log list'")
    if as_json:
        click.echo(json.dumps(tx.to_dict(), ensure_ascii=False, indent=2))
        return
    sla = "" if tx.sla_ms is None else f"   SLA {tx.sla_ms} ms: " + {None: "n/a", True: "ok", False: "BREACHED"}[tx.sla_ok]
    click.echo(f"{tx.id}  {tx.outcome.upper()}  {tx.method} {tx.url or tx.path}")
    click.echo(f"  started {tx.started.isoformat(timespec='milliseconds')}   status {tx.status or '-'}   "
               f"{(tx.elapsed_ms or 0):.0f} ms{sla}")
    click.echo(f"  attempts {tx.attempt_count}   rolled back: {'yes' if tx.rolled_back else 'no'}   "
               f"event: {tx.event_id or '-'}   trace: {tx.trace_id or '-'}")
    if tx.error:
        click.echo(f"  error: {tx.error}")
    for a in tx.attempts:
        click.echo(f"    #{a.number} {a.status if a.status is not None else '---'} {a.elapsed_ms:.0f} ms"
                   f"{'  ' + a.error if a.error else ''}")
    for e in tx.events:
        delay = f" +{e.delay_ms:.0f} ms" if e.delay_ms is not None else ""
        click.echo(f"    event {e.event_id} {e.topic}[{e.partition}]@{e.offset}{delay}")
    click.echo("request headers:")
    for k, v in tx.request_headers.items():
        click.echo(f"  {k}: {v}")
    if tx.request_body:
        click.echo(f"request body:\n  {tx.request_body}")
    click.echo("response headers:")
    for k, v in tx.response_headers.items():
        click.echo(f"  {k}: {v}")
    if tx.response_body:
        click.echo(f"response body:\n  {tx.response_body}")


@log.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson", "har"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="File (default: standard output).")
@filter_options
def export(fmt: str, output: str | None, outcomes: tuple[str, ...], path: str | None,
           method: str | None, action: str | None, since: str | None, until: str | None,
           text: str | None, origins: tuple[str, ...]) -> None:
    """Write matching transactions as CSV, NDJSON or HAR 1.2."""
    from console.txlog.export import EXPORTERS

    filters = _filters(outcomes, path, method, action, since, until, text, origins)
    with _open() as store:
        if output is None:
            count = EXPORTERS[fmt](store, sys.stdout, **filters)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = EXPORTERS[fmt](store, out, **filters)
    if output is not None:
        click.echo(f"{count} transactions written to {output}", err=True)


@log.command("curl")
@click.argument("tx_id")
def curl(tx_id: str) -> None:
    """The call as a curl command, the token left as $TOKEN."""
    from console.caller.curl import to_curl

    with _open() as store:
        tx = store.get(tx_id)
    if tx is None:
        raise click.ClickException(f"no transaction {tx_id!r} in the log; list ids with 'apilog log list'")
    click.echo(to_curl(tx))


@log.command("prune")
@click.option("--max-age-days", type=float, default=None, help="Drop transactions older than this.")
@click.option("--max-rows", type=int, default=None, help="Keep only the newest this many.")
def prune(max_age_days: float | None, max_rows: int | None) -> None:
    """Retention: drop old transactions (with their attempts and event links)."""
    if max_age_days is None and max_rows is None:
        raise click.ClickException("give --max-age-days and/or --max-rows")
    _whole_number("--max-rows", max_rows, 0, SQLITE_MAX_INT, "the newest transactions to keep")
    if max_age_days is not None and not 0 <= max_age_days <= 1e6:
        raise BadInput(f"--max-age-days {max_age_days:g}: give a number of days from 0 to 1000000")
    with _open() as store:
        click.echo(f"{store.prune(max_age_days=max_age_days, max_rows=max_rows)} transactions removed")
