"""The footer: this view's keys on the left, the way out always on the right.

Textual's footer lists keys in binding order and clips what does not fit, and the shell's keys
come last, so at 80 columns `? keys`, `esc back` and `^q quit` were the first to go (or were never
shown at all). An operator on SSH must always see how to get help, go back and leave, so those
are docked right where nothing can push them off; the view's own keys take the rest.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from screens.host import ConsoleNode, is_text_area

#: Below this width the footer drops its padding and the palette key (`?` still lists it).
WIDE = 110

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

    def compose(self):
        if not self._bindings_ready:
            return
        self._narrow = self.app.size.width < WIDE
        self.set_reactive(Footer.compact, self._narrow)
        self.set_class(self._narrow, "-compact")
        view_keys: list[tuple[Binding, bool, str]] = []
        way_out: list[tuple[int, Binding, bool, str]] = []
        actions: set[str] = set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            rank = _way_out_rank(binding)
            if binding.action == "app.command_palette" and not self._narrow:
                pass  # shown on the right when there is room, whatever its `show`
            elif not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            if rank is None:
                view_keys.append((binding, enabled, tooltip))
            else:
                way_out.append((rank, binding, enabled, tooltip))
        for binding, enabled, tooltip in view_keys:
            yield self._key(binding, enabled, tooltip, binding.description)
        with HorizontalGroup(classes="-way-out"):
            for _, binding, enabled, tooltip in sorted(way_out, key=lambda item: item[0]):
                yield self._key(binding, enabled, tooltip, self._describe(binding))

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
        return FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            description,
            binding.action,
            disabled=not enabled,
            tooltip=tooltip or description,
        ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self._narrow is not None and (self.app.size.width < WIDE) != self._narrow:
            self.call_after_refresh(self.recompose)
