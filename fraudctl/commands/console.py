"""`fraudctl console`: open the live alert console (Textual) in this terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fraudctl.commands.common import err_console, settings_of


def register(app: typer.Typer) -> None:
    app.command("console")(console_command)


def console_command(
    ctx: typer.Context,
    backfill: Annotated[
        int,
        typer.Option(min=0, max=10_000, help="How many recent alerts to load on start."),
    ] = 200,
) -> None:
    """Live fraud alerts: table, details, pipeline health, labelling. Press ? for keys."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        err_console.print(
            "[red]error:[/] fraudctl console needs an interactive terminal; "
            "run it from a terminal (for scripts, read the stream with `fraudctl alerts`)."
        )
        raise typer.Exit(2)
    from fraudctl.console import run_console

    run_console(settings_of(ctx), backfill=backfill)
