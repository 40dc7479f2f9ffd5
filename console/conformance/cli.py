"""``apilog check``: every contract of every operation against a gateway, with evidence.

Progress goes to stderr, the summary table (or ``--json`` lines) to stdout, JUnit XML to
``--report``. Exit status 0 only when no verdict failed; 2 for bad input (a one-line message).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import click

from console.cli import Refused
from console.conformance.plan import make_plan
from console.conformance.report import junit_xml, render_table, write_json_lines
from console.conformance.verdict import CONTRACT_SLUGS, FAILED, Verdict
from console.errors import ApilogError
from console.session import open_session


class Progress:
    """One status line on a terminal (rewritten in place), else a line every 10 %."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.failed = 0
        self._last_tenth = -1

    def __call__(self, done: int, total: int, verdict: Verdict) -> None:
        if verdict.verdict == FAILED:
            self.failed += 1
        text = (f"checked {done}/{total}  failed {self.failed}  "
                f"last: {verdict.operation_label} {verdict.contract} {verdict.verdict}")
        if self.live:
            self.stream.write("\r\x1b[2K" + text[:160])
            if done == total:
                self.stream.write("\n")
        else:
            tenth = done * 10 // max(total, 1)
            if tenth != self._last_tenth or done == total:
                self._last_tenth = tenth
                self.stream.write(text + "\n")
        self.stream.flush()


@click.command()
@click.option("--operation", "operations", multiple=True, nargs=3, metavar="PATH METHOD ACTION",
              help="Check only this operation (repeatable).")
@click.option("--contract", "contracts", multiple=True, metavar="SLUG",
              help=f"Check only this contract (repeatable): {', '.join(CONTRACT_SLUGS)}.")
@click.option("--profile", "-p", "profile_name", default=None,
              help="Profile naming the gateway (default: the embedded sandbox).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write JUnit XML here (a testsuite per operation, a testcase per contract).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per verdict per line.")
@click.option("--allow-writes", is_flag=True,
              help="Send the probes that change state (add, delete, update records) to a gateway "
                   "other than the embedded sandbox. Refused on a read-only profile. Without it "
                   "those checks are reported skipped.")
@click.option("--allow-load", is_flag=True,
              help="Allow load checks (exhausting a rate limit) against a non-sandbox gateway.")
@click.option("--thorough", is_flag=True,
              help="Exhaust every rate limit and overrun every deadline, more latency samples.")
@click.option("--concurrency", default=None, type=click.IntRange(1, 64),
              help="Operations checked at once, in all processes  [default: 12 against the "
                   "embedded sandbox, 6 against any other gateway]")
@click.option("--processes", default=2, show_default=True, type=click.IntRange(1, 2),
              help="Processes that share a large run's checks: with 2, a second one takes about "
                   "half of the operations and half of --concurrency (one process uses one CPU "
                   "core); 1 keeps every check in this process.")
@click.pass_context
def check(ctx: click.Context, operations: tuple[tuple[str, str, str], ...], contracts: tuple[str, ...],
          profile_name: str | None, report_path: str | None, as_json: bool, allow_writes: bool,
          allow_load: bool, thorough: bool, concurrency: int | None, processes: int) -> None:
    """Check every contract of every operation against a gateway.

    Against the embedded sandbox every probe runs. Against any other gateway the probes that
    change state run only with --allow-writes, and never on a read-only profile: those checks
    are reported as skipped, with the reason.
    """
    obj = ctx.obj or {}
    try:
        session = open_session(profile_name or obj.get("profile"), catalogue_path=obj.get("catalogue"),
                               readonly=bool(obj.get("readonly")), origin="check")
        chosen_ops = [(path, method.upper(), action) for path, method, action in operations] or None
        make_plan(session.catalogue, operations=chosen_ops, contracts=list(contracts) or None)
        session.write_policy(allow_writes)
    except (ApilogError, ValueError) as exc:
        raise Refused(str(exc)) from None
    progress = Progress()
    started = time.monotonic()

    async def run() -> list[Verdict]:
        async with session:
            for warning in session.warnings:
                click.echo(f"warning: {warning}", err=True)
            try:
                return await session.check(
                    operations=chosen_ops, contracts=list(contracts) or None,
                    allow_writes=allow_writes, allow_load=True if allow_load else None,
                    thorough=thorough, on_progress=progress, concurrency=concurrency,
                    processes=processes)
            finally:
                for note in session.check_notes:
                    click.echo(f"warning: {note}", err=True)

    try:
        verdicts = asyncio.run(run())
    except ApilogError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        sys.exit(130)
    if as_json:
        write_json_lines(verdicts, sys.stdout)
    else:
        click.echo(render_table(verdicts))
    if report_path:
        Path(report_path).write_bytes(junit_xml(verdicts, wall_s=time.monotonic() - started))
        click.echo(f"JUnit XML written to {report_path}", err=True)
    ctx.exit(1 if any(v.verdict == FAILED for v in verdicts) else 0)
