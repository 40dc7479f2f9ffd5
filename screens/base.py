"""What every view shares: the status header, the `/` filter bar and the footer of live keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import events
from textual.app import ComposeResult, ScreenStackError
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from screens.filtering import Filter, parse_filter
from screens.host import ConsoleNode
from screens.keymap import translate_bindings
from screens.widgets.footer import ShellFooter
from screens.widgets.status import StatusHeader


class FilterBar(ConsoleNode, Input):
    """``/`` opens it; typing filters live; enter keeps the filter; esc clears it."""

    BINDINGS = [Binding("escape", "clear_filter", "clear filter")]
    DEFAULT_CSS = """
    FilterBar { height: 1; border: none; padding: 0 1; background: $panel;
                display: none; }
    FilterBar.-active { display: block; }
    """

    can_focus = False  # until "/" opens it: a closed bar must not take focus (esc means back)

    def on_mount(self) -> None:
        translate_bindings(self, self.console.labels)

    def open(self) -> None:
        self.can_focus = True
        self.add_class("-active")
        # Now, not on the next loop turn (Widget.focus): keys typed right after "/" arrive in the
        # same burst from a real terminal and must land here, not in the table.
        self.screen.set_focus(self)

    def close(self) -> None:
        """Hide it and take it out of the focus chain, so esc means "back" again."""
        self.remove_class("-active")
        self.can_focus = False
        if isinstance(self.screen, View):  # the bar lives only in views
            self.screen.focus_main()

    def action_clear_filter(self) -> None:
        self.value = ""
        self.close()


class View(ConsoleNode, Screen):
    """A console view. Subclasses set ``VIEW`` and ``FIELDS`` and implement ``compose_body``."""

    VIEW = ""
    #: Field names the filter understands in this view (``method:post``).
    FIELDS: frozenset[str] = frozenset()

    @property
    def on_top(self) -> bool:
        """Whether this view is the one on screen. False while the app shuts down: its timers
        can still fire once after the screen stack has emptied, where ``app.screen`` raises."""
        try:
            return self.app.screen is self
        except ScreenStackError:
            return False

    def relabel(self, action: str, description: str) -> None:
        """Change what the footer says a key of this view does (pause/resume, all/mine only)."""
        table = self._bindings.key_to_bindings
        for key, key_bindings in table.items():
            table[key] = [replace(b, description=description) if b.action == action else b
                          for b in key_bindings]
        self.refresh_bindings()
    #: Whether `/` means something here (a form has nothing to filter).
    FILTERABLE = True
    #: No automatic focus on the first field: a view is entered at its main widget, then
    #: returned to where the operator left it (see ``_restore_focus``).
    AUTO_FOCUS = ""

    def __init__(self) -> None:
        super().__init__(name=self.VIEW)
        self.current_filter: Filter = parse_filter("")
        #: The pane the operator was in, put back when the view is shown again.
        self._last_focus: Widget | None = None
        #: Holds the footer's line until the filter bar and the footer are mounted.
        self._slot: Static | None = None

    def on_mount(self) -> None:
        translate_bindings(self, self.console.labels)
        self.call_after_refresh(self._mount_bar_and_footer)

    async def _mount_bar_and_footer(self) -> None:
        """The filter bar (hidden until `/`) and the footer (empty until the screen's keys are
        known), after the view's first frame: neither shows anything in it, and mounting them
        first made the console's first frame ~30 ms (the bar) and ~20 ms (the footer) of CPU
        later (bench/bench_tui.py, median of 11 rounds, each left out in turn)."""
        slot, self._slot = self._slot, None
        if slot is None:
            return  # mounted already (`/` came first)
        await self.mount(
            FilterBar(
                placeholder=self.filter_hint(), id="filter", compact=True, select_on_focus=False
            ),
            ShellFooter(),
            before=slot,
        )
        await slot.remove()

    # Focus: where the operator left it ----------------------------------------------------

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not isinstance(event.widget, FilterBar):
            self._last_focus = event.widget

    def on_screen_resume(self) -> None:
        """Back from a prompt, a dialog or another view: the focus it had, not the main widget.

        Queued on the app after any focus a subclass asks for on resume, so this one wins.
        """
        self.app.call_later(self._restore_focus)

    def _restore_focus(self) -> None:
        target = self._last_focus
        if target is not None and target.is_attached and target.focusable:
            self.set_focus(target, scroll_visible=False)
        elif self.focused is None:
            self.focus_main()

    # Keys that cannot act now say why ----------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """A key bound here whose action is unavailable says why instead of doing nothing."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.action.startswith("app."):
                continue
            if self.check_action(binding.action, ()) is True:
                continue
            event.stop()
            self.notify(
                f"{event.key}: {binding.description} — {self.why_unavailable(binding.action)}",
                severity="warning",
            )
            return

    def why_unavailable(self, action: str) -> str:
        """Why ``action`` cannot run now, in words an operator can act on."""
        from screens.keymap import mutating_actions

        if self.console.readonly and action in mutating_actions():
            return self.console.labels("not available in read-only mode: it changes data")
        return self.console.labels("nothing to act on here yet")

    def before_back(self) -> bool:
        """Esc was pressed: True when this view handled it (the app then does not go back)."""
        return False

    def back_label(self) -> str | None:
        """What esc does here when it is not "back" (shown in the footer), or None."""
        return None

    def legend(self) -> list[tuple[str, str]]:
        """The badges and glyphs this view shows, for the `?` list."""
        return []

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.console.labels(self.VIEW))
        yield from self.compose_body()
        # The footer's line, in the footer's colour, until the bar and the footer are mounted.
        self._slot = Static(id="footer-slot")
        yield self._slot

    def compose_body(self) -> ComposeResult:
        yield from ()

    def filter_hint(self) -> str:
        fields = " ".join(f"{name}:…" for name in sorted(self.FIELDS))
        return f"/ regex  {fields}  !invert".strip()

    def focus_main(self) -> None:
        """Give the keyboard back to the view's main widget."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode: actions that change state are not offered at all."""
        from screens.keymap import mutating_actions

        return not (self.console.readonly and action in mutating_actions())

    async def action_filter(self) -> None:
        await self._mount_bar_and_footer()  # `/` before the view's first frame was done
        self.query_one(FilterBar).open()

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterBar):
            event.stop()
            self.current_filter = parse_filter(event.value, self.FIELDS)
            self.apply_filter(self.current_filter)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FilterBar):
            event.stop()
            if event.value:
                self.focus_main()
            else:
                event.input.close()

    def apply_filter(self, flt: Filter) -> None:
        """Show only what passes ``flt``."""

    def keys(self) -> list[tuple[str, str]]:
        """The keys that work here, for the `?` list."""
        shown = []
        for active in self.active_bindings.values():
            binding = active.binding
            if binding.action.startswith("app."):
                continue  # the shell's grammar: the app lists it once, after these
            if binding.show and binding.description:  # dimmed ones too: they work later
                shown.append((self.app.get_key_display(binding), binding.description))
        return shown


class TableView(View):
    """A view whose main widget is a line table with a detail pane that `enter` toggles."""

    def selected_item(self) -> Any | None:
        """What the line under the cursor shows, or None when the table is empty."""
        return None

    def open_detail(self, item: Any) -> None:
        """Fill the detail pane with ``item``."""

    def action_detail(self) -> None:
        if self.has_class("-detail"):
            self.remove_class("-detail")
            return
        item = self.selected_item()
        if item is not None:
            self.add_class("-detail")
            self.open_detail(item)

    def on_line_table_selected(self, event: Any) -> None:
        event.stop()
        self.action_detail()
