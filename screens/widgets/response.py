"""How a call reads on screen: status, time against the SLA, attempts, rollback, event, body.

Works for a ``CallResult`` (just sent) and a stored ``Transaction`` (the log's detail view):
both carry the same fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

#: Outcome badge text and style; the words are the transaction log's own outcomes.
OUTCOME_STYLE: dict[str, str] = {
    "committed": "bold green",
    "ok": "green",
    "rolled_back": "bold magenta",
    "rejected": "bold red",
    "failed": "bold red",
    "rate_limited": "bold yellow",
    "retries_exhausted": "bold red",
    "interrupted": "yellow",
    "pending": "dim",
}


def outcome_badge(outcome: str, attempts: int, labels: Any) -> list[tuple[str, str]]:
    """Spans for a table cell: ``committed``, ``rolled back``, ``retried ×2``…"""
    word = labels(outcome.replace("_", " "))
    spans = [(word, OUTCOME_STYLE.get(outcome, ""))]
    if attempts > 1:
        spans.append((f" ↻×{attempts - 1}", "yellow"))
    return spans


def status_text(status: int | None) -> str:
    if status is None:
        return "no response"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def pretty_body(body: str | None, headers: dict[str, str]) -> RenderableType:
    """JSON or XML pretty-printed and highlighted; anything else as text."""
    if not body:
        return Text("(empty)", style="dim")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type or body.lstrip()[:1] in "{[":
        try:
            return Syntax(
                json.dumps(json.loads(body), indent=2, ensure_ascii=False),
                "json",
                word_wrap=True,
                background_color="default",
            )
        except ValueError:
            pass
    if "xml" in content_type or body.lstrip().startswith("<"):
        try:
            import defusedxml.minidom

            pretty = defusedxml.minidom.parseString(body).toprettyxml(indent="  ")
            lines = [line for line in pretty.splitlines() if line.strip()]
            return Syntax("\n".join(lines), "xml", word_wrap=True, background_color="default")
        except Exception:
            pass
    return Text(body)


def attempts_timeline(attempts: list[Any]) -> Text:
    """``#1 503 12 ms → #2 503 9 ms → #3 201 40 ms``, retries in yellow, the last in colour."""
    text = Text()
    for index, attempt in enumerate(attempts):
        if index:
            text.append(" → ", style="dim")
        ok = attempt.status is not None and attempt.status < 400
        style = "green" if ok else ("yellow" if index < len(attempts) - 1 else "red")
        what = (
            str(attempt.status) if attempt.status is not None else (attempt.error or "error")[:24]
        )
        text.append(f"#{attempt.number} {what} {attempt.elapsed_ms:.0f} ms", style=style)
        if attempt.retry_after_s is not None:
            text.append(f" (Retry-After {attempt.retry_after_s:g}s)", style="dim")
    return text


@dataclass(frozen=True)
class BodyError:
    """Where a body fails to parse, 1-based as editors count."""

    line: int
    column: int
    message: str


def body_error(text: str, fmt: str) -> BodyError | None:
    """Why ``text`` is not a ``fmt`` (json or xml) document, or None (an empty body is fine)."""
    if not text.strip():
        return None
    if fmt == "xml":
        try:
            defusedxml.ElementTree.fromstring(text)
        except ParseError as exc:
            line, column = exc.position
            message = str(exc).split(":", 1)[0]
            return BodyError(line, column + 1, message)
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return BodyError(exc.lineno, exc.colno, exc.msg)
    return None


def headers_text(headers: dict[str, str] | None) -> RenderableType:
    lines = _headers(headers)
    return Group(*lines) if lines else Text("(none)", style="dim")


def attempts_table(attempts: list[Any], labels: Any) -> RenderableType:
    """One line per attempt: number, status or error, time, Retry-After, request id."""
    if not attempts:
        return Text("(none)", style="dim")
    lines = []
    for index, attempt in enumerate(attempts):
        ok = attempt.status is not None and attempt.status < 400
        style = "green" if ok else ("yellow" if index < len(attempts) - 1 else "red")
        line = Text(f"#{attempt.number}  ", style="bold")
        line.append(status_text(attempt.status) if attempt.status is not None
                    else (attempt.error or "error"), style=style)
        line.append(f"  {attempt.elapsed_ms:.0f} ms")
        if attempt.retry_after_s is not None:
            line.append(f"  Retry-After {attempt.retry_after_s:g}s", style="dim")
        if getattr(attempt, "request_id", None):
            line.append(f"  {attempt.request_id}", style="dim")
        lines.append(line)
    return Group(*lines)


def render_summary(result: Any, labels: Any, *, event_seen: Any = None) -> RenderableType:
    """The few lines that say what happened: status, outcome, time against the SLA, attempts,
    rollback, the event and the transaction (the bodies and headers have their own tabs)."""
    return Group(*_summary_parts(result, labels, event_seen))


def render_result(
    result: Any, labels: Any, *, event_seen: Any = None, show_request: bool = False
) -> RenderableType:
    """The whole exchange, most important first (status line, then evidence, then bodies)."""
    parts = _summary_parts(result, labels, event_seen)
    if show_request:
        parts.append(Text(f"── {labels('request')} ──", style="bold"))
        parts.append(Text(f"{result.method} {result.url}", style="bold"))
        parts.extend(_headers(result.request_headers))
        if result.request_body:
            parts.append(pretty_body(result.request_body, result.request_headers or {}))
        parts.append(Text(f"── {labels('response')} ──", style="bold"))
    # The body first: for a 400 the reason is there, not below a dozen header lines.
    parts.append(Text(f"── {labels('body')} ──", style="dim"))
    parts.append(pretty_body(result.response_body, result.response_headers or {}))
    parts.append(Text(f"── {labels('headers')} ──", style="dim"))
    parts.extend(_headers(result.response_headers))
    return Group(*parts)


def _summary_parts(result: Any, labels: Any, event_seen: Any) -> list[RenderableType]:
    parts: list[RenderableType] = []
    head = Text()
    status = result.status
    head.append(status_text(status), style="bold green" if status and status < 400 else "bold red")
    head.append("  ")
    head.append_text(Text.assemble(*outcome_badge(result.outcome, len(result.attempts), labels)))
    parts.append(head)
    timing = Text()
    if result.elapsed_ms is not None:
        timing.append(f"{labels('time')} {result.elapsed_ms:.0f} ms")
    if result.sla_ms:
        verdict = "✓" if result.sla_ok else "✗"
        fast = result.elapsed_ms is not None and result.elapsed_ms <= result.sla_ms
        if not result.sla_ok and fast:
            # The SLA promises a success in time: a quick failure misses it, and says why.
            verdict += f" ({labels('not a success')})"
        timing.append(
            f" / SLA {result.sla_ms} ms {verdict}", style="green" if result.sla_ok else "bold red"
        )
    parts.append(timing)
    if result.attempts:
        parts.append(
            Text.assemble((f"{labels('attempts')}: ", "dim"), attempts_timeline(result.attempts))
        )
    rolled = Text(f"{labels('rolled back')}: ", style="dim")
    rolled.append(
        labels("yes") if result.rolled_back else labels("no"),
        style="bold magenta" if result.rolled_back else "",
    )
    tx_id = getattr(result, "transaction_id", None) or getattr(result, "id", None)
    rolled.append(f"  ·  tx {tx_id}", style="dim")  # one line: the pane's summary stays short
    parts.append(rolled)
    if result.event_id:
        line = Text(f"{labels('event')}: ", style="dim")
        line.append(result.event_id, style="bold cyan")
        line.append(
            "  ✓ kafka" if event_seen is not None else "  … kafka",
            style="green" if event_seen is not None else "dim",
        )
        line.append("  ctrl+g", style="dim")
        parts.append(line)
    if getattr(result, "error", None):
        parts.append(Text(str(result.error), style="red"))
    return parts


def _headers(headers: dict[str, str] | None) -> list[Text]:
    return [Text.assemble((f"{name}: ", "bold"), value) for name, value in (headers or {}).items()]
