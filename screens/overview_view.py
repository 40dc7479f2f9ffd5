"""Overview: is everything up, how busy, how fast per operation, what failed lately.

Figures come from ``TransactionLog.stats`` (one SQL pass) and the last hour's rows from
``TransactionLog.query``, read in a thread every two seconds while the view is shown; the
trends (per minute, per operation) are folded from those rows here, without SQL of their own.
The connection state is the same one the header shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from console.txlog.outcomes import SUCCESS_OUTCOMES
from screens.base import View
from screens.check_view import CheckView
from screens.state import ConnectionState, expires_in
from screens.widgets.response import OUTCOME_STYLE

REFRESH_S = 2.0
WINDOW = timedelta(hours=1)
#: The per-minute lines cover the window, one value a minute (the widget fits them to its width).
MINUTES = 60
#: Latency per operation: twelve five-minute buckets over the hour.
BUCKET_S = 300
#: Rows folded per refresh: the last hour of a busy console, newest first.
ROWS = 5000
TOP_OPERATIONS = 6


@dataclass
class Trends:
    """What the overview draws, folded from the last hour's transactions."""

    calls_per_minute: list[int] = field(default_factory=list)
    failures_per_minute: list[int] = field(default_factory=list)
    #: (method path action, calls, p50 ms, p95 ms, p95 per bucket), busiest first.
    operations: list[tuple[str, int, float | None, float | None, list[float]]] = field(
        default_factory=list
    )
    #: (epoch, operation, contract, what happened), newest first.
    failed_contracts: list[tuple[float, str, str, str]] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank, as the log's own statistics compute it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fold_trends(transactions: list[Any], now: float) -> Trends:
    """Per-minute calls and failures, latency per operation over time, contracts missed."""
    trends = Trends(calls_per_minute=[0] * MINUTES, failures_per_minute=[0] * MINUTES)
    buckets = int(WINDOW.total_seconds() // BUCKET_S)
    elapsed: dict[str, list[float]] = defaultdict(list)
    per_bucket: dict[str, list[list[float]]] = {}
    for tx in transactions:
        age = now - tx.started_at
        minute = MINUTES - 1 - int(age // 60)
        if 0 <= minute < MINUTES:
            trends.calls_per_minute[minute] += 1
            if tx.outcome not in SUCCESS_OUTCOMES:
                trends.failures_per_minute[minute] += 1
        name = f"{tx.method} {tx.path} {tx.action}"
        if tx.elapsed_ms is not None:
            elapsed[name].append(tx.elapsed_ms)
            bucket = buckets - 1 - int(age // BUCKET_S)
            if 0 <= bucket < buckets:
                per_bucket.setdefault(name, [[] for _ in range(buckets)])[bucket].append(
                    tx.elapsed_ms
                )
        # The contracts a logged call shows it missed: its SLA, and its retries.
        if tx.sla_ok is False:
            trends.failed_contracts.append(
                (tx.started_at, name, "latency-sla", f"{tx.elapsed_ms:.0f} ms > {tx.sla_ms} ms")
            )
        if tx.outcome == "retries_exhausted":
            trends.failed_contracts.append(
                (tx.started_at, name, "retry", f"×{tx.attempt_count} → HTTP {tx.status}")
            )
    busiest = sorted(elapsed, key=lambda name: (-len(elapsed[name]), name))[:TOP_OPERATIONS]
    for name in busiest:
        series = [percentile(b, 0.95) or 0.0 for b in per_bucket.get(name, [])]
        trends.operations.append(
            (
                name,
                len(elapsed[name]),
                percentile(elapsed[name], 0.50),
                percentile(elapsed[name], 0.95),
                series,
            )
        )
    trends.failed_contracts.sort(key=lambda item: -item[0])
    return trends


class OverviewView(View):
    VIEW = "overview"
    #: Fixed panels: nothing to filter, so `/` is not offered here.
    FILTERABLE = False
    DEFAULT_CSS = """
    OverviewView Grid { grid-size: 2 3; grid-rows: 1fr 1fr 1fr; grid-gutter: 0 1; padding: 0 1; }
    OverviewView Grid > * { border: round $panel-lighten-2; height: 100%; padding: 0 1; }
    OverviewView Sparkline { height: 1; margin: 0 0; }
    OverviewView .op-row { height: 1; }
    OverviewView .op-row Static { width: 1fr; height: 1; }
    OverviewView .op-row Sparkline { width: 8; }
    OverviewView #overview-failures > .sparkline--max-color { color: $error; }
    OverviewView #overview-failures > .sparkline--min-color { color: $error 30%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, Any] | None = None
        self.recent: list[Any] = []
        self.trends = Trends()
        self._loading: Any = None

    def compose_body(self) -> ComposeResult:
        with Grid():
            yield Static(id="overview-state")
            with Vertical(id="overview-traffic-box"):
                yield Static(id="overview-traffic")
                yield Sparkline([], id="overview-calls")
            with Vertical(id="overview-outcomes-box"):
                yield Static(id="overview-outcomes")
                yield Sparkline([], id="overview-failures")
            yield Vertical(id="overview-latency")
            yield Static(id="overview-contracts")
            yield Static(id="overview-recent")

    def on_mount(self) -> None:
        super().on_mount()
        label = self.console.labels
        for widget_id, title in (
            ("state", "status"),
            ("traffic-box", "calls/min"),
            ("outcomes-box", "outcomes/min"),
            ("latency", "latency per operation (p50/p95 ms, p95 over the hour)"),
            ("contracts", "contracts failed last"),
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
        if self.on_top:
            self.load()

    def load(self) -> None:
        """Refresh the figures, unless a refresh is still reading: one at a time, none dropped
        half-way (an exclusive worker cancels the running one, and a reader of the log is
        slower than the two-second tick on a loaded machine)."""
        if self._loading is not None and self._loading.is_running:
            return
        self._loading = self._load()

    @work(thread=True, group="overview", exit_on_error=False)
    def _load(self) -> None:
        session = self.console.session
        if session is None or not session.is_open:
            return
        txlog = session.txlog
        now = self.console.clock().timestamp()
        since = now - WINDOW.total_seconds()
        stats = txlog.stats(since=since)
        rows = txlog.query(since=since, limit=ROWS)
        recent = [tx for tx in rows if tx.outcome in ("rolled_back", "retries_exhausted")]
        retried = [tx for tx in rows if tx.attempt_count > 1]
        merged = sorted(
            {tx.id: tx for tx in recent[:5] + retried[:5]}.values(),
            key=lambda t: t.id,
            reverse=True,
        )[:8]
        trends = fold_trends(rows, now)
        self.app.call_from_thread(self._loaded, stats, merged, trends)

    def _loaded(self, stats: dict[str, Any], recent: list[Any], trends: Trends) -> None:
        self.stats, self.recent, self.trends = stats, recent, trends
        self._show_figures()

    def _show_state(self, state: ConnectionState) -> None:
        label = self.console.labels
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
            f"{label('expires in')} {expires_in(state.token_expires_at, self.console.clock())}"
            if state.token_expires_at
            else (state.token_error or label("no token"))
        )
        table.add_row(label("token"), token)
        table.add_row(
            label("kafka"), _state_text(label(state.kafka), state.kafka, state.kafka_error)
        )
        session = self.console.session
        if session is not None and session.base_url:
            table.add_row("url", session.base_url)
        self.query_one("#overview-state", Static).update(table)

    def _show_figures(self) -> None:
        label = self.console.labels
        stats = self.stats
        if stats is None:
            for widget_id in ("traffic", "outcomes", "contracts", "recent"):
                self.query_one(f"#overview-{widget_id}", Static).update(
                    Text(
                        label("not connected")
                        if self.console.session is None
                        else label("nothing yet"),
                        style="dim",
                    )
                )
            return
        trends = self.trends
        traffic = Table.grid(padding=(0, 1))
        traffic.add_column(style="dim")
        traffic.add_column()
        # Over the whole window, so the figure does not drift with the wall clock between refreshes.
        per_min = stats["calls"] / (WINDOW.total_seconds() / 60)
        traffic.add_row(label("calls"), f"{stats['calls']}  ({per_min:.1f}/min)")
        traffic.add_row("p50 / p95", f"{_ms(stats['p50_ms'])} / {_ms(stats['p95_ms'])}")
        traffic.add_row(
            label("SLA breaches"),
            Text.assemble(
                (str(stats["sla_breaches"]), "bold red" if stats["sla_breaches"] else ""),
                (f"  {label('retried')} {stats['retried']}", ""),
                (f"  {label('rolled back')} {stats['rolled_back']}", ""),
            ),
        )
        self.query_one("#overview-traffic", Static).update(traffic)
        self.query_one("#overview-calls", Sparkline).data = trends.calls_per_minute
        outcomes = Text()
        # Ties in a stable order (SQLite's GROUP BY order is not), most frequent first.
        for index, (outcome, count) in enumerate(
            sorted(stats["outcomes"].items(), key=lambda kv: (-kv[1], kv[0]))
        ):
            outcomes.append("  " if index else "")
            outcomes.append(label(outcome.replace("_", " ")), style=OUTCOME_STYLE.get(outcome, ""))
            outcomes.append(f" {count}")
        failed = sum(trends.failures_per_minute)
        outcomes.append(f"\n{label('not a success, per minute')} ({failed}):", style="dim")
        self.query_one("#overview-outcomes", Static).update(outcomes)
        self.query_one("#overview-failures", Sparkline).data = trends.failures_per_minute
        self._show_latency(trends)
        contracts = Text()
        for _, operation, slug, what in trends.failed_contracts[:6]:
            contracts.append(f"{slug} ", style="bold red")
            contracts.append(f"{operation}  ", style="bold")
            contracts.append(f"{what}\n", style="dim")
        contracts.append_text(self._check_failures())
        self.query_one("#overview-contracts", Static).update(
            contracts or Text(label("none failed in the last hour"), style="dim")
        )
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

    def _show_latency(self, trends: Trends) -> None:
        """One line per busy operation: its name, p50 / p95 and a sparkline of p95 over time."""
        box = self.query_one("#overview-latency", Vertical)
        box.remove_children()
        rows: list[Widget] = []
        for name, calls, p50, p95, series in trends.operations:
            text = Text(no_wrap=True, overflow="ellipsis")
            # Figures first and short (ms in the title): at 80 columns the name is what gets cut.
            text.append(f"{_num(p50)}/{_num(p95)} ", style="bold")
            text.append(f"{name} ×{calls}")
            rows.append(Horizontal(Static(text), Sparkline(series), classes="op-row"))
        if not rows:
            rows.append(Static(Text(self.console.labels("nothing yet"), style="dim")))
        box.mount_all(rows)

    def _check_failures(self) -> Text:
        """The failed verdicts of this console's last check run (the check view keeps them)."""
        text = Text()
        if not self.app.is_screen_installed("check"):
            return text
        check = self.app.get_screen("check")
        if not isinstance(check, CheckView):
            return text
        for value in list(check.cells.values()):
            if getattr(value, "verdict", None) == "failed":
                text.append(f"{value.contract} ", style="bold red")
                text.append(f"{value.method} {value.path} {value.action}  ", style="bold")
                text.append(f"{value.reason[:60]}\n", style="dim")
        return text


def _state_text(word: str, state: str, error: str) -> Text:
    style = {"up": "green", "connected": "green", "down": "bold red", "connecting": "yellow"}.get(
        state, "dim"
    )
    text = Text(word, style=style)
    if error:
        text.append(f"  {error[:60]}", style="red")
    return text


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"
