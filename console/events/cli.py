"""``apilog events``: print the gateway's event feed, one line (or JSON object) per event.

Without ``--follow`` it reads up to the end of the topics as they were when it started and
exits, which makes it usable in scripts (``apilog events --from earliest --json | jq``).

Output to a file or a pipe gets every event: the feed reads no further ahead than the output
takes. Only ``--follow`` on a terminal is a live view, which skips what the terminal cannot
keep up with and says so in a line of its own, naming how to load what it skipped. Whatever
was read but not delivered makes the command end with status 1 and one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import click
import msgspec

from console.cli import Refused
from console.errors import ApilogError
from console.events.decode import with_data_read
from console.events.fanout import QUEUE_SIZE, Skipped
from console.events.feed import DEFAULT_TOPIC_PATTERN, LIVE_FETCH_WAIT_MS
from console.session import Session, open_session

_VALUE_WIDTH = 80
#: Environment variable: events read ahead of the output (default QUEUE_SIZE).
QUEUE_ENV = "APILOG_EVENTS_QUEUE"
_RANGE = re.compile(r"^(?P<topic>.+)\[(?P<partition>\d+)\]@(?P<first>\d+)-(?P<last>\d+)$")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--from", "start", default="latest", show_default=True, metavar="WHEN",
              help="latest, earliest, an ISO-8601 time (2026-11-26T18:00:00Z) or an offset.")
@click.option("--topic", "topic_pattern", default=DEFAULT_TOPIC_PATTERN, show_default=True,
              metavar="PATTERN", help="Regular expression the whole topic name must match.")
@click.option("--filter", "filter_text", default=None, metavar="TEXT",
              help="Only events containing every word of TEXT (case-insensitive); !TEXT inverts.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--profile", "-p", default=None, help="Profile whose Kafka cluster to read.")
@click.option("--bootstrap", default=None, metavar="HOST:PORT",
              help="Kafka bootstrap servers (overrides the profile's).")
@click.option("--group", "group_id", default=None,
              help="Join this consumer group: read the partitions it assigns, resume from and "
                   "commit its offsets (default: no group, so reading changes nothing).")
@click.option("--no-link", is_flag=True, help="Do not link events to the transaction log.")
@click.option("--timeout", "connect_timeout", type=click.FloatRange(min=0.1), default=15.0,
              metavar="SECONDS",
              show_default=True, help="Seconds to wait for the broker before giving up.")
@click.option("--load", "load_range", default=None, metavar="TOPIC[P]@FIRST-LAST",
              help="Print only these offsets of one partition (what a live view skipped), "
                   "then exit.")
@click.pass_context
def events(ctx: click.Context, start: str, topic_pattern: str, filter_text: str | None,
           follow: bool, as_json: bool, profile: str | None, bootstrap: str | None,
           group_id: str | None, no_link: bool, connect_timeout: float,
           load_range: str | None) -> None:
    """Read the gateway's Kafka event feed (CloudEvents decoded, anything else shown raw).

    Into a file or a pipe every event is printed, however slow the reader. With --follow on
    a terminal, events the terminal cannot keep up with are skipped with a line saying which
    (load them with --load). Exit status 1, with one line on stderr, if any event read was
    not delivered.
    """
    from console.events.buffer import text_filter
    from console.events.feed import FeedError
    from console.events.positions import parse_start

    try:
        start_at = parse_start(start)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None
    wanted = _parse_range(load_range) if load_range is not None else None
    queue_size = _queue_size()
    session = _session(profile or (ctx.obj or {}).get("profile"), bootstrap,
                       (ctx.obj or {}).get("catalogue"))
    predicate = text_filter(filter_text)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("console.events").setLevel(logging.ERROR)

    def line(event: Any) -> str | None:
        if predicate is not None:
            event = with_data_read(event)  # the filter reads the data, then the line
            if not predicate(event):
                return None
        return json_line(event.to_json()) if as_json else format_line(event)

    try:
        feed = session.event_feed(bootstrap=bootstrap, link=not no_link,
                                  topic_pattern=topic_pattern, start=start_at, group_id=group_id,
                                  link_inline=True, on_status=_status_reporter(group_id),
                                  queue_size=queue_size,
                                  fetch_wait_ms=LIVE_FETCH_WAIT_MS if follow else 200)
    except FeedError as exc:
        raise click.BadParameter(str(exc), param_hint="--topic") from None
    except ApilogError as exc:
        raise Refused(str(exc)) from None
    for warning in session.warnings:
        click.echo(f"apilog events: {warning}", err=True)
    live = follow and sys.stdout.isatty()
    report = Report()

    async def run() -> None:
        try:
            if wanted is not None:
                await _load(feed, wanted, line, report)
            else:
                await _read(feed, follow, live, line, connect_timeout, report)
        finally:
            await session.close()

    try:
        asyncio.run(run())
    except FeedError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        _tell_losses(report)
        sys.exit(130)
    if _tell_losses(report):
        sys.exit(1)


_encode = msgspec.json.Encoder(enc_hook=str).encode


def json_line(obj: dict[str, Any]) -> str:
    """One line of ``--json``: ``obj`` as JSON, compact, in UTF-8 as it is (not \\u escapes).

    msgspec writes it (~4.8 µs a line with the checks below, against ~14 µs for json.dumps,
    which was most of what printing a line cost). Where msgspec would write other than what
    json.dumps writes — a non-finite number in the data, which it writes as null, or a lone
    surrogate, which it refuses — the line comes from json.dumps: ``NaN`` stays ``NaN``.
    """
    if _finite(obj.get("data")):
        try:
            return _encode(obj).decode("utf-8")
        except UnicodeEncodeError:
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def _finite(data: Any) -> bool:
    """False when a float in ``data`` (at any depth) is NaN or infinite.

    One ``isinstance`` a value: text, numbers that are not floats, booleans and nulls (most
    of an event's data) are passed over where they stand, never queued and looked at again.
    """
    if not isinstance(data, _CONTAINERS):
        return not isinstance(data, float) or math.isfinite(data)
    todo = [data]
    while todo:
        item = todo.pop()
        for value in item.values() if isinstance(item, dict) else item:
            if isinstance(value, _WALKED):
                if isinstance(value, float):
                    if not math.isfinite(value):
                        return False
                else:
                    todo.append(value)
    return True


_CONTAINERS = (dict, list)
_WALKED = (float, dict, list)


@dataclass
class Report:
    """What the command could not deliver: ranges a live view skipped, a failed write."""

    skipped: list[Skipped] = field(default_factory=list)
    write_error: str | None = None


async def _read(feed: Any, follow: bool, live: bool, line: Any, connect_timeout: float,
                report: Report) -> None:
    """Print up to the end; with ``follow`` go on with every new event until interrupted.

    Lines are written a batch at a time on a worker thread, so the feed reads on while the
    output is slow: as far as the reader's queue allows (then it waits), or, ``live``, further
    (the reader then skips, and a line says so). Following still fails fast when the broker
    never answered at all: a wrong address should not look like a quiet topic.
    """
    try:
        async for batch in feed.read_batches(connect_timeout, stop_at_end=not follow,
                                             live=live):
            if not await _write(batch, line, report):
                return
    finally:
        await feed.stop()


async def _load(feed: Any, wanted: Skipped, line: Any, report: Report) -> None:
    try:
        await _write(await feed.load(wanted, limit=wanted.count), line, report)
    finally:
        await feed.stop()


async def _write(batch: list[Any], line: Any, report: Report) -> bool:
    """Write one batch to stdout; False (and the loss noted in ``report``) when that failed."""
    lines = []
    for item in batch:
        if isinstance(item, Skipped):
            report.skipped.append(item)
            lines.append(f"{item.describe()}; load them with: apilog events --load "
                         f"'{item.where}'")
        elif (text := line(item)) is not None:
            lines.append(text)
    if not lines:
        return True
    try:
        lines.append("")  # the last line's newline
        await _write_out("\n".join(lines))
    except OSError as exc:
        first = next((i for i in batch if not isinstance(i, Skipped)), batch[0])
        report.write_error = (f"could not write to the output ({exc.strerror or exc}); the "
                              f"events from {first.topic}[{first.partition}]@"
                              f"{getattr(first, 'offset', getattr(first, 'first', '?'))} on "
                              "were read but not delivered")
        _silence_stdout()
        return False
    return True


async def _write_out(text: str) -> None:
    """Write to stdout's file descriptor on a thread of its own, so that the feed reads on.

    A daemon thread and ``os.write``, not an executor and ``sys.stdout``: when Ctrl-C comes
    while the output is blocked (``apilog events -f | less``, not paging), the command must
    still exit, which an executor's thread (joined at exit) or stdout's lock would prevent.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation):  # in memory (click's test runner)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    data = text.encode(sys.stdout.encoding or "utf-8", "replace")
    sys.stdout.flush()

    def write() -> None:
        error = None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (Ctrl-C)
            loop.call_soon_threadsafe(_settle, done, error)

    threading.Thread(target=write, name="apilog-events-output", daemon=True).start()
    await done


def _settle(future: asyncio.Future[None], error: OSError | None) -> None:
    if future.done():  # cancelled by Ctrl-C meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _silence_stdout() -> None:
    """The output is gone: send what Python still flushes at exit nowhere, not to a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _tell_losses(report: Report) -> bool:
    """One line on stderr naming what was read but not delivered; True if anything was."""
    if report.write_error is not None:
        click.echo(f"apilog events: {report.write_error}", err=True)
        return True
    if report.skipped:
        total = sum(s.count for s in report.skipped)
        ranges = ", ".join(s.where for s in report.skipped[:5])
        more = f" and {len(report.skipped) - 5} more ranges" if len(report.skipped) > 5 else ""
        click.echo(f"apilog events: {total} events read were not shown (the terminal fell "
                   f"behind): {ranges}{more}; load them with apilog events --load", err=True)
        return True
    return False


def _parse_range(text: str) -> Skipped:
    match = _RANGE.match(text.strip())
    if match is None or int(match["first"]) > int(match["last"]):
        raise click.BadParameter(f"{text!r} is not a range of offsets: give TOPIC[PARTITION]@"
                                 "FIRST-LAST, e.g. 'gateway.events.customer[0]@17747-18536'",
                                 param_hint="--load")
    first, last = int(match["first"]), int(match["last"])
    return Skipped(match["topic"], int(match["partition"]), first, last, last - first + 1)


def _queue_size() -> int:
    raw = os.environ.get(QUEUE_ENV)
    if raw is None:
        return QUEUE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise click.UsageError(f"{QUEUE_ENV}={raw!r} is not a number of events: give a whole "
                               f"number of at least 1 (default {QUEUE_SIZE})")
    return size


def format_line(event: Any) -> str:
    """time, topic[partition]@offset, type, subject, linked transaction: one line per event."""
    when = (event.time or event.timestamp).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    where = f"{event.topic}[{event.partition}]@{event.offset}"
    if event.is_cloudevent:
        subject = f"subject={event.subject}" if event.subject else "subject=-"
        linked = f"tx={event.transaction_id}" if event.transaction_id else "tx=-"
        return f"{when}  {where}  {event.type}  {subject}  id={event.id}  {linked}"
    data = event.data  # parsed (and redacted) on each read: once here
    value = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    if len(value) > _VALUE_WIDTH:
        value = value[:_VALUE_WIDTH - 1] + "…"
    value = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in value)
    headers = ",".join(event.header_names) or "-"
    why = f"  ({event.note})" if event.note else ""
    return f"{when}  {where}  RAW  key={event.key or '-'}  headers={headers}  value={value}{why}"


def _session(profile_name: str | None, bootstrap: str | None, catalogue: str | None) -> Session:
    """The session whose profile names the Kafka cluster; with --bootstrap a broken or missing
    profile is no obstacle (the cluster is named on the command line)."""
    try:
        return open_session(profile_name, catalogue_path=catalogue)
    except ApilogError as exc:
        if bootstrap is None:
            raise click.ClickException(str(exc)) from None
        return open_session(catalogue_path=catalogue, log_only=True)


def _status_reporter(group_id: str | None = None) -> Any:
    """Tell the operator on stderr when the broker goes away, comes back, or a gap appears, and
    in a consumer group which partitions the group gives this reader."""
    seen: dict[str, Any] = {"state": "connecting", "gaps": 0, "assigned": None}

    def report(status: Any) -> None:
        if status.assigned is not None and status.assigned != seen["assigned"]:
            seen["assigned"] = status.assigned
            names = ", ".join(f"{t}[{p}]" for t, p in status.assigned) or "no partitions"
            click.echo(f"apilog events: group {group_id} assigned {names}", err=True)
        if status.state != seen["state"] and status.state != "connecting":
            if status.state == "down" and not status.refused:  # a refusal ends in FeedError
                click.echo(f"apilog events: broker down since {status.since:%H:%M:%S}: "
                           f"{status.error}; retrying", err=True)
            elif seen["state"] == "down":
                click.echo(f"apilog events: broker back at {status.since:%H:%M:%S}", err=True)
            seen["state"] = status.state
        for gap in status.gaps[seen["gaps"]:]:
            click.echo(f"apilog events: gap: {gap.describe()}", err=True)
        seen["gaps"] = len(status.gaps)

    return report
