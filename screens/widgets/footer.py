"""The footer: this view's keys on the left, the way out always on the right.

Textual's footer lists keys in binding order and clips what does not fit, and the shell's keys
come last, so at 80 columns `? keys`, `esc back` and `^q quit` were the first to go (or were never
shown at all). An operator on SSH must always see how to get help, go back and leave, so those
are docked right where nothing can push them off; the view's own keys take the rest.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import HorizontalGroup
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from screens.host import ConsoleNode, is_text_area

#: Below this width the footer drops its padding and the palette key (`?` still lists it).
WIDE = 110

#: A key as the footer shows it: the binding, enabled, its tooltip and what it says it does.
Entry = tuple[Binding, bool, str, str]

#: The way out, in the order it is shown on the right.
WAY_OUT = ("app.keys", "escape", "app.quit", "app.command_palette")


def _way_out_rank(binding: Binding) -> int | None:
    if binding.key == "escape":
        return WAY_OUT.index("escape")
    return WAY_OUT.index(binding.action) if binding.action in WAY_OUT else None


class ShellFooter(ConsoleNode, Footer):
    DEFAULT_CSS = """
    ShellFooter HorizontalGroup.-way-out { dock: right; width: auto; height: 1;
                                           border-left: vkey $foreground 20%; }
    ShellFooter.-compact HorizontalGroup.-way-out FooterKey { margin: 0 0 0 1; }
    ShellFooter.-compact HorizontalGroup.-way-out FooterKey:first-child { margin: 0; }
    """

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        self._narrow: bool | None = None
        self._recompose_due = False
        #: What the footer shows now (``_entries()`` when it was composed).
        self._shown: tuple[bool, list[Entry], list[Entry]] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        """One recompose for a burst of changes: Textual's footer queues one per change, and
        start-up makes three (mount, focus, the table's keys), ~25 ms each on this VM, so the
        keys came ~80 ms after the first frame; the one queued reads the bindings of the last."""
        self._bindings_ready = True
        if not screen.app.app_focus or self._recompose_due:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_due = True
            self.call_after_refresh(self._recompose_now)

    def on_mount(self) -> None:
        super().on_mount()
        # Mounted after the view's first frame: its keys may be known already, and the screen
        # says so only when they change.
        self.bindings_changed(self.screen)

    async def _recompose_now(self) -> None:
        self._recompose_due = False
        if not self.is_attached:  # queued before the footer left its screen (the app quitting)
            return
        if self._entries() != self._shown:  # a change that changed nothing on the footer
            await self.recompose()

    def _entries(self) -> tuple[bool, list[Entry], list[Entry]]:
        """Whether the footer is narrow, the view's keys and the way out, as they would show."""
        narrow = self.app.size.width < WIDE
        view_keys: list[Entry] = []
        way_out: list[tuple[int, Entry]] = []
        actions: set[str] = set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            rank = _way_out_rank(binding)
            if binding.action == "app.command_palette" and not narrow:
                pass  # shown on the right when there is room, whatever its `show`
            elif not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            if rank is None:
                view_keys.append((binding, enabled, tooltip, binding.description))
            else:
                way_out.append((rank, (binding, enabled, tooltip, self._describe(binding))))
        return narrow, view_keys, [entry for _, entry in sorted(way_out, key=lambda i: i[0])]

    def compose(self):
        if not self._bindings_ready:
            return
        self._shown = self._entries()
        self._narrow, view_keys, way_out = self._shown
        self.set_reactive(Footer.compact, self._narrow)
        self.set_class(self._narrow, "-compact")
        for entry in view_keys:
            yield self._key(*entry)
        with HorizontalGroup(classes="-way-out"):
            for entry in way_out:
                yield self._key(*entry)

    def _describe(self, binding: Binding) -> str:
        """Esc in a text editor leaves the editor (Textual's TextArea), and a view may give esc
        another meaning first (stop a running check): say that instead of "back"."""
        if binding.action == "app.back" and is_text_area(self.screen.focused):
            return self.console.labels("leave editor")
        if binding.action == "app.back":
            instead = getattr(self.screen, "back_label", lambda: None)()
            if instead:
                return instead
        return binding.description

    def _key(self, binding: Binding, enabled: bool, tooltip: str, description: str) -> FooterKey:
        key = FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            description,
            binding.action,
            disabled=not enabled,
            tooltip=tooltip or description,
        )
        # Compact or not as the footer is now, not bound to it: Textual's data_bind leaves each
        # key in the footer's list of watchers, pruned only when ``compact`` changes, so every
        # recompose (each change of view, focus or keys) kept its keys alive for the console's
        # lifetime. The footer composes again whenever it turns narrow or wide (on_resize).
        narrow = bool(self._narrow)
        key.set_reactive(FooterKey.compact, narrow)
        key.set_class(narrow, "-compact")
        return key

    def on_resize(self) -> None:
        if self._narrow is not None and (self.app.size.width < WIDE) != self._narrow:
            self.call_after_refresh(self.recompose)
