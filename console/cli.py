"""The ``apilog`` command. With no subcommand it opens the terminal console.

Subcommands live next to the code they drive and are imported only when invoked, so that
``apilog --help`` and the console's first frame do not pay for aiokafka, starlette or authlib.
"""

from __future__ import annotations

import importlib

import click

from console import __version__

#: name -> "module:attribute" of a click command, loaded on first use.
SUBCOMMANDS: dict[str, str] = {
    "catalogue": "console.catalogue.cli:catalogue",
    "gateway": "console.gateway.cli:gateway",
    "call": "console.caller.cli:call",
    "log": "console.txlog.cli:log",
    "config": "console.config.cli:config",
    "events": "console.events.cli:events",
    "check": "console.conformance.cli:check",
    "sandbox": "console.sandbox_cli:sandbox",
    "serve": "console.serve:serve",
}

SHORT_HELP: dict[str, str] = {
    "catalogue": "Show, lint and export an API catalogue.",
    "gateway": "Run the reference API gateway built from a catalogue.",
    "call": "Fire one call at the gateway and record it in the transaction log.",
    "log": "List, show and export the local transaction log.",
    "config": "Show the configuration file and the active profile.",
    "events": "Read the gateway's Kafka event feed.",
    "check": "Check every contract of every operation against a gateway.",
    "sandbox": "Start, stop or inspect the embedded sandbox (gateway + Kafka broker).",
    "serve": "Serve the console to a web browser (loopback only unless --public).",
}


class Refused(click.ClickException):
    """Nothing was done: bad input or a policy said no. One line (``Error: …``), exit status 2.

    Unlike ``click.UsageError`` it prints no usage block: the message already names the input
    and the fix.
    """

    exit_code = 2


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a subcommand whose module is not built yet
            if exc.name != module_name:
                raise
            return None
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every subcommand module.
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", "-p", envvar="APILOG_PROFILE", help="Profile from the config file (default: the embedded sandbox).")
@click.option("--readonly", is_flag=True, help="Console: do not offer calls that change state.")
@click.option("--lang", type=click.Choice(["en", "vi"]), default=None, help="Console language (default: from the locale).")
@click.option("--catalogue", "catalogue_path", type=click.Path(dir_okay=False), default=None, help="Catalogue file (default: the shipped TD448 catalogue).")
@click.version_option(__version__, prog_name="apilog")
@click.pass_context
def main(ctx: click.Context, profile: str | None, readonly: bool, lang: str | None, catalogue_path: str | None) -> None:
    """apilog — operate an API catalogue from the terminal.

    With no command, opens the console. On the embedded default (no profile named) it starts a
    reference gateway, a Kafka broker and the sandbox OAuth2 client on loopback.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(profile=profile, readonly=readonly, lang=lang, catalogue=catalogue_path)
    if ctx.invoked_subcommand is None:
        from screens.app import run_console  # the only place the core reaches for the UI

        raise SystemExit(run_console(profile=profile, readonly=readonly, lang=lang, catalogue=catalogue_path))


if __name__ == "__main__":
    main()
