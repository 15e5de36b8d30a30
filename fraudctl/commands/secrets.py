"""`fraudctl secrets show | rotate`: the stack's generated secrets (see docs/security.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from foundation.secrets import (
    BY_NAME,
    SPECS,
    SecretsError,
    ensure_secrets,
    rotate_secret,
    secrets_path,
)
from fraudctl.commands.common import JsonOpt, console, err_console, settings_of
from fraudctl.output import ExitCode, print_json

secrets_app = typer.Typer(
    help="The stack's generated secrets (card key, API key, dashboard token, Redis password).",
    no_args_is_help=True,
)
NAMES = ", ".join(BY_NAME)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


def _check_name(name: str | None) -> None:
    if name is not None and name not in BY_NAME:
        err_console.print(f"[red]error:[/] there is no secret {escape(name)!r}; choose: {NAMES}")
        raise typer.Exit(ExitCode.USAGE)


def _fail(exc: SecretsError) -> typer.Exit:
    err_console.print("[red]error:[/]", end=" ")
    err_console.print(str(exc), markup=False, highlight=False)
    return typer.Exit(ExitCode.FAILED)


@secrets_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help=f"One of: {NAMES}.")] = None,
    path: Annotated[
        bool, typer.Option("--path", help="Print only where the secrets file is.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the secrets `up` generated (or where they are, with --path)."""
    _check_name(name)
    settings = settings_of(ctx)
    file = secrets_path(settings.state_dir)
    if path:
        print_json({"path": str(file)}) if as_json else console.print(str(file), markup=False)
        return
    values = {
        spec.name: getattr(getattr(settings, spec.section), spec.field).get_secret_value()
        for spec in SPECS
        if name in (None, spec.name)
    }
    if not any(values.values()):
        err_console.print(
            f"no secrets yet in {escape(str(file))}: `fraudctl up` generates them on first start"
        )
        raise typer.Exit(ExitCode.FAILED)
    if as_json:
        print_json(values)
        return
    if name is not None:
        console.print(values[name], markup=False, highlight=False)
        return
    for key, value in values.items():
        console.print(f"{key}={value}", markup=False, highlight=False)
    token = values.get("dashboard_token")
    if token:
        console.print(f"dashboard: {settings.dashboard.url}/?token={token}", markup=False)


@secrets_app.command("rotate")
def rotate(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help=f"One of: {NAMES} (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a secret with a new random value, and say what that means.

    Rotating the card secret changes every card fingerprint from then on: per-user card
    features and labels keyed by fingerprint start again from nothing.
    """
    _check_name(name)
    settings = settings_of(ctx)
    try:
        ensure_secrets(settings.state_dir)
        names = [name] if name is not None else list(BY_NAME)
        for each in names:
            rotate_secret(settings.state_dir, each)
    except SecretsError as exc:
        raise _fail(exc) from None
    explicit = [
        BY_NAME[each].env
        for each in names
        if (BY_NAME[each].section, BY_NAME[each].field) not in settings.secrets_from_file()
        and getattr(
            getattr(settings, BY_NAME[each].section), BY_NAME[each].field
        ).get_secret_value()
    ]
    if as_json:
        print_json(
            {
                "rotated": names,
                "path": str(secrets_path(settings.state_dir)),
                "overridden_by_environment": explicit,
            }
        )
        return
    for each in names:
        console.print(f"rotated {each}: {BY_NAME[each].rotation}", markup=False)
    for env in explicit:
        err_console.print(
            f"warning: {env} is set in the environment and wins over the file: change it too",
            markup=False,
        )
