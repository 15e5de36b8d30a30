"""What every command shares: the settings chosen by global flags, the --json option, and
error reporting. JSON output itself goes through `fraudctl.output.print_json`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from foundation.settings import Settings, settings_with
from fraudctl.output import ExitCode

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (sorted keys, one line).")
]


def build_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from env + flags; a bad value exits 2 with the variable or flag to fix."""
    try:
        return settings_with(overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            dotted = ".".join(str(part) for part in error["loc"])
            env = "FRAUDCTL_" + "__".join(str(p).upper() for p in error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "not a setting (misspelt, or removed: see the operator guide)"
            lines.append(f"  {dotted} (env {env}): {message}")
        err_console.print("[red]error:[/] invalid configuration:")
        err_console.print("\n".join(lines), markup=False, highlight=False)
        raise typer.Exit(ExitCode.USAGE) from None


def settings_of(ctx: typer.Context) -> Settings:
    """The settings object the global callback stored on the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = build_settings({})
    return root.obj


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the library's operator-facing errors into a red message and exit code 1."""
    from fraudctl.stack.errors import StackError

    try:
        yield
    except StackError as exc:
        err_console.print("[bold red]error:[/]", end=" ")
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(ExitCode.FAILED) from None
