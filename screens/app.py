"""The console shell: views, the k9s grammar (`:` `/` `?` esc), the header state, start-up order.

The first frame paints from the catalogue alone; the gateway, token and broker are reached in
workers afterwards and their state flows into ``connection``, which every view's header follows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input

from screens.host import is_text_area
from screens.i18n import Labels, default_language
from screens.keymap import bindings, mutating_actions
from screens.state import ConnectionState
from screens.strips import untie_divide
from screens.widgets.line_table import LineTable
from screens.widgets.prompts import QUIT_WORDS, VIEWS, JumpPrompt, KeysHelp, resolve_view

if TYPE_CHECKING:  # the session module costs ~0.3 s to import: it loads after the first frame
    from console.catalogue import Operation
    from console.session import Session
    from screens.call_view import CallView
    from screens.events_view import EventsView
    from screens.runtime import Runtime
    from screens.tx_view import TransactionsView

CSS_PATH = Path(__file__).with_name("apilog.tcss")
#: Seconds between two looks at whether the collector may sweep (console.collector.sweep).
SWEEP_EVERY = 0.5


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ApilogApp(App[int]):
    """``ApilogApp(catalogue, session=None)``: offline without ``session`` and ``connect``.

    The console is one front end of a :class:`console.session.Session`, which owns the log, the
    caller, the feed and every policy; views reach it as ``self.app.session``. ``connect`` is
    called in a thread after the first frame and returns the (unopened) session — ``apilog``
    passes one that owns the sandbox; the runtime opens it in a worker. ``events_from`` is where
    the live feed starts. ``clock`` exists so snapshot tests can freeze time.
    """

    CSS_PATH = CSS_PATH
    TITLE = "apilog"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = bindings("filter", "jump", "keys", "back", "palette", "focus-pane", "quit")

    connection: reactive[ConnectionState] = reactive(ConnectionState, always_update=True)

    def __init__(
        self,
        catalogue: Any,
        session: Session | None = None,
        *,
        connect: Callable[[], Session] | None = None,
        events_from: Any = "latest",
        lang: str | None = None,
        readonly: bool = False,
        profile_name: str = "sandbox",
        clock: Callable[[], datetime] = _utc_now,
        start_view: str = "catalogue",
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        untie_divide()  # the lines it paints go back without the collector (screens.strips)
        self.catalogue = catalogue
        if keymap:
            self.set_keymap(keymap)
        self.session = session
        self._connect_factory = connect
        self.events_from = events_from
        self.labels = Labels(lang or default_language())
        self.readonly = readonly or bool(session is not None and session.readonly)
        self.clock = clock
        self.start_view = start_view
        self.history: list[str] = []
        self._runtime_started = False
        self.current_view = start_view
        self.runtime: Runtime | None = None  # once the first frame has painted
        # A profile to reach: the first frame says so ("connecting"), not "not connected", while
        # the session is made and opened after it.
        reaching = connect is not None or (session is not None and session.profile is not None)
        state = ConnectionState(profile=profile_name, readonly=readonly)
        if reaching:
            state = replace(state, gateway="connecting", kafka="connecting")
        self.set_reactive(ApilogApp.connection, state)
        self._last_input = monotonic()  # a key or a click (console.collector.sweep)

    # Views ------------------------------------------------------------------------------------

    def _quit_on_signals(self) -> None:
        """SIGTERM and SIGHUP (a dropped SSH session) quit as ctrl+q does, stopping the sandbox
        this console started instead of leaving its gateway and broker behind."""
        import asyncio
        import contextlib
        import signal

        loop = asyncio.get_running_loop()
        # SIGTERM quits without the question ctrl+q asks during a check: no one is there to answer.
        for number, handler in ((signal.SIGTERM, self._quit_now), (signal.SIGHUP, self._hung_up)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self.call_later, handler)

    async def _hung_up(self) -> None:
        """The terminal is gone: stop the children, then leave at once.

        Textual's own exit flushes its output to the terminal first and, with the terminal gone,
        can wait for that forever, leaving an orphaned ``apilog`` behind every dropped session.
        """
        import os
        import signal

        await self.shutdown()
        os._exit(128 + signal.SIGHUP)

    def view(self, name: str) -> Screen:
        """The one instance of view ``name``, made on first use (start-up builds only the first)."""
        if not self.is_screen_installed(name):
            from screens import views

            self.install_screen(views.create(name), name)
        return self.get_screen(name)

    def on_mount(self) -> None:
        from screens.keymap import translate_bindings

        translate_bindings(self, self.labels)
        screen = self.view(self.start_view)
        self.push_screen(screen)
        if not self.is_headless:
            self._quit_on_signals()
        if not getattr(screen, "DRAWS_OFFLINE", False):
            self.call_after_refresh(self.start_runtime)
        # else the view calls start_runtime once its own first rows are on screen
        self.set_interval(SWEEP_EVERY, self._sweep)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self._last_input = monotonic()
        await super().on_event(event)

    def _sweep(self) -> None:
        """The collector's full pass while nobody types (console.collector.sweep)."""
        from console import collector  # first called half a second after mount, not at start-up

        collector.sweep(monotonic() - self._last_input)

    def jump(self, view: str) -> None:
        """Show ``view``; esc comes back here."""
        if view == self.current_view:
            return
        self.history.append(self.current_view)
        self.current_view = view
        self.switch_screen(self.view(view))

    async def action_back(self) -> None:
        # Async as Textual declares it: the action runner awaits it either way.
        # A view may need esc first (the check view asks whether to stop a running check).
        handled = getattr(self.screen, "before_back", None)
        if handled is not None and handled():
            return
        if self.history:
            self.current_view = self.history.pop()
            self.switch_screen(self.current_view)

    def action_jump(self) -> None:
        def chosen(text: str | None) -> None:
            if not text:
                return
            if text.strip().lstrip(":").strip().lower() in QUIT_WORDS:
                self.call_after_refresh(self.run_action, "quit")
                return
            view = resolve_view(text)
            if view is None:
                word = text.strip().lstrip(":")
                # After the prompt has gone, so the toast lands on the view, not the prompt.
                self.call_after_refresh(
                    self.notify,
                    f"{self.labels('unknown view')} {word!r}: :{' :'.join(VIEWS)}",
                    severity="warning",
                )
            else:
                self.jump(view)

        self.push_screen(JumpPrompt(), chosen)

    def action_keys(self) -> None:
        screen = self.screen
        keys = screen.keys() if hasattr(screen, "keys") else []
        # Only what works here: a form has nothing to filter and no table to move in.
        filterable = getattr(screen, "FILTERABLE", False)
        has_table = bool(screen.query(LineTable))
        grammar = [
            (":", f"{self.labels('jump')} :{' :'.join(VIEWS)}"),
            *([("/", self.labels("filter"))] if filterable else []),
            ("?", self.labels("keys")),
            ("esc", self.labels("back")),
            ("ctrl+p", self.labels("palette")),
            ("ctrl+q", self.labels("quit")),
            *([("↑↓ j k", "pgup pgdn · home end g G")] if has_table else []),
            ("tab", "→ ←"),
        ]
        seen = {key for key, _ in grammar}
        rows = [(k, d) for k, d in keys if k not in seen] + grammar
        rows.append((self.get_key_display_for("focus-pane"), self.labels("go to pane")))
        legend = screen.legend() if hasattr(screen, "legend") else []
        if not legend and self.current_view in ("catalogue", "call"):
            from screens.widgets.legend import catalogue_legend

            legend = catalogue_legend(self.labels)
        self.push_screen(
            KeysHelp(
                f"{self.labels('keys')} · {self.labels(self.current_view)}",
                rows,
                legend=legend,
                legend_title=self.labels("badges"),
            )
        )

    def get_key_display_for(self, action_id: str) -> str:
        """The key that action ``action_id`` has now (after an operator's keys.toml)."""
        for key_bindings in self._bindings.key_to_bindings.values():
            for binding in key_bindings:
                if binding.id == action_id:
                    return self.get_key_display(binding)
        return ""

    def action_focus_pane(self) -> None:
        """Jump mode: a key on every pane of the view; pressing it focuses that pane."""
        from screens.base import View
        from screens.widgets.panes import PaneJump, jump_targets

        screen = self.screen
        if not isinstance(screen, View):
            return  # a prompt or dialog is open: it has one place for the keys already
        targets = jump_targets(screen)
        if not targets:
            return

        def chosen(widget) -> None:
            if widget is not None and widget.is_attached:
                screen._last_focus = widget  # what the view restores as the jump mode closes
                screen.set_focus(widget)

        self.push_screen(PaneJump(targets), chosen)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for view in VIEWS:
            yield SystemCommand(
                f":{view}",
                f"{self.labels('jump')}: {self.labels(view)}",
                lambda view=view: self.jump(view),
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode: actions that change state do not exist (not just disabled).

        The shell's one-key commands (`/` `:` `?`) step aside while the operator types text, so
        a regex or a JSON body can hold those characters.
        """
        if self.readonly and action in mutating_actions():
            return False
        typing = isinstance(self.focused, Input) or is_text_area(self.focused)
        if action in ("filter", "jump", "keys") and typing:
            return False
        if action == "filter":
            return getattr(self.screen, "FILTERABLE", False)
        if action == "back" and getattr(self.screen, "back_label", lambda: None)():
            return True
        if action == "back" and not self.history and not is_text_area(self.focused):
            return None  # shown dimmed: there is nowhere to go back to
        return True

    async def action_filter(self) -> None:
        from screens.base import View

        if isinstance(self.screen, View):  # check_action offers the key only on a view
            await self.screen.action_filter()

    # Cross-view navigation -------------------------------------------------------------------

    # views.create makes each name's one class, so the casts below say what it returns.

    def open_call(self, operation: Operation, **prefill: Any) -> None:
        cast("CallView", self.view("call")).prefill(operation, **prefill)
        self.jump("call")

    def open_transaction(self, tx_id: str) -> None:
        cast("TransactionsView", self.view("tx")).show_transaction(tx_id)
        self.jump("tx")

    def open_event(self, event_id: str) -> None:
        cast("EventsView", self.view("events")).show_event(event_id)
        self.jump("events")

    # Connecting --------------------------------------------------------------------------------

    def connect_session(self) -> Session:
        """The session ``connect`` makes (called in a thread by the runtime)."""
        assert self._connect_factory is not None
        return self._connect_factory()

    def start_runtime(self) -> None:
        """Reach the session, once, after the first frame (a view drawn from the catalogue
        alone calls this when its rows are on screen, so nothing competes with drawing them)."""
        if self._runtime_started or (self.session is None and self._connect_factory is None):
            return
        self._runtime_started = True
        self.run_worker(
            self._run_runtime(), name="connect", group="connect", exclusive=True,
            exit_on_error=False,
        )

    async def _run_runtime(self) -> None:
        import asyncio
        import gc
        import importlib

        # In a thread: the runtime brings the session, whose imports (aiokafka, sqlite-utils,
        # httpx2, the caller) cost ~0.43 s (python -X importtime -c "import
        # screens.catalogue_view, console.session", minus the catalogue view alone; min of 7),
        # which on the loop would freeze the keys just after the first frame.
        module = await asyncio.to_thread(importlib.import_module, "screens.runtime")
        self.runtime = module.Runtime(self)
        await self.runtime.connect()
        # What start-up made (modules, widgets, the catalogue and its index, the session) lives
        # as long as the console: the collector's full passes need not walk it again and again
        # while a check or a busy feed allocates.
        gc.freeze()

    def runtime_ready(self) -> None:
        """The log (and caller) just opened: let the view on screen load what it shows."""
        reload = getattr(self.screen, "on_runtime_ready", None)
        if reload is not None:
            reload()

    def update_connection(self, **changes: Any) -> None:
        self.connection = replace(self.connection, **changes)

    async def action_quit(self) -> None:
        running = self._running_check()
        if running is not None:
            from screens.widgets.prompts import Confirm

            if isinstance(self.screen, Confirm):
                return  # already asking
            label = self.labels
            question = (
                f"{label('A check is running')} ({running.done}/{running.total}). "
                f"{label('Quit and stop it?')}"
            )

            async def answered(yes: bool | None) -> None:
                if yes:
                    await self._quit_now()

            self.push_screen(Confirm(question), answered)
            return
        await self._quit_now()

    async def _quit_now(self) -> None:
        await self.shutdown()
        self.exit(0)

    def _running_check(self) -> Any:
        """The check view when a check run is under way, else None (it is made on first use)."""
        if not self.is_screen_installed("check"):
            return None
        check = self.get_screen("check")
        return check if getattr(check, "running", False) else None

    async def shutdown(self) -> None:
        """Stop the feed, the caller and any sandbox this console started.

        Textual cancels workers at exit without awaiting them, so this is done explicitly.
        """
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            await runtime.stop()


def run_console(
    profile: str | None = None,
    readonly: bool = False,
    lang: str | None = None,
    catalogue: str | None = None,
) -> int:
    """``apilog`` with no subcommand: load the catalogue and profile, then open the console."""
    from console.catalogue import CatalogueError, load_catalogue
    from console.config import ConfigError, load_config, resolve_profile
    from screens.keymap import KeymapError, keys_path, load_keymap

    try:
        cat = load_catalogue(catalogue)
        config = load_config()
        chosen = resolve_profile(profile, catalogue=cat, config=config)
        keymap = load_keymap(keys_path())
    except (CatalogueError, ConfigError, KeymapError) as exc:
        print(f"apilog: {exc}", file=sys.stderr)
        return 2
    if lang is not None and lang not in ("en", "vi"):
        print(f"apilog: --lang {lang!r}: use en or vi", file=sys.stderr)
        return 2
    def connect() -> Session:
        # Here, in the runtime's thread after the first frame, not above: console.session (the
        # caller, the log, the feed) costs ~0.43 s to import (python -X importtime -c "import
        # screens.catalogue_view, console.session", minus the catalogue view alone; min of 7).
        from console.session import Session

        return Session(chosen, cat, config=config, readonly=readonly, origin="console",
                       catalogue_path=catalogue, own_sandbox=True)

    app = ApilogApp(
        cat,
        connect=connect,
        lang=lang,
        readonly=readonly or chosen.readonly,
        profile_name=chosen.name,
        keymap=keymap,
    )
    # The modules, the catalogue and the app live as long as the process: out of the
    # collector's sight, the full pass that came due during the first frame's render walks only
    # what the app makes (first frame 420 -> 394 ms median, CPU 370 -> 350 ms, 11 rounds of
    # bench/bench_tui.py with and without this line in one run).
    import gc

    gc.freeze()
    result = app.run()
    if app.runtime is not None:  # the app died without quitting: still stop the children
        import asyncio

        asyncio.run(app.shutdown())
    return result or app.return_code or 0
