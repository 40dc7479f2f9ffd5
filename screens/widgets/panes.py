"""Jump mode (as in Posting): ctrl+f puts a key on every pane of the view; that key focuses it.

With a form, an editor, a response and a table on one screen, tab and shift+tab take up to nine
presses to reach a pane; this takes two, from anywhere, the body editor included.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Label

#: The keys in the order panes get them: the home row first, digits never clash with a view.
KEYS = "1234567890asdfghjklqwertyuiopzxcvbnm"


def jump_targets(screen: object) -> list[tuple[str, Widget]]:
    """Every pane that can take focus and is on screen now, with the key that reaches it."""
    panes = [
        widget
        for widget in getattr(screen, "focus_chain", [])
        if widget.region.width and widget.region.height
    ]
    return list(zip(KEYS, panes, strict=False))


class PaneJump(ModalScreen[Widget | None]):
    """A key label at the top-left corner of each pane; the key focuses it, anything else leaves."""

    DEFAULT_CSS = """
    PaneJump { background: $background 0%; }
    PaneJump > Label { position: absolute; width: auto; height: 1; padding: 0 1;
                       background: $accent; color: $text; text-style: bold; }
    """

    def __init__(self, targets: list[tuple[str, Widget]]) -> None:
        super().__init__()
        self.targets = dict(targets)

    def compose(self) -> ComposeResult:
        for key, widget in self.targets.items():
            label = Label(key)
            label.styles.offset = (widget.region.x, widget.region.y)
            yield label

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(self.targets.get(event.character or ""))
