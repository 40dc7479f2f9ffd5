"""``apilog config path|show``: where the file is, and what the active profile resolves to."""

from __future__ import annotations

import json

import click

from console.config import ConfigError, config_path, data_dir, load_config, resolve_profile


@click.group()
def config() -> None:
    """Show the configuration file and the active profile (secrets masked)."""


@config.command("path")
def show_path() -> None:
    """Print the config file's path (it need not exist)."""
    click.echo(str(config_path()))


@config.command("show")
@click.option("--profile", "-p", "profile_name", default=None, help="Profile to show (default: the active one).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(ctx: click.Context, profile_name: str | None, as_json: bool) -> None:
    """Print the active profile as resolved (file + environment), secrets as REDACTED."""
    root = (ctx.obj or {}).get("profile") if ctx.obj else None
    try:
        cfg = load_config()
        profile = resolve_profile(profile_name or root, config=cfg)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    data = profile.to_dict(masked=True)
    data["config_file"] = f"{cfg.path}{'' if cfg.exists else ' (not present)'}"
    data["data_dir"] = str(data_dir())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                click.echo(f"{key}.{sub} = {subvalue}")
        else:
            click.echo(f"{key} = {value}")
