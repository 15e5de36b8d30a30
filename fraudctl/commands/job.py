"""`fraudctl submit`, `fraudctl job status|cancel`, `fraudctl alerts`: thin verbs over
fraudctl.jobs (the scoring job on Flink) and fraudctl.alerts (the Redis alert stream)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from foundation.flink_rest import FlinkJob
from foundation.redis_client import sync_client
from fraudctl.alerts import Alert, AlertStreamReader, StreamEntry
from fraudctl.commands.common import JsonOpt, console, err_console, friendly_errors, settings_of
from fraudctl.jobs import JobStatus, cancel_scoring_job, job_status, submit_job
from fraudctl.output import ExitCode, print_json

job_app = typer.Typer(help="The scoring job on the Flink session cluster.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("alerts")(alerts)
    job_app.command("status")(status)
    job_app.command("cancel")(cancel)
    app.add_typer(job_app, name="job")


def submit(
    ctx: typer.Context,
    fresh: Annotated[
        bool,
        typer.Option(
            "--from-scratch",
            "--fresh",
            help="Start without the previous run's state (users' histories start empty).",
        ),
    ] = False,
    from_savepoint: Annotated[
        Path | None,
        typer.Option(
            "--from-savepoint",
            help="Resume from this savepoint or retained checkpoint (a chk-N directory) "
            "instead of the newest one.",
        ),
    ] = None,
    allow_non_restored_state: Annotated[
        bool,
        typer.Option(
            "--allow-non-restored-state",
            help="Let the restore skip state no operator claims (after a job change).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Submit the scoring job and wait until it runs; refuses a second copy.

    By default it resumes from the newest savepoint or retained checkpoint; a restore that
    fails stops (it never starts with empty state unless --from-scratch says so).
    """
    settings = settings_of(ctx)
    if fresh and from_savepoint is not None:
        err_console.print(
            "--from-scratch and --from-savepoint exclude each other: choose one", markup=False
        )
        raise typer.Exit(ExitCode.USAGE)
    with friendly_errors(), console.status("submitting the scoring job to Flink…"):
        info = submit_job(
            settings,
            fresh=fresh,
            from_savepoint=from_savepoint.expanduser().resolve() if from_savepoint else None,
            allow_non_restored_state=allow_non_restored_state,
        )
    if as_json:
        print_json(_job_dict(info))
        return
    console.print(
        f"[green]running[/] {escape(info.name)}  job id {escape(info.job_id)}", soft_wrap=True
    )
    console.print(f"model {info.model_version}", soft_wrap=True, markup=False)
    if info.restored_from:
        console.print(f"restored state from {info.restored_from}", soft_wrap=True, markup=False)
    url = f"{settings.flink.rest_url}/#/job/running/{info.job_id}/overview"
    console.print(f"Flink UI: {url}", soft_wrap=True, highlight=False, markup=False)


def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """State, restarts, checkpoints and record counts of the scoring job."""
    settings = settings_of(ctx)
    with friendly_errors():
        report = job_status(settings)
    if as_json:
        print_json(report.to_dict())
        return
    console.print(_status_table(report, settings.flink.rest_url))


def cancel(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Cancel the scoring job (its last checkpoint is kept for the next submit)."""
    settings = settings_of(ctx)
    with friendly_errors(), console.status("cancelling…"):
        jobs = cancel_scoring_job(settings)
    if as_json:
        print_json({"cancelled": [_job_dict(job) for job in jobs]})
        return
    for job in jobs:
        console.print(
            f"[yellow]cancelled[/] {escape(job.name)}  job id {escape(job.job_id)}",
            soft_wrap=True,
        )


def alerts(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new alerts until Ctrl-C.")
    ] = False,
    as_json: JsonOpt = False,
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, max=100_000, help="How many recent alerts.")
    ] = 20,
) -> None:
    """The newest alerts from the Redis stream (every reader sees every alert)."""
    settings = settings_of(ctx)
    cfg = settings.redis
    client = sync_client(cfg, socket_timeout=5, socket_connect_timeout=2)
    reader = AlertStreamReader(client, cfg.alerts_stream)
    try:
        recent = reader.backfill(count)
    except redis.RedisError as error:
        err_console.print("[red]error:[/]", end=" ")
        err_console.print(
            f"cannot read {cfg.alerts_stream} from Redis at {cfg.host}:{cfg.port} "
            f"({error}). Is the stack up? Try `fraudctl status`.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(ExitCode.FAILED) from None
    if as_json:
        for entry in recent:
            print_json(entry.alert)
    elif not follow or recent:
        console.print(_alerts_table(recent, cfg.alerts_stream))
    if follow:
        _follow(reader, as_json)


def _follow(reader: AlertStreamReader, as_json: bool) -> None:
    if not as_json:
        err_console.print("[dim]following new alerts; Ctrl-C to stop[/]")
    warned = False
    try:
        while True:
            try:
                entries = reader.read(block_ms=1000)
            except redis.RedisError as error:
                if not warned:
                    err_console.print(
                        f"[yellow]redis unavailable ({escape(str(error))}); retrying…[/]"
                    )
                    warned = True
                time.sleep(1)
                continue
            if warned:
                err_console.print("[green]redis is back[/]")
                warned = False
            for entry in entries:
                if as_json:
                    print_json(entry.alert)
                else:
                    console.print(_alert_line(entry.alert), highlight=False)
    except KeyboardInterrupt:
        return


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _alert_line(alert: Alert) -> Text:
    """One alert as plain text: ids and reasons come from the stream, never read as markup."""
    reasons = "; ".join(str(reason) for reason in alert.reasons)
    latency = f"{alert.latency_ms} ms" if alert.latency_ms is not None else ""
    return Text(
        f"{_when(alert.detected_at)}  {alert.transaction_id}  user {alert.user_id}  "
        f"{alert.amount:,.2f} {alert.currency}  score {alert.score:.3f}  {latency}  {reasons}"
    )


def _alerts_table(entries: list[StreamEntry], stream: str) -> Table:
    table = Table(title=Text(f"{stream}: {len(entries)} newest alerts"))
    for column in ("detected (UTC)", "transaction", "user", "amount", "score", "latency"):
        table.add_column(column, no_wrap=True)
    table.add_column("reasons", overflow="fold")
    for entry in entries:
        alert = entry.alert
        table.add_row(
            _when(alert.detected_at),
            Text(alert.transaction_id),
            Text(alert.user_id),
            Text(f"{alert.amount:,.2f} {alert.currency}"),
            f"{alert.score:.3f}",
            f"{alert.latency_ms} ms" if alert.latency_ms is not None else "",
            Text("\n".join(str(reason) for reason in alert.reasons)),
        )
    return table


def _status_table(report: JobStatus, rest_url: str) -> Table:
    job = report.job
    table = Table(title=Text(job.name), show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows = [
        ("state", job.state),
        ("job id", job.job_id),
        ("model", job.model_version or "unknown (submitted elsewhere)"),
        ("uptime", f"{report.uptime_s:,.0f} s" if report.uptime_s is not None else ""),
        ("restarts", _text(report.restarts)),
        ("checkpoints", f"{_text(report.checkpoints_completed)} completed, "
                        f"{_text(report.checkpoints_failed)} failed"),
        ("last checkpoint", f"{report.last_checkpoint_age_s:,.0f} s ago"
                            if report.last_checkpoint_age_s is not None else "none yet"),
        ("records into the scorer", _text(report.transactions_in)),
        ("Flink UI", f"{rest_url}/#/job/running/{job.job_id}/overview"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def _text(value: object) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _job_dict(job: FlinkJob) -> dict[str, object]:
    """A job as JSON: id, name, state, and the model and restore point when this host knows."""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "state": job.state,
        "model_version": getattr(job, "model_version", None),
        "restored_from": getattr(job, "restored_from", None),
    }
