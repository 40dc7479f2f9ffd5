"""``apilog gateway``: run the reference gateway for a catalogue under uvicorn, in the foreground."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from console.gateway.settings import CLIENT_SECRET_ENV, GatewaySettings, data_dir
from console.private_files import open_private


def save_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (0600), never to a log."""
    with open_private(path, "w") as fh:
        fh.write(secret + "\n")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (checked before the banner promises it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def outbox_state(db_path: Path) -> dict[str, int] | None:
    """The outbox counts of the database at ``db_path`` (None when there is none yet)."""
    # Deferred like every import of this module's commands: console.gateway.outbox brings in
    # aiokafka and starlette (~390 ms measured with -X importtime), which `--help` never needs.
    from console.gateway.domains import connect
    from console.gateway.outbox import outbox_counts

    if not db_path.exists():
        return None
    with closing(connect(db_path)) as conn:
        return outbox_counts(conn)


def banner(settings: GatewaySettings, topics: list[str], secret_file: Path | None,
           outbox: dict[str, int] | None = None) -> str:
    """What the operator needs to call this gateway (no secret in it)."""
    source = settings.secret_source
    if secret_file is not None:
        source = f"{source}, saved to {secret_file} (mode 0600)"
    lines = [
        f"apilog gateway on {settings.base_url}",
        f"  token URL      {settings.token_url}",
        f"  JWKS URL       {settings.jwks_url}",
        f"  OpenAPI        {settings.base_url}/openapi.json",
        f"  client id      {settings.client_id}",
        f"  client secret  {source}",
        f"  database       {settings.db_path}",
        f"  event limit    {settings.max_event_bytes} bytes (bigger changes are refused with 413)",
        f"  faults         {'on (X-Fault-* headers honoured)' if settings.faults else 'off'}",
    ]
    if settings.kafka_bootstrap:
        lines.append(f"  Kafka          {settings.kafka_bootstrap}")
        lines.append(f"  topics         {', '.join(topics)}")
    else:
        lines.append("  Kafka          none (events wait in the outbox)")
    if outbox is not None:
        line = f"  outbox         {outbox['pending']} waiting, {outbox['parked']} parked"
        if outbox["parked"]:
            line += f" (dead letter: apilog gateway redrive --db {settings.db_path})"
        lines.append(line)
    return "\n".join(lines)


@click.group("gateway", invoke_without_command=True)
@click.option("--catalogue", "catalogue_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Catalogue file (default: the shipped TD448 catalogue).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0 = a free one).")
@click.option("--kafka", "kafka", default=None, metavar="BOOTSTRAP", help="Kafka bootstrap servers (host:port).")
@click.option("--embedded-kafka", is_flag=True, help="Start a Kafka broker (Tansu) on a free loopback port.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite database of the gateway (default: <data dir>/gateway.db).")
@click.option("--faults/--no-faults", default=False, show_default=True,
              help="Honour the X-Fault-* headers (loopback --host only, unless --faults-anywhere).")
@click.option("--faults-anywhere", is_flag=True,
              help="Allow --faults on a non-loopback --host: anyone who can reach it can fail requests.")
@click.option("--max-event-bytes", type=click.IntRange(min=1024), default=1_048_576, show_default=True,
              help="Largest event committed: the broker's max.message.bytes (bigger changes get 413).")
@click.option("--access-log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="Also append every access-log record to this NDJSON file.")
@click.option("--secret-file", type=click.Path(dir_okay=False), default=None,
              help="Where a generated client secret is saved (0600; default: <data dir>/gateway-secret).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The private key of --tls-cert (PEM).")
@click.option("--exit-with-pid", type=int, default=None, hidden=True,
              help="Stop when this process is gone (the embedded sandbox's owner).")
@click.pass_context
def gateway(ctx: click.Context, catalogue_path: str | None, host: str, port: int, kafka: str | None,
            embedded_kafka: bool, db_path: str | None, faults: bool, faults_anywhere: bool,
            max_event_bytes: int, log_path: str | None, secret_file: str | None,
            tls_cert: str | None, tls_key: str | None, exit_with_pid: int | None) -> None:
    """Run the reference API gateway built from a catalogue (Ctrl-C stops it).

    `apilog gateway redrive` queues its parked (dead-letter) events again.
    """
    if ctx.invoked_subcommand is not None:
        return
    if kafka and embedded_kafka:
        raise click.UsageError("give either --kafka BOOTSTRAP or --embedded-kafka, not both")
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("give --tls-cert and --tls-key together (the certificate and its key)")
    if faults and not is_loopback(host):
        if not faults_anywhere:
            raise click.UsageError(
                f"--faults on --host {host} lets anyone who reaches it fail or stall requests; "
                "use --host 127.0.0.1, or add --faults-anywhere if that is really meant")
        click.echo(f"warning: fault injection is on for every client that reaches {host}:{port} "
                   "(--faults-anywhere)", err=True)
    catalogue_path = catalogue_path or (ctx.obj or {}).get("catalogue")
    try:
        sys.exit(run(catalogue_path, host, port, kafka, embedded_kafka, db_path, faults, log_path,
                     secret_file, exit_with_pid, max_event_bytes,
                     tls=(Path(tls_cert), Path(tls_key)) if tls_cert and tls_key else None))
    except KeyboardInterrupt:
        sys.exit(0)


def _exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _exit_with(pid: int, server: Any) -> None:
    """Ask ``server`` to stop once process ``pid`` is gone (killed owners leave no orphans)."""
    import threading
    import time

    def watch() -> None:
        while not server.should_exit:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                server.should_exit = True
                return
            except PermissionError:  # alive, owned by someone else
                pass
            time.sleep(0.5)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def run(catalogue_path: str | None, host: str, port: int, kafka: str | None, embedded_kafka: bool,
        db_path: str | None, faults: bool, log_path: str | None, secret_file: str | None,
        exit_with_pid: int | None = None, max_event_bytes: int = 1_048_576,
        tls: tuple[Path, Path] | None = None) -> int:
    import uvicorn

    from console.catalogue import CatalogueError, load_catalogue
    from console.events.broker import BrokerError, EmbeddedBroker, free_port
    from console.gateway.app import create_app
    from console.gateway.outbox import topic_for
    from console.gateway.server import uvicorn_config

    try:
        catalogue = load_catalogue(catalogue_path)
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    if port and not port_is_free(host, port):
        raise click.ClickException(f"{host}:{port} is already in use; choose another --port (0 = any free port)")
    broker: Any = None
    if embedded_kafka:
        logs = Path(db_path).parent if db_path else data_dir()
        broker = EmbeddedBroker(log_path=logs / "gateway-broker.log")
        try:
            broker.start()
        except BrokerError as exc:
            raise click.ClickException(f"--embedded-kafka: {exc}") from None
        kafka = broker.bootstrap
    try:
        settings = GatewaySettings(catalogue=catalogue, host=host, port=port or free_port(host),
                                   kafka_bootstrap=kafka, faults=faults, max_event_bytes=max_event_bytes,
                                   db_path=Path(db_path) if db_path else None,
                                   log_path=Path(log_path) if log_path else None,
                                   tls_cert=tls[0] if tls else None,
                                   tls_key=tls[1] if tls else None).resolved()
        saved = None
        if not os.environ.get(CLIENT_SECRET_ENV):
            saved = Path(secret_file) if secret_file else data_dir() / "gateway-secret"
            save_secret(saved, settings.client_secret or "")
        app = create_app(settings)
        topics = [topic_for(d) for d in dict.fromkeys(op.domain for op in catalogue.operations)]
        click.echo(banner(settings, topics, saved, outbox_state(settings.db_path)))
        server = uvicorn.Server(uvicorn_config(app, host, settings.port, tls_cert=settings.tls_cert,
                                               tls_key=settings.tls_key))
        # uvicorn re-raises SIGTERM after shutting down; with the default handler the process
        # would die before the finally below stops the embedded broker.
        signal.signal(signal.SIGTERM, _exit_quietly)
        if exit_with_pid:
            _exit_with(exit_with_pid, server)
        server.run()
        return 0 if server.started else 1
    finally:
        if broker is not None:
            broker.stop()


@gateway.command("redrive")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite database of the gateway (default: <data dir>/gateway.db).")
@click.option("--event", "event_ids", multiple=True, metavar="EVENT_ID",
              help="Only this parked event (repeatable; default: every parked event).")
@click.option("--list", "list_only", is_flag=True, help="List the parked events; queue nothing.")
def redrive_command(db_path: str | None, event_ids: tuple[str, ...], list_only: bool) -> None:
    """Queue the gateway's parked (dead-letter) events again.

    The relay parks an event it can never publish as it is (larger than the broker takes,
    malformed) so that the others go on. Fix the cause (e.g. raise the broker's
    max.message.bytes and the gateway's --max-event-bytes), then re-drive: a running gateway
    publishes them in their original order; one that still fails is parked again.
    """
    from console.gateway.domains import connect  # deferred: see outbox_state
    from console.gateway.outbox import parked_rows, redrive

    path = Path(db_path) if db_path else data_dir() / "gateway.db"
    if not path.exists():
        raise click.UsageError(f"no gateway database at {path}; pass the gateway's --db PATH")
    with closing(connect(path)) as conn:
        parked = parked_rows(conn)
        unknown = sorted(set(event_ids) - {r["event_id"] for r in parked})
        if unknown:
            raise click.UsageError(f"no parked event {', '.join(unknown)} in {path}; "
                                   f"`apilog gateway redrive --list --db {path}` lists them")
        rows = parked if list_only else redrive(conn, list(event_ids) or None)
    if not rows:
        click.echo(f"no parked events in {path}")
        return
    verb = "parked" if list_only else "queued again"
    for row in rows:
        click.echo(f"{verb}  {row['event_id']}  {row['topic']}  {row['bytes']} bytes  "
                   f"(parked {row['parked_at']}: {row['error']})")
    if not list_only:
        click.echo(f"{len(rows)} event(s) queued again; a running gateway publishes them "
                   "(one that still fails is parked again)")
