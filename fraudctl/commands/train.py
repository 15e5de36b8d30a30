"""`fraudctl train`: generated data (default), a labelled file (`--data`), or the decision
log joined with the labels that have arrived (`--from-log`). Every run publishes a new
model version and makes it current (the running job hot-reloads it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from fraudctl.commands.common import console, err_console, settings_of

if TYPE_CHECKING:
    from models.training import ModelCard

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def parse_duration_ms(text: str) -> int:
    """`7d`, `12h`, `30m`, `0` to milliseconds (a bare number is days)."""
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration: use e.g. 7d, 12h, 30m or 0")
    return int(float(match.group(1)) * _UNIT_MS[match.group(2) or "d"])


def train_command(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(help="Labelled CSV/Parquet file to learn from instead of generated data."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(help="Map a column: NAME=SOURCE (e.g. amount=TX_AMOUNT). Repeatable."),
    ] = None,
    from_log: Annotated[
        bool,
        typer.Option(
            "--from-log", help="Learn from the decision log joined with the labels in Kafka."
        ),
    ] = False,
    label_delay: Annotated[
        str, typer.Option(help="How late labels arrive after the transaction (e.g. 7d, 12h).")
    ] = "7d",
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Model registry directory (default: the model.artifacts_dir setting)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training population.")] = 7,
    eval_seed: Annotated[int, typer.Option(help="Seed of the held-out evaluation data.")] = 1007,
    users: Annotated[int, typer.Option(min=10, help="Cardholders in the training data.")] = 2000,
    days: Annotated[float, typer.Option(min=0.5, help="Days of forest training traffic.")] = 14.0,
    supervised_days: Annotated[
        float, typer.Option(min=1.0, help="Days of traffic the classifier learns from.")
    ] = 28.0,
    eval_users: Annotated[int, typer.Option(min=10, help="Cardholders held out.")] = 3000,
    eval_days: Annotated[float, typer.Option(min=0.5, help="Days of held-out traffic.")] = 14.0,
    fraud_ratio: Annotated[
        float, typer.Option(min=0.0005, max=0.5, help="Share of fraudulent transactions.")
    ] = 0.02,
    supervised: Annotated[
        bool, typer.Option(help="Also train the classifier on labels (generated data).")
    ] = True,
    trees: Annotated[int, typer.Option(min=1, max=1000, help="Isolation Forest trees.")] = 100,
    max_samples: Annotated[int, typer.Option(min=16, help="Samples per tree.")] = 2048,
    target_precision: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Precision the thresholds aim for.")
    ] = 0.85,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model card as JSON.")] = False,
) -> None:
    """Train the detector, evaluate it on held-out data and publish it as the current model."""
    settings = settings_of(ctx)
    directory = output_dir or settings.model.artifacts_dir
    if data is not None and from_log:
        _fail("use either --data FILE or --from-log, not both", 2)
    delay_ms = parse_duration_ms(label_delay)

    def say(text: str) -> None:
        if not as_json:
            console.print(text, highlight=False)

    extra: dict[str, Any] = {}
    try:
        if data is not None:
            card, extra = _train_on_file(
                data, column or [], delay_ms, directory, target_precision, say
            )
        elif from_log:
            from fraudctl.log_training import train_from_log

            card, extra = train_from_log(
                settings, delay_ms, directory, target_precision, lambda text: say(escape(text))
            )
        else:
            from models.training import TrainingConfig, train  # sklearn loads only for this verb

            try:
                config = TrainingConfig(
                    output_dir=directory,
                    train_seed=seed,
                    eval_seed=eval_seed,
                    users=users,
                    days=days,
                    eval_users=eval_users,
                    eval_days=eval_days,
                    fraud_ratio=fraud_ratio,
                    n_estimators=trees,
                    max_samples=max_samples,
                    target_precision=target_precision,
                    supervised=supervised,
                    supervised_days=supervised_days,
                    label_delay_days=delay_ms / 86_400_000,
                )
            except ValueError as error:  # contradictory options
                _fail(str(error), 2)
            span = max(days, supervised_days) if supervised else days
            say(f"training on {users} users x {span:g} days (seed {seed}) ...")
            card = train(config)
    except (ValueError, LookupError) as error:  # bad data, no model: nothing published
        _fail(str(error), 1)
    if as_json:
        console.print_json(json.dumps({**card.to_dict(), **extra}))
        return
    _print_card(card, directory)


def _train_on_file(
    path: Path,
    columns: list[str],
    delay_ms: int,
    directory: Path,
    target_precision: float,
    say: Callable[[str], None],
) -> tuple[ModelCard, dict[str, Any]]:
    from models.labelled_file import parse_column_map, read_labelled_file
    from models.pipeline import PackageConfig, train_from_records
    from models.supervised import SupervisedConfig

    loaded = read_labelled_file(path, parse_column_map(columns))
    say(f"read {loaded.rows_total:,} rows from {escape(str(path))}: {len(loaded.records):,} used")
    for reason, count in loaded.bad_rows.most_common():
        rows = ", ".join(map(str, loaded.examples.get(reason, [])))
        say(f"  [yellow]skipped {count:,} bad rows[/]: {escape(reason)} (e.g. rows {rows})")
    config = PackageConfig(
        output_dir=directory,
        supervised=SupervisedConfig(label_delay_ms=delay_ms, target_precision=target_precision),
    )
    card = train_from_records(loaded.records, config, loaded.summary())
    return card, {"data": loaded.summary()}


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _print_card(card: ModelCard, directory: Path) -> None:
    if card.evaluation:
        console.print(evaluation_table(card.evaluation, card.validation))
    if card.supervised:
        console.print(supervised_table(card.supervised))
    threshold = card.supervised["threshold"] if card.supervised else card.threshold
    console.print(
        f"model [bold]{escape(card.model_version)}[/] (current)  threshold {threshold:.4f}  "
        f"trained in {card.training_seconds:.1f} s"
    )
    console.print(f"written to {escape(str(directory))}", soft_wrap=True, highlight=False)


def supervised_table(report: dict[str, Any]) -> Table:
    """The classifier on the held-out time slice (and the held-out population, if any)."""
    table = Table(title="Supervised model (threshold chosen on the validation time slice)")
    table.add_column("metric")
    columns = [name for name in ("test", "evaluation", "validation") if report.get(name)]
    for name in columns:
        table.add_column({"test": "test slice", "evaluation": "held-out"}.get(name, name))
    for key in ("average_precision", "roc_auc", "precision", "recall", "frauds", "flagged"):
        values = [report[name].get(key) for name in columns]
        table.add_row(key, *[_cell(value) for value in values])
    patterns = sorted({p for name in columns for p in report[name]["recall_by_pattern"]})
    for pattern in patterns:
        cells = [report[name]["recall_by_pattern"].get(pattern) for name in columns]
        table.add_row(f"recall {escape(pattern)}", *[_cell(value) for value in cells])
    top = list(report["feature_importances"].items())[:5]
    table.caption = "top features: " + ", ".join(f"{name} {share:.2f}" for name, share in top)
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}"


def evaluation_table(evaluation: dict[str, Any], validation: dict[str, Any]) -> Table:
    """Forest-alone metrics on held-out data next to the validation split."""
    table = Table(title="Isolation Forest alone (threshold chosen on validation data)")
    table.add_column("metric")
    table.add_column("held-out", justify="right")
    table.add_column("validation", justify="right")
    for key in ("precision", "recall", "pr_auc"):
        table.add_row(key, f"{evaluation[key]:.3f}", f"{validation[key]:.3f}")
    for key in ("transactions", "frauds", "flagged", "false_positives"):
        table.add_row(key, f"{evaluation[key]:,}", f"{validation[key]:,}")
    for pattern, recall in evaluation["recall_by_pattern"].items():
        count = evaluation["frauds_by_pattern"][pattern]
        check = validation["recall_by_pattern"].get(pattern)
        table.add_row(
            f"recall {escape(pattern)}",
            f"{recall:.3f} (n={count})",
            "-" if check is None else f"{check:.3f}",
        )
    return table
