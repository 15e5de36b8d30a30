"""`fraudctl train`: a thin verb over models.training.train, printing the evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fraudctl.commands.common import console, err_console, settings_of


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    ctx: typer.Context,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Where to write the model (default: the model.artifacts_dir setting)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training population.")] = 7,
    eval_seed: Annotated[int, typer.Option(help="Seed of the held-out evaluation data.")] = 1007,
    users: Annotated[int, typer.Option(min=10, help="Cardholders in the training data.")] = 2000,
    days: Annotated[float, typer.Option(min=0.5, help="Days of training traffic.")] = 14.0,
    eval_users: Annotated[int, typer.Option(min=10, help="Cardholders held out.")] = 3000,
    eval_days: Annotated[float, typer.Option(min=0.5, help="Days of held-out traffic.")] = 14.0,
    fraud_ratio: Annotated[
        float, typer.Option(min=0.0005, max=0.5, help="Share of fraudulent transactions.")
    ] = 0.02,
    trees: Annotated[int, typer.Option(min=1, max=1000, help="Isolation Forest trees.")] = 100,
    max_samples: Annotated[int, typer.Option(min=16, help="Samples per tree.")] = 2048,
    target_precision: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Precision the threshold aims for.")
    ] = 0.85,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model card as JSON.")] = False,
) -> None:
    """Generate labelled traffic, train the Isolation Forest and evaluate it on held-out data."""
    from models.training import TrainingConfig, train  # sklearn loads only for this verb

    directory = output_dir or settings_of(ctx).model.artifacts_dir
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
        )
    except ValueError as error:
        err_console.print(f"[red]error:[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    if not as_json:
        console.print(f"training on {users} users x {days:g} days (seed {seed}) ...")
    try:
        card = train(config)
    except ValueError as error:
        err_console.print(f"[red]error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(card.to_dict()))
        return
    console.print(evaluation_table(card.evaluation, card.validation))
    console.print(
        f"model [bold]{card.model_version}[/]  threshold {card.threshold:.4f}  "
        f"trained in {card.training_seconds:.1f} s"
    )
    console.print(f"written to {directory}", soft_wrap=True, highlight=False)


def evaluation_table(evaluation: dict[str, Any], validation: dict[str, Any]) -> Table:
    """Held-out metrics next to the validation split the threshold was chosen on."""
    table = Table(title="Detection quality (threshold chosen on validation users)")
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
            f"recall {pattern}",
            f"{recall:.3f} (n={count})",
            "-" if check is None else f"{check:.3f}",
        )
    return table
