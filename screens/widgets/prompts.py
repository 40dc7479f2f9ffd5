"""Small modal screens: the `:` jump prompt, the `?` key list and the destructive-action check."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

#: View names the jump prompt accepts, with the short aliases operators type (k9s style).
VIEW_ALIASES: dict[str, str] = {
    "catalogue": "catalogue",
    "cat": "catalogue",
    "catalog": "catalogue",
    "op": "catalogue",
    "call": "call",
    "events": "events",
    "ev": "events",
    "tx": "tx",
    "transactions": "tx",
    "log": "tx",
    "overview": "overview",
    "ov": "overview",
    "check": "check",
}
VIEWS: tuple[str, ...] = ("catalogue", "call", "events", "tx", "overview", "check")


def resolve_view(text: str) -> str | None:
    """``":ev"`` → ``"events"``; a unique prefix of a view name also works."""
    word = text.strip().lstrip(":").strip().lower()
    if not word:
        return None
    if word in VIEW_ALIASES:
        return VIEW_ALIASES[word]
    matches = [view for view in VIEWS if view.startswith(word)]
    return matches[0] if len(matches) == 1 else None


class JumpPrompt(ModalScreen[str | None]):
    """``:`` then a view name; tab or → completes; enter jumps; esc cancels."""

    BINDINGS = [Binding("escape", "dismiss_none", "cancel"), Binding("tab", "complete", "complete")]
    DEFAULT_CSS = """
    JumpPrompt { align: center bottom; background: $background 0%; }
    JumpPrompt > Input { dock: bottom; width: 100%; margin-bottom: 1; border: none; height: 1;
                         padding: 0 1; background: $panel; }
    """

    def compose(self) -> ComposeResult:
        suggestions = [f":{view}" for view in VIEWS]
        yield Input(
            value=":",
            placeholder=":view",
            id="jump-input",
            select_on_focus=False,
            suggester=SuggestFromList(suggestions, case_sensitive=False),
        )

    def on_key(self, event) -> None:
        """Keys typed in the same burst as ":" arrive before the input has focus: keep them."""
        prompt = self.query_one(Input)
        if self.focused is prompt:
            return
        if event.key == "enter":
            event.stop()
            self.dismiss(prompt.value)
        elif event.is_printable and event.character:
            event.stop()
            prompt.insert_text_at_cursor(event.character)

    def action_complete(self) -> None:
        prompt = self.query_one(Input)
        if prompt._suggestion:
            prompt.value = prompt._suggestion
            prompt.cursor_position = len(prompt.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


class KeysHelp(ModalScreen[None]):
    """The keys of the view it was opened from, and the grammar shared by every view."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "close")]
    DEFAULT_CSS = """
    KeysHelp { align: center middle; }
    KeysHelp > VerticalScroll { width: 64; max-width: 100%; height: auto; max-height: 90%;
                          border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        with VerticalScroll():
            yield Static(Text(self.title_text, style="bold"))
            yield Static(table)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Asks before anything destructive; only ``y`` says yes, anything else backs out."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Static { width: 60; max-width: 100%; height: auto; border: thick $error;
                       background: $surface; padding: 1 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        # The keys are the bindings' own (y, n, esc) in every language; only the words change.
        label = self.app.labels
        text = Text(self.question + "\n\n", style="bold")
        text.append(f"[y] {label('yes')} / [n, esc] {label('no')}", style="dim")
        yield Static(text)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
