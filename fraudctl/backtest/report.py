"""How a backtest result is shown: rich tables for people, a PNG for slides.

Everything that came from the file (ids, reasons) is printed as plain text, never as
markup, so a crafted value cannot restyle or fake the report.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fraudctl.backtest.dataset import format_ms
from fraudctl.backtest.metrics import Metrics, Scored
from fraudctl.backtest.runner import BacktestResult


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(result: BacktestResult) -> Table:
    m = result.metrics
    table = Table(title=f"Backtest {result.tag}: test period from {format_ms(result.test_from_ms)}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    rows = [
        ("roc_auc", _fmt(m.roc_auc), "ranking quality of the job's score (0.5 = chance)"),
        ("average_precision", _fmt(m.average_precision), "area under the precision-recall curve"),
        ("precision", _fmt(m.precision), "share of alerts that were fraud"),
        ("recall", _fmt(m.recall), "share of frauds that were alerted"),
        (
            f"card_precision_at_{m.k}",
            _fmt(m.card_precision_at_k),
            f"daily: share of the {m.k} riskiest cards with a fraud (mean over days)",
        ),
        (
            "iforest average_precision",
            _fmt(m.iforest_average_precision),
            f"IsolationForest score alone, same run ({m.iforest_scored:,} scored)",
        ),
        ("transactions", f"{m.transactions:,}", "test transactions with a decision"),
        ("frauds", f"{m.frauds:,}", "labelled fraud in the file"),
        ("alerts", f"{m.alerts:,}", f"{m.true_alerts:,} of them fraud"),
    ]
    for name, value, meaning in rows:
        table.add_row(name, value, meaning)
    return table


def daily_table(metrics: Metrics) -> Table:
    table = Table(title="Per day (UTC)")
    for name in ("day", "transactions", "frauds", "alerts", "true alerts", "cards"):
        table.add_column(name, justify="right" if name != "day" else "left")
    table.add_column(f"card P@{metrics.k}", justify="right")
    for day in metrics.days:
        table.add_row(
            day.day,
            f"{day.transactions:,}",
            f"{day.frauds:,}",
            f"{day.alerts:,}",
            f"{day.true_alerts:,}",
            f"{day.cards:,}",
            _fmt(day.card_precision_at_k),
        )
    return table


def pattern_table(metrics: Metrics) -> Table:
    table = Table(title="Recall per fraud pattern")
    table.add_column("pattern")
    table.add_column("frauds", justify="right")
    table.add_column("alerted", justify="right")
    table.add_column("recall", justify="right")
    for name, row in metrics.recall_by_pattern.items():
        table.add_row(
            Text(name), f"{row['frauds']:,}", f"{row['caught']:,}", _fmt(float(row["recall"]))
        )
    return table


def run_lines(result: BacktestResult) -> Text:
    """Replay facts: rows, bad rows with reasons, labels, retrains, notes."""
    stats = result.replay
    text = Text()
    text.append(
        f"file rows {result.rows_in_file:,}; replayed {len(stats.accepted):,} in "
        f"{stats.seconds:.1f} s; undecided test rows {result.undecided:,}\n"
    )
    bad = result.bad
    if bad["count"]:
        text.append(f"bad rows {bad['count']:,} (not replayed):\n", style="yellow")
        for reason, count in list(bad["reasons"].items())[:8]:
            text.append(f"  {count:,} × {reason}\n")
        for example in bad["examples"]:
            text.append(f"  e.g. {example['row']}: {example['reason']}\n", style="dim")
    for reason, count in stats.failed.items():
        text.append(f"not stored {count:,}: {reason}\n", style="red")
    labels = result.labels
    text.append(f"labels posted {labels.get('sent', 0):,}")
    for kind in ("refused", "failed"):
        for reason, count in (labels.get(kind) or {}).items():
            text.append(f"; {kind} {count:,}: {reason}", style="yellow")
    text.append("\n")
    for event in stats.retrains:
        got = event.version or "no new model"
        text.append(f"retrain at {format_ms(event.at_event_ms)}: {got} ({event.detail}, ")
        text.append(f"{event.seconds:.0f} s)\n")
    if result.metrics.model_versions:
        versions = ", ".join(f"{v} ×{n:,}" for v, n in result.metrics.model_versions.items())
        text.append(f"model versions in the test period: {versions}\n")
    for note in result.notes:
        text.append(f"note: {note}\n", style="dim")
    return text


def render(result: BacktestResult) -> RenderableType:
    parts: list[RenderableType] = [summary_table(result), daily_table(result.metrics)]
    if result.metrics.recall_by_pattern:
        parts.append(pattern_table(result.metrics))
    parts.append(run_lines(result))
    return Group(*parts)


def write_plot(path: Path, scored: list[Scored], metrics: Metrics) -> None:
    """Precision-recall curves (the job's score and the IsolationForest's) and daily alerts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [int(row.fraud) for row in scored]
    if len(set(labels)) == 2:
        precision, recall, _ = precision_recall_curve(labels, [row.score for row in scored])
        left.plot(recall, precision, label=f"job score (AP {_fmt(metrics.average_precision)})")
        anomaly = [row for row in scored if row.anomaly_score is not None]
        if anomaly and len({row.fraud for row in anomaly}) == 2:
            precision, recall, _ = precision_recall_curve(
                [int(row.fraud) for row in anomaly],
                [float(row.anomaly_score or 0.0) for row in anomaly],
            )
            left.plot(
                recall,
                precision,
                linestyle="--",
                label=f"IsolationForest (AP {_fmt(metrics.iforest_average_precision)})",
            )
        if metrics.precision is not None and metrics.recall is not None:
            left.scatter([metrics.recall], [metrics.precision], color="red", zorder=3)
            left.annotate("alert threshold", (metrics.recall, metrics.precision))
        left.legend(loc="upper right")
    left.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1))
    left.set_ylim(0, 1.05)
    days = [day.day for day in metrics.days]
    right.bar(days, [day.alerts for day in metrics.days], label="alerts")
    right.bar(days, [day.true_alerts for day in metrics.days], label="of which fraud")
    right.set(title="Alerts per day", ylabel="alerts")
    right.tick_params(axis="x", labelrotation=60, labelsize=7)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
