"""Overview: is everything up, how busy, how fast, what went wrong lately.

Figures come from ``TransactionLog.stats`` (one SQL pass) in a thread every two seconds while
the view is shown; the connection state is the same one the header shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Static

from screens.base import View
from screens.state import ConnectionState, expires_in
from screens.widgets.response import OUTCOME_STYLE

REFRESH_S = 2.0
WINDOW = timedelta(hours=1)


class OverviewView(View):
    VIEW = "overview"
    #: Four fixed panels: nothing to filter, so `/` is not offered here.
    FILTERABLE = False
    DEFAULT_CSS = """
    OverviewView Grid { grid-size: 2; grid-gutter: 0 1; padding: 0 1; }
    OverviewView Grid > Static { border: round $panel-lighten-2; height: 100%; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, Any] | None = None
        self.recent: list[Any] = []

    def compose_body(self) -> ComposeResult:
        with Grid():
            yield Static(id="overview-state")
            yield Static(id="overview-traffic")
            yield Static(id="overview-outcomes")
            yield Static(id="overview-recent")

    def on_mount(self) -> None:
        super().on_mount()
        label = self.app.labels
        for widget_id, title in (
            ("state", "status"),
            ("traffic", "calls/min"),
            ("outcomes", "outcomes"),
            ("recent", "recent rollbacks and retries"),
        ):
            self.query_one(f"#overview-{widget_id}").border_title = label(title)
        self.watch(self.app, "connection", self._show_state, init=True)
        self._show_figures()
        self.set_interval(REFRESH_S, self._refresh_if_shown)

    def on_runtime_ready(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def _refresh_if_shown(self) -> None:
        if self.app.screen is self:
            self.load()

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def load(self) -> None:
        session = self.app.session
        if session is None or not session.is_open:
            return
        txlog = session.txlog
        stats = txlog.stats(since=(self.app.clock() - WINDOW).timestamp())
        recent = txlog.query(outcome=["rolled_back", "retries_exhausted"], limit=5)
        retried = [tx for tx in txlog.query(limit=200) if tx.attempt_count > 1][:5]
        merged = sorted(
            {tx.id: tx for tx in recent + retried}.values(), key=lambda t: t.id, reverse=True
        )[:8]
        self.app.call_from_thread(self._loaded, stats, merged)

    def _loaded(self, stats: dict[str, Any], recent: list[Any]) -> None:
        self.stats, self.recent = stats, recent
        self._show_figures()

    def _show_state(self, state: ConnectionState) -> None:
        label = self.app.labels
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column()
        table.add_row(
            label("profile"), state.profile + (f" [{label('read-only')}]" if state.readonly else "")
        )
        table.add_row(
            label("gateway"), _state_text(label(state.gateway), state.gateway, state.gateway_error)
        )
        token = (
            f"{label('expires in')} {expires_in(state.token_expires_at, self.app.clock())}"
            if state.token_expires_at
            else (state.token_error or label("no token"))
        )
        table.add_row(label("token"), token)
        table.add_row(
            label("kafka"), _state_text(label(state.kafka), state.kafka, state.kafka_error)
        )
        session = self.app.session
        if session is not None and session.base_url:
            table.add_row("url", session.base_url)
        self.query_one("#overview-state", Static).update(table)

    def _show_figures(self) -> None:
        label = self.app.labels
        stats = self.stats
        if stats is None:
            for widget_id in ("traffic", "outcomes", "recent"):
                self.query_one(f"#overview-{widget_id}", Static).update(
                    Text(
                        label("not connected")
                        if self.app.session is None
                        else label("nothing yet"),
                        style="dim",
                    )
                )
            return
        traffic = Table.grid(padding=(0, 1))
        traffic.add_column(style="dim")
        traffic.add_column(justify="right")
        traffic.add_row(label("calls"), str(stats["calls"]))
        # Over the whole window, so the figure does not drift with the wall clock between refreshes.
        traffic.add_row(label("calls/min"), f"{stats['calls'] / (WINDOW.total_seconds() / 60):.1f}")
        traffic.add_row("p50 / p95", f"{_ms(stats['p50_ms'])} / {_ms(stats['p95_ms'])}")
        traffic.add_row(
            label("SLA breaches"),
            Text(str(stats["sla_breaches"]), style="bold red" if stats["sla_breaches"] else ""),
        )
        traffic.add_row(label("retried"), str(stats["retried"]))
        traffic.add_row(label("rolled back"), str(stats["rolled_back"]))
        traffic.add_row("", _sparkline([m["calls"] for m in stats["per_minute"][-30:]]))
        self.query_one("#overview-traffic", Static).update(traffic)
        outcomes = Table.grid(padding=(0, 1))
        outcomes.add_column()
        outcomes.add_column(justify="right")
        # Ties in a stable order (SQLite's GROUP BY order is not), most frequent first.
        for outcome, count in sorted(stats["outcomes"].items(), key=lambda kv: (-kv[1], kv[0])):
            outcomes.add_row(
                Text(label(outcome.replace("_", " ")), style=OUTCOME_STYLE.get(outcome, "")),
                str(count),
            )
        self.query_one("#overview-outcomes", Static).update(outcomes)
        recent = Text()
        for tx in self.recent:
            recent.append(f"{tx.method} {tx.path} {tx.action}  ", style="bold")
            recent.append(
                label(tx.outcome.replace("_", " ")), style=OUTCOME_STYLE.get(tx.outcome, "")
            )
            if tx.attempt_count > 1:
                recent.append(f" ↻×{tx.attempt_count - 1}", style="yellow")
            recent.append("\n")
        self.query_one("#overview-recent", Static).update(
            recent or Text(label("nothing yet"), style="dim")
        )


def _state_text(word: str, state: str, error: str) -> Text:
    style = {"up": "green", "connected": "green", "down": "bold red", "connecting": "yellow"}.get(
        state, "dim"
    )
    text = Text(word, style=style)
    if error:
        text.append(f"  {error[:60]}", style="red")
    return text


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _sparkline(values: list[int]) -> Text:
    if not values:
        return Text("")
    bars = "▁▂▃▄▅▆▇█"
    top = max(values) or 1
    return Text("".join(bars[min(7, int(v / top * 7))] for v in values), style="cyan")
