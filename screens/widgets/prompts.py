"""Small modal screens: the `:` jump prompt, the `?` key list and the destructive-action check."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from screens.host import ConsoleNode

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
#: What k9s users type to leave; the prompt accepts them as ctrl+q.
QUIT_WORDS = frozenset({"q", "quit", "q!"})


def resolve_view(text: str) -> str | None:
    """``":ev"`` → ``"events"``; a unique prefix of a view name also works."""
    word = text.strip().lstrip(":").strip().lower()
    if not word:
        return None
    if word in VIEW_ALIASES:
        return VIEW_ALIASES[word]
    matches = [view for view in VIEWS if view.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def completions(text: str) -> list[str]:
    """The views (and ``quit``) that what was typed after ``:`` can still become."""
    word = text.strip().lstrip(":").strip().lower()
    names = [*VIEWS, "quit"]
    if not word:
        return names
    found = [name for name in names if name.startswith(word)]
    alias = VIEW_ALIASES.get(word)
    if alias and alias not in found:
        found.insert(0, alias)
    return found


class JumpPrompt(ConsoleNode, ModalScreen[str | None]):
    """``:`` then a view name, on one line over the view (k9s): what is typed, the completion
    inline (tab or → takes it) and the views it can still become; enter jumps; esc cancels."""

    BINDINGS = [Binding("escape", "dismiss_none", "cancel"), Binding("tab", "complete", "complete")]
    # The view stays visible under the prompt. The input is compact: a focused Input otherwise
    # draws a tall border that, at `height: 1`, leaves two border lines and no text at all.
    DEFAULT_CSS = """
    JumpPrompt { background: $background 0%; }
    JumpPrompt > #jump-line { dock: top; margin-top: 1; height: 1; width: 100%;
                              background: $accent 25%; }
    JumpPrompt #jump-input { width: 24; height: 1; padding: 0 1; background: $accent 25%;
                             text-style: bold; }
    JumpPrompt #jump-input:focus { background: $accent 25%; }
    JumpPrompt #jump-hint { width: 1fr; height: 1; color: $text-muted; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        suggestions = [f":{view}" for view in VIEWS] + [":quit"]
        with Horizontal(id="jump-line"):
            yield Input(
                value=":",
                placeholder=":view",
                id="jump-input",
                compact=True,
                select_on_focus=False,
                suggester=SuggestFromList(suggestions, case_sensitive=False),
            )
            yield Static(id="jump-hint")

    def on_mount(self) -> None:
        self._show_hint(":")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_hint(event.value)

    def _show_hint(self, value: str) -> None:
        names = completions(value)
        text = Text(no_wrap=True, overflow="ellipsis")
        if not names:
            text.append(f"{self.console.labels('unknown view')}: {value.lstrip(':')}", style="yellow")
        for index, name in enumerate(names):
            text.append("  " if index else "", style="")
            label = self.console.labels("quit" if name == "quit" else name)
            text.append(f":{name}", style="bold" if index == 0 else "")
            if label != name:
                text.append(f" {label}", style="dim")
        text.append(f"   tab ⇥  ⏎  esc {self.console.labels('cancel')}", style="dim")
        self.query_one("#jump-hint", Static).update(text)

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


class KeysHelp(ConsoleNode, ModalScreen[None]):
    """The keys of the view it was opened from, the grammar shared by every view, and what the
    view's badges mean. A panel on the right over the view, which stays visible beside it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "close")]
    DEFAULT_CSS = """
    KeysHelp { background: $background 0%; align: right top; }
    KeysHelp > VerticalScroll { width: 55%; min-width: 46; max-width: 72; height: auto;
                                margin-top: 1; border: round $accent; background: $surface;
                                padding: 0 1; }
    """

    def __init__(
        self,
        title: str,
        keys: Sequence[tuple[str, str]],
        legend: Sequence[tuple[str, str]] = (),
        legend_title: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys
        self.legend = legend
        self.legend_title = legend_title

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(self.title_text, style="bold"))
            yield Static(_grid(self.keys))
            if self.legend:
                yield Static(Text(f"\n{self.legend_title}", style="bold"))
                yield Static(_grid(self.legend), id="keys-legend")

    def on_resize(self) -> None:
        """Between the header and the footer, whatever the terminal's height: both stay seen."""
        self.query_one(VerticalScroll).styles.max_height = max(3, self.size.height - 2)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


def _grid(rows: Sequence[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, description in rows:
        table.add_row(key, description)
    return table


class Confirm(ConsoleNode, ModalScreen[bool]):
    """Asks before anything destructive; only ``y`` says yes, anything else backs out.

    A band at the bottom, over the view: the row being acted on stays in sight above it.
    """

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]
    DEFAULT_CSS = """
    Confirm { background: $background 0%; }
    Confirm > Static { dock: bottom; margin-bottom: 1; width: 100%; height: auto;
                       border: thick $error; background: $surface; padding: 0 1; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        # The keys are the bindings' own (y, n, esc) in every language; only the words change.
        label = self.console.labels
        text = Text(self.question + "\n", style="bold")
        text.append(f"[y] {label('yes')} / [n, esc] {label('no')}", style="dim")
        yield Static(text)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def outcome_words(outcome: str, status: int | None, labels) -> str:
    """``rolled_back``, 500 → ``rolled back (HTTP 500)``, in the console's language."""
    words = labels(outcome.replace("_", " "))
    return f"{words} (HTTP {status})" if status is not None else words


def rerun_question(operation, labels) -> str:
    """The re-run dialog as a sentence naming the operation and what it does again."""
    return (
        f"{labels('Send again')}: {operation.method} {operation.path} "
        f"{labels.term(operation.action)} ({operation.action})?\n"
        f"⚠ {labels('it changes data again, as the first call did')}"
    )


def rerun_result(result, labels) -> str:
    """The re-run toast as a sentence: which operation went again and how it ended."""
    return (
        f"{labels('Sent again')}: {result.method} {result.path} "
        f"{labels.term(result.action)} → {outcome_words(result.outcome, result.status, labels)}"
    )
