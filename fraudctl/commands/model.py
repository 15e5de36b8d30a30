"""`fraudctl model list|use VERSION`: the versions in the model registry and which is current.

`use` only moves the `current` pointer; the running scoring job notices within seconds
and switches without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fraudctl.commands.common import console, err_console, settings_of
from models.registry import ModelRegistry, NoModel

app = typer.Typer(
    name="model",
    help="List the trained model versions and choose the one the job scores with.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path | None,
    typer.Option(help="Model registry directory (default: the model.artifacts_dir setting)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _registry(ctx: typer.Context, directory: Path | None) -> ModelRegistry:
    return ModelRegistry(directory or settings_of(ctx).model.artifacts_dir)


@app.command("list")
def list_command(ctx: typer.Context, output_dir: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Every stored version, oldest first; the current one is marked."""
    registry = _registry(ctx, output_dir)
    versions = registry.list()
    if as_json:
        console.print_json(json.dumps([info.to_dict() for info in versions]))
        return
    if not versions:
        console.print(f"no model versions in {escape(str(registry.root))}: run `fraudctl train`")
        return
    table = Table(title=f"Models in {escape(str(registry.root))}")
    for name in ("", "version", "kind", "created", "AP", "precision", "recall", "problem"):
        table.add_column(name)
    for info in versions:
        metrics = info.metrics
        table.add_row(
            "*" if info.current else "",
            escape(info.version),
            info.kind,
            escape(info.created_at),
            _number(metrics.get("average_precision", metrics.get("pr_auc"))),
            _number(metrics.get("precision")),
            _number(metrics.get("recall")),
            escape(info.problem or ""),
        )
    console.print(table)


@app.command("use")
def use_command(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="A version from `fraudctl model list`.")],
    output_dir: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make VERSION current; the running job hot-reloads it."""
    registry = _registry(ctx, output_dir)
    try:
        registry.use(version)
    except NoModel as error:
        err_console.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps({"current": version}))
        return
    console.print(f"current model: [bold]{escape(version)}[/]")


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"
