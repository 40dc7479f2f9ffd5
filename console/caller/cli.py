"""``apilog call PATH METHOD ACTION``: fire one call, print what happened, keep it in the log.

Exit status 0 only when the call committed (a write) or read successfully; 1 otherwise; 2 with
a one-line message when the call was not sent (the message names the input and the fix).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import click

from console.caller.model import CallRequest, CallResult
from console.cli import Refused
from console.errors import ApilogError
from console.session import open_session


def _parse_body(raw: str | None, xml: bool) -> str | dict[str, Any] | None:
    """``--body``: inline text or ``@FILE``; a JSON object stays a dict so it can become XML."""
    if raw is None:
        return None
    source = "--body"
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Refused(f"--body @{path}: cannot read the file ({exc.strerror}); "
                                       f"give an existing file or inline JSON") from None
        source = f"--body @{path}"
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        if xml and raw.lstrip().startswith("<"):
            return raw
        line = getattr(exc, "lineno", "?")
        raise Refused(f"{source}: not valid JSON at line {line}: {exc}; "
                                   f"fix the JSON (or pass XML with --xml)") from None
    return parsed if isinstance(parsed, dict) else raw


def _parse_headers(values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
            raise Refused(f"-H {value!r}: write a header as 'Name: value'")
        headers[name.strip()] = rest.strip()
    return headers


def _check_operation(catalogue: Any, req: CallRequest) -> None:
    if req.path not in catalogue.paths:
        raise Refused(f"path {req.path!r} is not in the catalogue; known paths: "
                                   f"{', '.join(catalogue.paths)} (or pass --unlisted to send it anyway)")
    if catalogue.operation(req.path, req.method, req.action) is None:
        actions = sorted({op.action for op in catalogue.operations_for(req.path, req.method)})
        allowed = ", ".join(actions) if actions else f"none (methods: {', '.join(catalogue.methods_for(req.path))})"
        raise Refused(f"{req.method} {req.path} has no action {req.action!r} in the "
                                   f"catalogue; actions: {allowed} (or pass --unlisted)")


def describe(result: CallResult) -> str:
    """The human summary: status, outcome, timing against the SLA, attempts, rollback, event."""
    status = result.status if result.status is not None else "no response"
    lines = [f"{result.method} {result.path}?action={result.action} → {status}  {result.outcome.upper()}"]
    sla = ""
    if result.sla_ms is not None:
        verdict = "n/a" if result.sla_ok is None else ("ok" if result.sla_ok else "BREACHED")
        sla = f" (SLA {result.sla_ms} ms: {verdict})"
    lines.append(f"  transaction {result.transaction_id}   {result.elapsed_ms:.0f} ms{sla}")
    lines.append(f"  attempts {len(result.attempts)} ({result.retries} retries)   "
                 f"rolled back: {'yes' if result.rolled_back else 'no'}   event: {result.event_id or '-'}")
    for a in result.attempts:
        wait = f"  retry-after {a.retry_after_s:g} s" if a.retry_after_s is not None else ""
        lines.append(f"    #{a.number} {a.status if a.status is not None else '---'} "
                     f"{a.elapsed_ms:.0f} ms{wait}{'  ' + a.error if a.error else ''}")
    if result.error and not result.attempts:
        lines.append(f"  {result.error}")
    return "\n".join(lines)


@click.command()
@click.argument("path")
@click.argument("method", type=click.Choice(["GET", "POST", "PUT", "PATCH", "DELETE"], case_sensitive=False))
@click.argument("action")
@click.option("--version", "version", default=None, metavar="v1|v2", help="Version prefix (default: unversioned = latest).")
@click.option("--xml", is_flag=True, help="Send and accept application/xml.")
@click.option("--id", "record_id", default=None, help="Record id (sent as the id query parameter).")
@click.option("--body", default=None, metavar="JSON|@FILE", help="Request body, inline or from a file.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'Name: value'", help="Extra header (repeatable).")
@click.option("--profile", "-p", "profile_name", default=None, help="Profile (default: the sandbox).")
@click.option("--unlisted", is_flag=True, help="Send even if the catalogue does not name the operation.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def call(ctx: click.Context, path: str, method: str, action: str, version: str | None, xml: bool,
         record_id: str | None, body: str | None, headers: tuple[str, ...],
         profile_name: str | None, unlisted: bool, as_json: bool) -> None:
    """Fire one call at the gateway and record it in the transaction log.

    Exit status: 0 when the call committed or read successfully, 1 when it did not, 2 when it
    was not sent (bad input, a read-only profile, no gateway).
    """
    obj = ctx.obj or {}
    if version is not None and not re.fullmatch(r"v\d+", version):
        raise Refused(f"--version {version!r}: write it as v1, v2, …")
    req = CallRequest(path=path, method=method, action=action, version=version,
                      fmt="xml" if xml else "json", record_id=record_id,
                      body=_parse_body(body, xml), headers=_parse_headers(headers))
    try:
        session = open_session(profile_name or obj.get("profile"), catalogue_path=obj.get("catalogue"),
                               readonly=bool(obj.get("readonly")), origin="cli")
    except ApilogError as exc:
        raise Refused(str(exc)) from None
    if not unlisted:
        _check_operation(session.catalogue, req)
    refusal = session.refusal(req.method, req.path, req.action)
    if refusal:
        raise Refused(refusal)

    async def fire() -> CallResult:
        async with session:
            for warning in session.warnings:
                click.echo(f"warning: {warning}", err=True)
            return await session.call(req)

    try:
        result = asyncio.run(fire())
    except ApilogError as exc:
        raise Refused(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("interrupted: the call is recorded as interrupted in the transaction log", err=True)
        ctx.exit(130)
    if as_json:
        data = result.to_dict()
        data["attempts"] = len(result.attempts)
        data["attempt_details"] = [a.to_dict() for a in result.attempts]
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(describe(result))
    if result.log_warning:
        click.echo(result.log_warning, err=True)
    ctx.exit(0 if result.ok else 1)
