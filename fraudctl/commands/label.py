"""`fraudctl label TXN fraud|legit`: post one label through the gateway's POST /labels.

Without --user/--merchant the transaction is looked up in the decision log (newest first,
bounded) for its user, merchant and card, so the job can credit the label; when it is not
found the label is still posted, and the command says it is unresolved.
"""

from __future__ import annotations

import time
from typing import Annotated

import redis
import typer
from rich.markup import escape

from foundation.redis_client import sync_client
from foundation.settings import Settings, gateway_auth_headers
from fraudctl.alerts.labels import LabelStore
from fraudctl.commands.common import JsonOpt, console, err_console, settings_of
from fraudctl.decision_lookup import DecisionLogUnavailable, Found, find_decision
from fraudctl.labels_client import LabelClient, LabelPostError
from fraudctl.output import ExitCode, print_json
from models.contracts.label import LABEL_SOURCES, LABEL_VALUES, InvalidLabel, Label


def register(app: typer.Typer) -> None:
    app.command("label")(label_command)


def _fail(message: str, code: ExitCode) -> typer.Exit:
    err_console.print("[bold red]error:[/]", escape(message), highlight=False)
    return typer.Exit(code)


def label_command(
    ctx: typer.Context,
    transaction_id: Annotated[str, typer.Argument(help="The transaction's id.")],
    verdict: Annotated[str, typer.Argument(help="fraud or legit.", metavar="fraud|legit")],
    source: Annotated[
        str, typer.Option(help=f"Who says so: {', '.join(LABEL_SOURCES)}.")
    ] = "analyst",
    user: Annotated[str | None, typer.Option(help="The transaction's user id.")] = None,
    merchant: Annotated[str | None, typer.Option(help="The transaction's merchant id.")] = None,
    card_fingerprint: Annotated[
        str | None, typer.Option(help="The card fingerprint (from the decision log).")
    ] = None,
    search: Annotated[
        int,
        typer.Option(min=0, help="Decision-log records to search for user/merchant (0: none)."),
    ] = 200_000,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway base URL. Default: the configured gateway.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Label a transaction fraud or legit; the job learns merchant and card risk from it."""
    settings = settings_of(ctx)
    if verdict not in LABEL_VALUES:
        raise _fail(f"label {verdict!r} is not known: use fraud or legit", ExitCode.USAGE)
    note = ""
    found: Found | None = None
    if (user is None or merchant is None) and search > 0:
        try:
            found = find_decision(settings, transaction_id, max_records=search)
        except DecisionLogUnavailable as exc:
            note = f"decision log not searched ({exc})"
        if found is None and not note:
            note = f"{transaction_id} not found in the newest {search:,} decisions"
    try:
        label = Label(
            transaction_id=transaction_id,
            label=verdict,  # type: ignore[arg-type]  # checked against LABEL_VALUES above
            source=source,  # type: ignore[arg-type]  # checked by Label
            labelled_at=time.time_ns() // 1_000_000,
            user_id=user or (found.user_id if found else None),
            merchant_id=merchant or (found.merchant_id if found else None),
            card_fingerprint=card_fingerprint or (found.card_fingerprint if found else None),
        )
    except InvalidLabel as exc:
        raise _fail(f"invalid label: {exc}", ExitCode.USAGE) from None
    with LabelClient(
        gateway or settings.gateway.url, auth_headers=gateway_auth_headers(settings)
    ) as client:
        try:
            posted = client.post([label])
        except LabelPostError as exc:
            raise _fail(exc.message, ExitCode.FAILED) from None
    mirrored = _mirror(settings, label)
    unresolved = posted.unresolved > 0
    if json_out:
        print_json(
            {
                "label": label.to_record(),
                "unresolved": unresolved,
                "note": note,
                "mirrored": mirrored,
            }
        )
        return
    who = f"user {label.user_id or '?'}, merchant {label.merchant_id or '?'}"
    console.print(
        f"[green]✓[/] {escape(transaction_id)} labelled [bold]{label.label}[/] "
        f"({escape(label.source)}; {escape(who)})",
        highlight=False,
    )
    if unresolved:
        err_console.print(
            f"[yellow]unresolved:[/] {escape(note or 'no user/merchant given')}; the label is "
            "stored, but the job cannot credit it to a merchant or card (pass --user and "
            "--merchant)",
            highlight=False,
        )


def _mirror(settings: Settings, label: Label) -> bool:
    """Best effort: show the label in the console too (the label is already stored)."""
    client = sync_client(
        settings.redis,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
    )
    try:
        LabelStore(client, settings.redis.labels_key).record([label])
        return True
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()
