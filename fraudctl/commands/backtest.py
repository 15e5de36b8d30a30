"""`fraudctl backtest FILE | --generate`: replay labelled traffic through the running stack
and report how well it detected fraud (see docs/learning.md)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fraudctl.commands.common import console, err_console, settings_of

if TYPE_CHECKING:
    from foundation.settings import Settings
    from fraudctl.backtest.dataset import Dataset
    from fraudctl.backtest.replay import ReplayStats
    from fraudctl.backtest.runner import BacktestOptions, BacktestResult

DEFAULT_USERS = 1000


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_command)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print("[bold red]error:[/]", escape(message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def backtest_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="Labelled CSV or Parquet file (omit with --generate).", dir_okay=False),
    ] = None,
    generate: Annotated[
        bool, typer.Option("--generate", help="Backtest generated traffic instead of a file.")
    ] = False,
    days: Annotated[float, typer.Option(min=0.1, help="--generate: days of traffic.")] = 45.0,
    users: Annotated[int, typer.Option(min=10, help="--generate: cardholders.")] = DEFAULT_USERS,
    seed: Annotated[int, typer.Option(help="--generate: seed.")] = 42,
    fraud_ratio: Annotated[
        float, typer.Option(min=0.0005, max=0.5, help="--generate: share of fraud.")
    ] = 0.02,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="Map a field to a column of the file: NAME=SOURCE."),
    ] = None,
    label_delay: Annotated[
        str, typer.Option(help="Event time until a label arrives, e.g. 7d, 12h, 0.")
    ] = "7d",
    no_labels: Annotated[
        bool, typer.Option("--no-labels", help="Post no labels (IsolationForest-only run).")
    ] = False,
    retrain_every: Annotated[
        str | None,
        typer.Option(help="Retrain from the decision log every this much event time, e.g. 7d."),
    ] = None,
    test_from: Annotated[
        str | None,
        typer.Option(help="Measure from this date (UTC). Default: the file's last 7 days."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Cards per day for card precision@k.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG: precision-recall curve and daily alerts.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Transactions per request.")] = 500,
    lanes: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight.")] = 4,
    keep_ids: Annotated[
        bool,
        typer.Option(
            "--keep-ids",
            help="Send the file's user/merchant ids and cards as they are (default: tagged "
            "per run, so reruns do not share state or labels).",
        ),
    ] = False,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL (default: the stack's).", show_default=False)
    ] = None,
    stall: Annotated[
        float, typer.Option(min=1, help="Give up waiting when no decision came for this long.")
    ] = 60.0,
) -> None:
    """Replay a labelled file through the running stack in event-time order, feed labels
    back with a delay, optionally retrain, and report detection quality."""
    from fraudctl.backtest.dataset import DatasetError, load_dataset, parse_column_map
    from fraudctl.backtest.options import OptionError, parse_date, parse_duration
    from fraudctl.backtest.runner import BacktestOptions

    if (file is None) == (not generate):
        raise _fail("give a FILE or --generate (not both)")
    settings = settings_of(ctx)
    try:
        delay = None if no_labels else parse_duration(label_delay, "--label-delay")
        every = parse_duration(retrain_every, "--retrain-every") if retrain_every else None
        start = parse_date(test_from, "--test-from") if test_from else None
        mapping = parse_column_map(column or [])
    except (OptionError, DatasetError) as exc:
        raise _fail(str(exc)) from None
    if every and delay is None:
        raise _fail("--retrain-every needs labels: drop --no-labels")
    options = BacktestOptions(
        gateway_url=gateway or settings.gateway.url,
        label_delay_ms=delay,
        retrain_every_ms=every or None,
        test_from_ms=start,
        k=k,
        batch_size=batch_size,
        lanes=lanes,
        isolate=not keep_ids,
        drain_stall_s=stall,
    )
    with tempfile.TemporaryDirectory(prefix="fraudctl-backtest-") as scratch:
        if generate:
            from fraudctl.backtest.generated import write_generated

            file = Path(scratch) / "generated.csv"
            err_console.print(f"generating {days:g} days of traffic from {users:,} users ...")
            count = write_generated(
                file, days=days, users=users, seed=seed, fraud_ratio=fraud_ratio
            )
            err_console.print(f"{count:,} transactions generated")
        assert file is not None
        try:
            dataset = load_dataset(file, mapping)
        except DatasetError as exc:
            raise _fail(str(exc)) from None
        result = _run(settings, options, dataset)
    _show(result, as_json, plot)


def _run(settings: Settings, options: BacktestOptions, dataset: Dataset) -> BacktestResult:
    """Replay with a progress bar on stderr (stdout stays clean for --json)."""
    from fraudctl.backtest.retrain import RetrainError
    from fraudctl.backtest.runner import BacktestError, run_backtest

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("decided {task.fields[decided]:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("replaying", total=len(dataset.rows), decided=0)

    def tell(phase: str, stats: ReplayStats | None, decided: int) -> None:
        done = len(stats.accepted) if stats is not None else None
        progress.update(task, description=escape(phase), completed=done, decided=decided)

    try:
        with progress:
            return asyncio.run(run_backtest(settings, options, dataset, progress=tell))
    except (BacktestError, RetrainError) as exc:
        raise _fail(str(exc), 1) from None


def _show(result: BacktestResult, as_json: bool, plot: Path | None) -> None:
    from fraudctl.backtest.report import render, write_plot

    if plot is not None:
        try:
            write_plot(plot, result.scored, result.metrics)
        except OSError as exc:
            raise _fail(f"--plot {plot}: cannot write ({exc})", 1) from None
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        console.print(render(result))
        if plot is not None:
            console.print(f"plot written to {escape(str(plot))}", highlight=False)
