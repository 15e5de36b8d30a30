"""The console's widgets: health bar, stats, alert table and detail pane."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from foundation.alert_stream import StreamEntry
from fraudctl.alerts.health import PipelineHealth
from fraudctl.alerts.labels import is_fraud_label
from fraudctl.alerts.quality import DetectionQuality
from models.contracts.rule import rule_id_of

COMPONENTS = ("gateway", "kafka", "flink", "redis")


def clock_time(ms: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=tz).strftime("%H:%M:%S")


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def label_style(label: str | None) -> str:
    if label is None:
        return ""
    return "bold red" if is_fraud_label(label) else "dim strike"


class HealthBar(Static):
    """One line: the app's name and the state of every component of the pipeline."""

    def show(self, health: PipelineHealth | None, stream_up: bool | None, detail: str) -> None:
        line = Text.assemble(("fraudctl console", "bold"), "  ")
        for name in COMPONENTS:
            part = health.component(name) if health else None
            if name == "redis" and stream_up is False:
                line.append("● redis disconnected", "bold red")
                line.append(" (retrying)  ", "red")
                continue
            if part is None:
                line.append(f"○ {name}  ", "dim")
                continue
            word = "" if part.ok and part.detail == "up" else part.detail
            line.append(f"● {name}", "green" if part.ok else "red")
            line.append(f" {word}  " if word else "  ", "green" if part.ok else "red")
        errors = [f"{c.name}: {c.error}" for c in (health.components if health else ()) if c.error]
        if stream_up is False and detail:
            errors.append(f"alert stream: {detail}")
        self.tooltip = "\n".join(errors) or None
        self.update(line)


class StatsPanel(Horizontal):
    """Alerts per minute (sparkline), ingest rate, detection quality, mode and filter."""

    def compose(self) -> ComposeResult:
        with Vertical(id="rate-box"):
            yield Static(id="rate-title")
            yield Sparkline([0], id="sparkline")
        yield Static(id="stats-text")

    def show(
        self,
        per_minute: list[int],
        health: PipelineHealth | None,
        quality: DetectionQuality | None,
        shown: int,
        held: int,
        paused: bool,
        filter_text: str,
    ) -> None:
        self.query_one("#rate-title", Static).update(
            Text.assemble(("alerts/min ", "bold"), f"{per_minute[-1]} now · 30 min")
        )
        self.query_one("#sparkline", Sparkline).data = per_minute
        rate = health.ingest_rate if health else None
        text = Text()
        text.append("ingest ", "bold")
        text.append(f"{rate:,.0f} tx/s" if rate is not None else "n/a")
        text.append("   shown ", "bold")
        text.append(f"{shown:,}")
        text.append("\n")
        text.append("precision ", "bold")
        text.append(_ratio(quality.precision if quality else None))
        if quality is not None and quality.recall is None:
            text.append(f" of {quality.labelled:,} labelled", "dim")
        else:
            text.append("  recall ", "bold")
            text.append(_ratio(quality.recall if quality else None))
        text.append("\n")
        if paused:
            text.append(" PAUSED ", "bold black on yellow")
            text.append(f" +{held} new " if held else " ", "yellow")
        else:
            text.append(" LIVE ", "bold black on green")
            text.append(" ")
        if filter_text:
            text.append("filter ", "bold")
            text.append(filter_text, "cyan")
        self.query_one("#stats-text", Static).update(text)


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


class AlertTable(DataTable[RenderableType]):
    """Newest alerts first; the row key is the stream id."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_column("time", width=8, key="time")
        self.add_column("transaction", width=16, key="txn")
        self.add_column("user", width=12, key="user")
        self.add_column("amount", width=10, key="amount")
        self.add_column("score", width=5, key="score")
        self.add_column("reason", key="reason")

    def show(self, entries: list[StreamEntry], labels: dict[str, str], tz: tzinfo | None) -> None:
        # Keep the operator's selection; a cursor on the newest row follows new alerts.
        selected = self.selected_key() if self.cursor_row > 0 else None
        self.clear()
        for entry in entries:
            alert = entry.alert
            self.add_row(
                clock_time(alert.detected_at or entry.stream_ms, tz),
                Text(alert.transaction_id, style=label_style(labels.get(alert.transaction_id))),
                Text(alert.user_id),
                Text(money(alert.amount), justify="right"),
                f"{alert.score:.2f}",
                Text(alert.top_reason, style="yellow"),
                key=entry.stream_id,
            )
        if selected is not None and selected in self.rows_by_key():
            self.move_cursor(row=self.get_row_index(selected))

    def rows_by_key(self) -> set[str]:
        return {str(key.value) for key in self.rows}

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None


def detail_renderable(
    entry: StreamEntry | None, label: str | None, tz: tzinfo | None
) -> RenderableType:
    """Everything about one alert: reasons, features, model, latency, analyst label."""
    if entry is None:
        return Text("No alert selected. Alerts appear here as they arrive.", style="dim")
    alert = entry.alert
    head = Text.assemble(
        ("FRAUD ALERT ", "bold white on red"),
        " ",
        (alert.transaction_id, "bold"),
        "  user ",
        (alert.user_id, "bold"),
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("amount", f"{money(alert.amount)} {alert.currency}")
    facts.add_row("card", f"•••• {alert.card_last4}" if alert.card_last4 else "n/a")
    facts.add_row("merchant", Text(f"{alert.merchant_id}  {alert.location}".strip()))
    facts.add_row("event time", alert.timestamp or "n/a")
    detected = alert.detected_at or entry.stream_ms
    when = datetime.fromtimestamp(detected / 1000, tz=tz).isoformat(timespec="milliseconds")
    facts.add_row("detected", when)
    threshold = f" (threshold {alert.threshold:.3f})" if alert.threshold is not None else ""
    facts.add_row("score", f"{alert.score:.3f}{threshold}")
    facts.add_row("model", alert.model_version or "n/a")
    fired = [rule_id_of(reason.code) for reason in alert.reasons]
    if any(fired):
        facts.add_row("rules", Text(", ".join(rule for rule in fired if rule)))
    latency = alert.latency_ms
    facts.add_row("latency", f"{latency} ms end to end" if latency is not None else "n/a")
    facts.add_row("label", Text(label or "none (f: fraud, n: false positive)", label_style(label)))
    reasons = Table.grid(padding=(0, 2))
    reasons.add_column(style="yellow", no_wrap=True)
    reasons.add_column()
    for reason in alert.reasons:
        reasons.add_row(reason.code, Text(reason.message))
    if not alert.reasons:
        reasons.add_row("none", "")
    features = Table.grid(padding=(0, 2))
    features.add_column(style="cyan", no_wrap=True)
    features.add_column(justify="right")
    for name, value in sorted(alert.features.items()):
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        features.add_row(name, shown)
    # Reasons first: they are what an operator reads when the pane is small.
    return Group(head, reasons, facts, Text("features", style="bold underline"), features)
