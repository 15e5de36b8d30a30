"""How a run looks: the live panel, the one-line progress for logs, the final summary."""

from __future__ import annotations

import time
from collections import deque

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fraudctl.alerts.quality import DetectionQuality
from fraudctl.simulate.demo import DemoResult
from fraudctl.simulate.options import SimulateOptions
from fraudctl.simulate.snapshot import Snapshot
from fraudctl.simulate.summary import Latency, Summary


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _quality_text(quality: DetectionQuality) -> str:
    return (
        f"precision {_share(quality.precision)} · recall {_share(quality.recall)}  "
        f"[dim](tp {quality.true_positives} · fp {quality.false_positives} · "
        f"fn {quality.false_negatives})[/]"
    )


class RateWindow:
    """The sending rate over the last couple of seconds, from the `sent` counter."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, sent: int, at: float | None = None) -> float | None:
        now = time.monotonic() if at is None else at
        self._samples.append((now, sent))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        first_at, first_sent = self._samples[0]
        if now - first_at < 0.5:
            return None
        return (sent - first_sent) / (now - first_at)


class LiveView:
    """Renders snapshots for rich.live (and a plain line for non-terminals)."""

    def __init__(self, options: SimulateOptions, run_id: str) -> None:
        self.options = options
        self.run_id = run_id
        self.rate = RateWindow()
        self.rate_now: float | None = None

    def sample(self, snap: Snapshot) -> None:
        self.rate_now = self.rate.update(snap.sent)

    def render(self, snap: Snapshot) -> RenderableType:
        opts = self.options
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column()
        total = f" / {snap.planned:,}" if snap.planned is not None else ""
        limit = f" / {opts.duration_s:g} s" if opts.duration_s is not None else ""
        grid.add_row("sent", f"{snap.sent:,}{total}   [dim]{snap.elapsed_s:.1f} s{limit}[/]")
        average = snap.sent / snap.elapsed_s if snap.elapsed_s > 0 else 0.0
        now = "-" if self.rate_now is None else f"{self.rate_now:,.1f}"
        behind = ""
        if snap.lag_s > 0.5:
            why = "gateway too slow: in-flight limit reached" if snap.gateway_saturated else "busy"
            behind = f"  [yellow]behind schedule {snap.lag_s:.1f} s ({why})[/]"
        grid.add_row(
            "rate",
            f"{now} tx/s now · {average:,.1f} avg · requested {opts.rate:g}{behind}",
        )
        out = snap.outcomes
        grid.add_row(
            "gateway",
            f"[green]{out.accepted:,} accepted[/] · {out.rejected:,} rejected · "
            f"{out.failed:,} failed · {snap.skipped:,} not sent · {snap.in_flight} in flight",
        )
        for reason in out.reasons()[:4]:
            grid.add_row(
                "[red]errors[/]",
                f"[red]{reason.status}[/] {escape(reason.error)} ×{reason.count:,}: "
                f"{escape(reason.message)}",
            )
        grid.add_row(
            "latency",
            f"p50 {_ms(snap.latency_now[0])} · p99 {_ms(snap.latency_now[1])} [dim](last 5 s; "
            f"whole run p50 {_ms(snap.latency_all[0])} · p99 {_ms(snap.latency_all[1])})[/]",
        )
        scored = "" if snap.decisions is None else f" · {snap.decisions:,} scored by the job"
        grid.add_row(
            "alerts", f"{snap.alerts_seen:,} seen · {snap.frauds_sent:,} frauds sent{scored}"
        )
        grid.add_row("quality", _quality_text(snap.quality))
        if snap.event_time:
            grid.add_row("event time", f"[dim]{snap.event_time}[/]")
        notes: list[RenderableType] = []
        if snap.gate_reason:
            retry = f" — next try in {snap.gate_retry_in_s:.1f} s" if snap.gate_retry_in_s else ""
            notes.append(Text(f"⚠ {snap.gate_reason}{retry}", style="bold yellow"))
        notes.extend(Text(f"⚠ {w}", style="yellow") for w in snap.warnings)
        title = (
            f"fraudctl simulate · run {self.run_id} · seed {opts.seed} · "
            f"{'single' if opts.batch_size == 1 else f'batch {opts.batch_size}'} · "
            f"{escape(opts.gateway_url)}"
        )
        subtitle = f"{snap.phase} · Ctrl-C stops and prints the summary"
        return Panel(Group(grid, *notes), title=title, subtitle=subtitle, expand=False)

    def line(self, snap: Snapshot) -> str:
        """One line for logs and pipes."""
        q = snap.quality
        rate = "-" if self.rate_now is None else f"{self.rate_now:.1f}"
        return (
            f"[{snap.elapsed_s:6.1f}s] sent {snap.sent} ({rate}/s) accepted "
            f"{snap.outcomes.accepted} rejected {snap.outcomes.rejected} failed "
            f"{snap.outcomes.failed} not-sent {snap.skipped} p50 {_ms(snap.latency_now[0])} "
            f"p99 {_ms(snap.latency_now[1])} alerts {snap.alerts_seen} precision "
            f"{_share(q.precision)} recall {_share(q.recall)}"
            + (f" | {snap.gate_reason}" if snap.gate_reason else "")
        )


def _latency_row(latency: Latency) -> str:
    if latency.samples == 0:
        return "-"
    return (
        f"p50 {_ms(latency.p50_ms)} · p99 {_ms(latency.p99_ms)} · max {_ms(latency.max_ms)}"
        f"  [dim]({latency.samples:,} samples)[/]"
    )


def render_summary(summary: Summary) -> RenderableType:
    """The final summary as a table an operator can read at a glance."""
    s = summary
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_row("stopped by", s.stopped_by)
    accuracy = f"{s.rate_error:+.1%}"
    table.add_row(
        "rate",
        f"{s.achieved_rate:,.1f} tx/s achieved ({accuracy} of the {s.requested_rate:g} requested) "
        f"over {s.elapsed_s:.1f} s",
    )
    table.add_row(
        "sent",
        f"{s.sent:,} · [green]{s.accepted:,} accepted[/] ({s.accepted_rate:,.1f}/s) · "
        f"{s.rejected:,} rejected · {s.failed:,} failed · {s.not_sent:,} not sent",
    )
    if s.behind:
        table.add_row(
            "[yellow]behind[/]",
            f"[yellow]{s.behind:,} scheduled transactions not sent: the run fell behind "
            "its schedule (see the notes below for why)[/]",
        )
    statuses = " · ".join(f"{status}: {n:,}" for status, n in s.by_status.items()) or "-"
    table.add_row("by status", statuses)
    for error in s.errors[:8]:
        table.add_row(
            "[red]error[/]",
            f"[red]{error['status']}[/] {escape(str(error['error']))} ×{error['count']:,}: "
            f"{escape(str(error['message']))}",
        )
    table.add_row("gateway latency", _latency_row(s.latency))
    table.add_row("schedule lag", f"max {s.max_lag_ms:,.1f} ms")
    scored = "" if s.scored is None else f" · {s.scored:,} scored by the job"
    table.add_row("alerts", f"{s.alerts_seen:,} for this run{scored}")
    table.add_row("alert latency", _latency_row(s.alert_latency))
    q = s.quality
    table.add_row(
        "quality",
        f"precision {_share(q.precision)} · recall {_share(q.recall)}  "
        f"[dim](tp {q.true_positives} · fp {q.false_positives} · fn {q.false_negatives}; "
        f"{s.frauds_injected:,} frauds injected)[/]",
    )
    for pattern, row in s.by_pattern.items():
        table.add_row(
            f"  {pattern}",
            f"{row['alerted']:,} of {row['injected']:,} alerted (recall {_share(row['recall'])})",
        )
    table.add_row("labels", f"{s.labels_recorded:,} posted to topic {escape(s.labels_key)}")
    first, last = s.event_time["first"], s.event_time["last"]
    if first:
        table.add_row("event time", f"{first} → {last}")
    notes = [Text(f"⚠ {note}", style="yellow") for note in s.notes]
    title = f"simulate summary · run {s.run_id} · seed {s.seed} · {s.mode}"
    return Panel(Group(table, *notes), title=title, expand=False)


def render_demo_alert(result: DemoResult) -> RenderableType:
    """The demo's alert: what was flagged, why, and how fast."""
    alert = result.alert
    assert alert is not None
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_row("transaction", escape(alert.transaction_id))
    table.add_row("user", escape(alert.user_id))
    card = f" · card …{escape(alert.card_last4)}" if alert.card_last4 else ""
    table.add_row(
        "amount",
        f"{alert.amount:,.2f} {escape(alert.currency)} at {escape(alert.merchant_id)}, "
        f"{escape(alert.location)}{card}",
    )
    threshold = f" (threshold {alert.threshold:.3f})" if alert.threshold is not None else ""
    table.add_row("score", f"{alert.score:.3f}{threshold}")
    for reason in alert.reasons or ():
        table.add_row("reason", f"[bold]{escape(reason.code)}[/]: {escape(reason.message)}")
    if not alert.reasons:
        table.add_row("reason", "[dim](the job gave no reason)[/]")
    table.add_row(
        "latency",
        f"{_ms(None if alert.latency_ms is None else float(alert.latency_ms))} gateway → alert"
        f"  [dim](seen here {_ms(result.seen_after_ms)} after sending)[/]",
    )
    if alert.model_version:
        table.add_row("model", escape(alert.model_version))
    notes = [
        Text(f"⚠ unexpected alert for {a.transaction_id} (the normal transaction)", style="yellow")
        for a in result.unexpected
    ]
    return Panel(Group(table, *notes), title="[bold red]FRAUD ALERT[/]", expand=False)
