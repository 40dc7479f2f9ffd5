"""``apilog sandbox start|stop|status``: the detached embedded sandbox."""

from __future__ import annotations

import json

import click


def _describe(info: object, secret_path: object, verb: str) -> str:
    from console.sandbox import SandboxInfo

    assert isinstance(info, SandboxInfo)
    return "\n".join([
        f"sandbox {verb}",
        f"  gateway        {info.base_url}",
        f"  token URL      {info.token_url}",
        f"  JWKS URL       {info.jwks_url}",
        f"  Kafka          {info.kafka_bootstrap}",
        f"  client id      {info.client_id}",
        f"  client secret  in {secret_path} (mode 0600)",
    ])


@click.group("sandbox")
def sandbox() -> None:
    """Start, stop or inspect the embedded sandbox (gateway + Kafka broker on loopback)."""


@sandbox.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Start the sandbox in the background, or report the one already running."""
    from console.sandbox import Sandbox, SandboxError

    box = Sandbox(catalogue=(ctx.obj or {}).get("catalogue"))
    try:
        running = box.status()
        info = running or box.ensure()
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_describe(info, box.secret_path, "already running" if running else "started"))
    click.echo(f"  logs           {box.dir}/*.log")


@sandbox.command("stop")
def stop() -> None:
    """Stop the background sandbox, and anything a killed one left running."""
    from console.sandbox import Sandbox

    click.echo("sandbox stopped" if Sandbox().stop() else "no sandbox was running")


@sandbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (no secret).")
def status(as_json: bool) -> None:
    """Say whether the sandbox runs and how to reach it (exit 1 when it does not)."""
    from console.sandbox import Sandbox, info_dict

    box = Sandbox()
    info = box.status()
    if as_json:
        click.echo(json.dumps({"running": info is not None, **(info_dict(info) if info else {})}, indent=2))
    elif info is None:
        click.echo("no sandbox is running (start one with: apilog sandbox start)")
    else:
        click.echo(_describe(info, box.secret_path, "running"))
    if info is None:
        raise SystemExit(1)
