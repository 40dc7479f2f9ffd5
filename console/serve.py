"""``apilog serve``: the console in a browser, through textual-serve.

Every browser tab runs its own ``apilog`` console process with the same ``--profile``,
``--readonly``, ``--lang`` and ``--catalogue``, so the profile's rules and the read-only switch
hold exactly as in a terminal. textual-serve has no authentication: whoever reaches the port
drives the console. So it listens on loopback unless ``--public`` says otherwise, and it only
answers requests whose ``Host`` and ``Origin`` are its own, which keeps other web pages open in
the operator's browser (and DNS-rebound names) from driving it (docs/console.md, "In a
browser").
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from aiohttp import web
from textual_serve.server import Server

from console.catalogue import CatalogueError, load_catalogue
from console.children import module_command
from console.cli import Refused
from console.config import ConfigError, load_config, resolve_profile
from console.sandbox import Sandbox, SandboxError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

PUBLIC_WARNING = (
    "WARNING: apilog serve on {host}:{port} is reachable from other machines and has NO "
    "authentication: anyone who reaches this port drives the console{writes}. Put it behind an "
    "authenticating proxy, or serve on loopback and reach it through an SSH tunnel."
)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def console_command(profile: str | None, readonly: bool, lang: str | None,
                    catalogue: str | None) -> str:
    """The shell command textual-serve runs for each browser tab: this very apilog, same options."""
    args = module_command("console.cli")
    if profile:
        args += ["--profile", profile]
    if readonly:
        args.append("--readonly")
    if lang:
        args += ["--lang", lang]
    if catalogue:
        # The children run in the server's directory, but an absolute path does not depend on it.
        args += ["--catalogue", str(Path(catalogue).resolve())]
    return shlex.join(args)


def _netloc(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host.lower()}:{port}"


def _with_port(netloc: str, default: int) -> str:
    """``netloc`` with its port spelled out (browsers omit 80 and 443)."""
    return netloc if urlsplit(f"//{netloc}").port is not None else f"{netloc}:{default}"


class ConsoleServer(Server):
    """textual-serve's server, answering only requests addressed to it by its own origin."""

    def __init__(self, command: str, host: str, port: int, public: bool) -> None:
        super().__init__(command, host=host, port=port, title="apilog")
        self.public = public
        names = [host, *LOOPBACK_NAMES] if is_loopback(host) else [host]
        self.allowed = {_netloc(name, port) for name in names}

    def refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is not served, or None.

        On loopback the ``Host`` must be a loopback name with this port: a page whose name
        rebinds to 127.0.0.1 sends its own name. The websocket, which carries keystrokes, must
        also come from a page of this server (``Origin``): browsers let any page open a
        websocket to localhost. With ``--public`` the names the machine is reached by are not
        known here, so the ``Origin`` must match the ``Host`` the browser used.
        """
        host = _with_port((request.host or "").lower(), 443 if request.secure else 80)
        if not self.public and host not in self.allowed:
            return f"Host {host or '(none)'} is not this server"
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            if not origin:
                return "a websocket without an Origin header"
            parts = urlsplit(origin)
            origin_netloc = _with_port(parts.netloc.lower(), 443 if parts.scheme == "https" else 80)
            if origin_netloc != host and (self.public or origin_netloc not in self.allowed):
                return f"a websocket from another site ({origin})"
        return None

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()

        @web.middleware
        async def same_origin_only(request: web.Request,
                                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                   ) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is not None:
                raise web.HTTPForbidden(text=f"apilog serve refused {reason}.\n")
            return await handler(request)

        app.middlewares.append(same_origin_only)
        return app

    async def handle_index(self, request: web.Request) -> Any:
        # textual-serve writes absolute URLs (the websocket's among them) from ``public_url``;
        # build them from the name this browser used (already checked), so a page opened as
        # localhost talks to localhost. handle_index does not await before reading it.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --public.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="TCP port to listen on.")
@click.option("--public", is_flag=True,
              help="Allow a non-loopback --host. There is no authentication: anyone who reaches "
                   "the port drives the console.")
@click.option("--readonly", is_flag=True, help="Browser consoles do not offer calls that change state.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, public: bool, readonly: bool) -> None:
    """Serve the console to a web browser (textual-serve), one console per browser tab.

    Each tab runs `apilog` with the options given before `serve` (apilog --profile prod
    --readonly serve); --readonly may also follow `serve`. Loopback only unless --public.
    """
    options = ctx.obj or {}
    profile, lang, catalogue = options.get("profile"), options.get("lang"), options.get("catalogue")
    readonly = readonly or bool(options.get("readonly"))
    if not is_loopback(host) and not public:
        raise Refused(f"--host {host} is not a loopback address and apilog serve has no "
                      "authentication: add --public to serve it anyway, or use an SSH tunnel "
                      "(ssh -L 8000:127.0.0.1:8000) to a loopback server")
    # A bad profile or catalogue is reported here once, not in every browser tab.
    try:
        chosen = resolve_profile(profile, catalogue=load_catalogue(catalogue), config=load_config())
    except (CatalogueError, ConfigError) as exc:
        raise Refused(str(exc)) from None
    if public and not is_loopback(host):
        writes = "" if (readonly or chosen.readonly) else ", including calls that change state"
        click.secho(PUBLIC_WARNING.format(host=host, port=port, writes=writes),
                    fg="red", bold=True, err=True)
    server = ConsoleServer(console_command(profile, readonly, lang, catalogue), host, port, public)
    with contextlib.ExitStack() as stack:
        if chosen.embedded and not chosen.connected:
            # Tabs come and go: the first tab's console would own the sandbox and stop it under
            # the others when it closes. The server owns it instead (the tabs find it running),
            # and it stops with the server, or when the server is killed (the gateway watches
            # its owner's pid).
            try:
                info = stack.enter_context(Sandbox(catalogue=catalogue))
            except SandboxError as exc:
                raise Refused(str(exc)) from None
            click.echo(f"apilog serve: sandbox gateway {info.base_url}, Kafka "
                       f"{info.kafka_bootstrap}", err=True)
        server.serve()
