"""`fraudctl rules add|list|show|enable|disable|remove|test`: operator rules as data.

Rules are stored on the compacted topic `fraud-rules` (fraudctl/rules/store.py); the
running job reads every change within about a second, without a restart. `test` is a dry
run on a data file or the decision log and stores nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fraudctl.commands.common import JsonOpt, console, err_console, settings_of
from fraudctl.output import ExitCode, print_json
from fraudctl.rules.dryrun import (
    DecisionLogError,
    DryRun,
    dry_run_file,
    dry_run_log,
    read_decision_log,
)
from fraudctl.rules.files import RuleFileError, decode_rules, read_rules, read_transactions
from fraudctl.rules.store import RuleStore, RuleStoreError, StoredRules, UnknownRule
from models.contracts.rule import Rule
from models.rules_engine import describe

app = typer.Typer(
    name="rules",
    help="Rules the job applies beside the model; changes take effect while it runs.",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(help="The rule's id.", show_default=False)]


def register(root: typer.Typer) -> None:
    root.add_typer(app)


def _fail(message: str, code: ExitCode) -> typer.Exit:
    err_console.print("[bold red]error:[/]", escape(message), highlight=False)
    return typer.Exit(code)


def _store(ctx: typer.Context) -> RuleStore:
    return RuleStore(settings_of(ctx).kafka)


def _read(store: RuleStore) -> StoredRules:
    try:
        stored = store.read()
    except RuleStoreError as error:
        raise _fail(str(error), ExitCode.FAILED) from None
    for offset, why in stored.bad:
        err_console.print(
            f"[yellow]warning:[/] record at offset {offset} of {escape(store.topic)} is not a "
            f"rule and is ignored: {escape(why)}",
            highlight=False,
        )
    return stored


def _load(file: Path | None, inline: str | None) -> list[Rule]:
    if (file is None) == (inline is None):
        raise _fail("give a rule FILE or --inline JSON (one of them)", ExitCode.USAGE)
    try:
        if inline is not None:
            return decode_rules(inline, "--inline")
        assert file is not None
        return read_rules(file)
    except RuleFileError as error:
        raise _fail(f"invalid rule, nothing stored:\n{error}", ExitCode.USAGE) from None


@app.command("add")
def add_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A .json/.yaml file: one rule or a list.")
    ] = None,
    inline: Annotated[str | None, typer.Option("--inline", help="The rule as JSON.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add rules, or change them (same id): each change gets the next version."""
    rules = _load(file, inline)
    store = _store(ctx)
    stored = _read(store)
    saved: list[tuple[Rule, bool]] = []
    try:
        for rule in rules:
            existed = rule.id in stored.rules
            saved.append((store.put(rule, stored), existed))
    except RuleStoreError as error:
        raise _fail(str(error), ExitCode.FAILED) from None
    if json_out:
        print_json({"stored": [rule.to_record() for rule, _ in saved]})
        return
    for rule, existed in saved:
        verb = "changed" if existed else "added"
        state = "" if rule.enabled else " [yellow](disabled)[/]"
        console.print(
            f"[green]✓[/] rule [bold]{escape(rule.id)}[/] {verb}, version {rule.version}"
            f"{state}: {escape(describe(rule))}",
            highlight=False,
        )


@app.command("list")
def list_command(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every stored rule (enabled and disabled)."""
    stored = _read(_store(ctx))
    rules = sorted(stored.rules.values(), key=lambda rule: rule.id)
    if json_out:
        print_json({"rules": [rule.to_record() for rule in rules]})
        return
    if not rules:
        console.print("no rules stored: add one with `fraudctl rules add FILE`")
        return
    table = Table(title="Rules")
    for name in ("id", "on", "version", "action", "rule"):
        table.add_column(name)
    for rule in rules:
        table.add_row(
            escape(rule.id),
            "[green]yes[/]" if rule.enabled else "[yellow]no[/]",
            str(rule.version),
            rule.action.type + (f" {rule.action.severity}" if rule.action.severity else ""),
            escape(describe(rule).rsplit(" -> ", 1)[0]),
        )
    console.print(table)


@app.command("show")
def show_command(ctx: typer.Context, rule_id: IdArg, json_out: JsonOpt = False) -> None:
    """One rule as stored."""
    try:
        rule = _read(_store(ctx)).get(rule_id)
    except UnknownRule as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    if json_out:
        print_json(rule.to_record())
        return
    console.print(f"[bold]{escape(rule.id)}[/] version {rule.version}", highlight=False)
    if rule.description:
        console.print(escape(rule.description), highlight=False)
    console.print(escape(describe(rule)), highlight=False)
    console.print_json(Rule.to_json(rule).decode())


def _toggle(ctx: typer.Context, rule_id: str, enabled: bool, json_out: bool) -> None:
    try:
        rule, changed = _store(ctx).set_enabled(rule_id, enabled)
    except UnknownRule as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except RuleStoreError as error:
        raise _fail(str(error), ExitCode.FAILED) from None
    if json_out:
        print_json({"rule": rule.to_record(), "changed": changed})
        return
    word = "enabled" if enabled else "disabled"
    note = f"version {rule.version}" if changed else "already " + word
    console.print(f"[green]✓[/] rule {escape(rule_id)} {word} ({note})", highlight=False)


@app.command("enable")
def enable_command(ctx: typer.Context, rule_id: IdArg, json_out: JsonOpt = False) -> None:
    """Apply a disabled rule again."""
    _toggle(ctx, rule_id, True, json_out)


@app.command("disable")
def disable_command(ctx: typer.Context, rule_id: IdArg, json_out: JsonOpt = False) -> None:
    """Stop applying a rule, keeping it stored."""
    _toggle(ctx, rule_id, False, json_out)


@app.command("remove")
def remove_command(ctx: typer.Context, rule_id: IdArg, json_out: JsonOpt = False) -> None:
    """Remove a rule (a tombstone on the compacted topic)."""
    try:
        marker = _store(ctx).remove(rule_id)
    except UnknownRule as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except RuleStoreError as error:
        raise _fail(str(error), ExitCode.FAILED) from None
    if json_out:
        print_json({"removed": marker.to_record()})
        return
    console.print(f"[green]✓[/] rule {escape(rule_id)} removed", highlight=False)


@app.command("test")
def test_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The rule file to try (nothing is stored).")],
    on: Annotated[
        str,
        typer.Option(
            "--on",
            help="A CSV/JSON Lines file of transactions, or 'log' for the recent decision log.",
        ),
    ],
    limit: Annotated[
        int, typer.Option(min=1, help="With --on log: the newest decisions to read.")
    ] = 100_000,
    show: Annotated[int, typer.Option(min=0, help="Hits to list (JSON: up to 1000).")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Dry run: what the rules in FILE would have flagged on DATA."""
    try:
        rules = read_rules(file)
    except RuleFileError as error:
        raise _fail(f"invalid rule:\n{error}", ExitCode.USAGE) from None
    if on == "log":
        settings = settings_of(ctx)
        try:
            decisions = read_decision_log(settings, limit)
        except DecisionLogError as error:
            raise _fail(str(error), ExitCode.FAILED) from None
        report = dry_run_log(rules, decisions, f"{settings.kafka.scores_topic} (newest {limit:,})")
    else:
        try:
            report = dry_run_file(rules, read_transactions(Path(on)))
        except RuleFileError as error:
            raise _fail(str(error), ExitCode.USAGE) from None
    if json_out:
        print_json(report.to_dict())
        return
    _print_report(report, show)


def _print_report(report: DryRun, show: int) -> None:
    console.print(
        f"{report.transactions:,} transactions from {escape(report.source)}: "
        f"[bold]{report.hits:,}[/] rule hits, {report.alerts:,} would alert"
        + (f" ({report.new_alerts:,} the model did not flag)" if report.new_alerts else ""),
        highlight=False,
    )
    for rule_id, count in report.per_rule.items():
        console.print(f"  {escape(rule_id)}: {count:,}", highlight=False)
    if report.shown and show:
        table = Table(title=f"First {min(show, len(report.shown))} hits")
        for name in ("time", "transaction", "user", "amount", "merchant", "rule", "why"):
            table.add_column(name)
        for hit in report.shown[:show]:
            table.add_row(
                escape(hit.timestamp),
                escape(hit.transaction_id),
                escape(hit.user_id),
                f"{hit.amount:,.2f} {escape(hit.currency)}",
                escape(hit.merchant_id),
                escape(hit.rule_id),
                escape(hit.message),
            )
        console.print(table)
    for reason, count in report.bad_rows.items():
        err_console.print(f"[yellow]skipped {count} row(s):[/] {escape(reason)}", highlight=False)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
