"""The header line: view, profile, gateway health, token countdown and Kafka state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from screens.host import ConsoleNode
from screens.state import ConnectionState, expires_in

#: A glyph per state as well as a colour: at 80 columns the words are gone, and with NO_COLOR
#: (or red/green colour blindness) a dot that only changes colour says nothing.
_DOT = {
    "up": ("●", "green"),
    "connected": ("●", "green"),
    "connecting": ("◌", "yellow"),
    "down": ("✗", "red"),
    "not connected": ("○", "grey50"),
}


class StatusHeader(ConsoleNode, Static):
    """Follows ``app.connection`` on every screen; ticks once a second for the token countdown."""

    DEFAULT_CSS = """
    StatusHeader { dock: top; height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.view_title = title
        self.compact = False

    def on_mount(self) -> None:
        self.watch(self.app, "connection", self._show, init=True)
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self.console.connection.token_expires_at is not None:
            self._show(self.console.connection)

    def on_resize(self) -> None:
        self._show(self.console.connection)

    def _show(self, state: ConnectionState) -> None:
        label = self.console.labels
        #: Under 110 columns the words give way to dots, so all four states stay visible at 80.
        self.compact = self.size.width < 110
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"apilog · {self.view_title}", style="bold")
        text.append("  " if self.compact else f"  {label('profile')} ", style="dim")
        text.append(state.profile, style="bold")
        if state.readonly:
            text.append(f" [{label('read-only')}]", style="bold yellow")
        self._part(text, "gw" if self.compact else label("gateway"), state.gateway)
        text.append(f"  {label('token')} ", style="dim")
        if state.token_expires_at is not None:
            left = expires_in(state.token_expires_at, self.console.clock())
            prefix = "" if self.compact else f"{label('expires in')} "
            text.append(f"{prefix}{left}", style="green" if left != "expired" else "red")
        elif state.token_error:
            text.append("✗" if self.compact else state.token_error[:40], style="red")
        else:
            text.append("–" if self.compact else label("no token"), style="grey50")
        self._part(text, label("kafka"), state.kafka)
        self.update(text, layout=False)  # one docked line: its size never follows the text

    def _part(self, text: Text, name: str, value: str) -> None:
        text.append(f"  {name} ", style="dim")
        glyph, style = _DOT.get(value, ("○", "grey50"))
        text.append(glyph, style=style)
        if not self.compact:
            text.append(f" {self.console.labels(value)}")
