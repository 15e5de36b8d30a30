"""`fraudctl up | down | status | logs`: thin verbs over fraudctl.stack.StackManager."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from fraudctl.bootstrap import JOB_STEP, MODEL_STEP, bring_up
from fraudctl.commands.common import console, err_console, friendly_errors, settings_of
from fraudctl.stack import COMPONENT_NAMES, ComponentStatus, FlinkJob, StackEvent, StackManager
from fraudctl.stack.docker import DockerStack

STATE_STYLE = {
    "healthy": "green",
    "unhealthy": "yellow",
    "stopped": "dim",
    "stale": "red",
    "already-running": "green",
    "starting": "cyan",
    "waiting": "cyan",
    "checking": "cyan",
}


class _Progress:
    """A live table with one row per component, fed by StackEvents."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, float]] = {}
        self.started = time.monotonic()

    def __call__(self, event: StackEvent) -> None:
        since = self.rows.get(event.component, ("", "", time.monotonic()))[2]
        if event.phase in ("starting", "checking"):
            since = time.monotonic()
        self.rows[event.component] = (event.phase, event.detail, since)

    def render(self) -> Table:
        table = Table(title="fraudctl up", expand=False)
        table.add_column("component")
        table.add_column("phase")
        table.add_column("s", justify="right")
        table.add_column("detail", overflow="fold", max_width=60)
        for name in (MODEL_STEP, *COMPONENT_NAMES, JOB_STEP):
            if name not in self.rows:
                continue
            phase, detail, since = self.rows[name]
            style = STATE_STYLE.get(phase, "")
            waited = f"{time.monotonic() - since:.1f}" if phase in ("waiting", "starting") else ""
            table.add_row(name, f"[{style}]{phase}[/]", waited, detail)
        return table


def status_table(rows: list[ComponentStatus]) -> Table:
    table = Table(title="fraudctl stack")
    for col in ("component", "state", "pid", "rss"):
        table.add_column(col, no_wrap=True)
    table.add_column("url", no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=12)
    for row in rows:
        style = STATE_STYLE.get(row.state, "")
        rss = f"{row.rss_bytes / 2**20:.0f} MiB" if row.rss_bytes else ""
        table.add_row(
            row.name,
            f"[{style}]{row.state}[/]",
            str(row.pid or ""),
            rss,
            row.url or "",
            row.detail or "",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command()(logs)


def up(
    ctx: typer.Context,
    components: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only these components (default: the whole stack).", metavar="[COMPONENT]..."
        ),
    ] = None,
    no_console: Annotated[
        bool, typer.Option("--no-console", help="Do not open the console at the end.")
    ] = False,
    docker: Annotated[
        bool, typer.Option("--docker", help="Run compose/ under Docker instead of natively.")
    ] = False,
    taskmanagers: Annotated[
        int | None, typer.Option(min=1, help="With --docker: number of TaskManagers.")
    ] = None,
    no_job: Annotated[
        bool, typer.Option("--no-job", help="Do not submit the scoring job.")
    ] = False,
) -> None:
    """Start the stack (only what is not running) and wait until every part is healthy."""
    settings = settings_of(ctx)
    if docker:
        stack = DockerStack(settings)
        with friendly_errors():
            stack.up(_print_event, taskmanagers=taskmanagers)
        console.print(status_table(stack.status()))
        return
    manager = StackManager(settings)
    progress = _Progress()
    started = time.monotonic()
    with friendly_errors():
        if sys.stdout.isatty():
            with Live(progress.render(), console=console, refresh_per_second=4) as live:

                def on_event(event: StackEvent) -> None:
                    progress(event)
                    live.update(progress.render())

                bring_up(manager, on_event, only=components, with_job=not no_job)
        else:
            bring_up(manager, _print_event, only=components, with_job=not no_job)
    console.print(status_table(manager.status()))
    _print_jobs(manager.flink_jobs())
    console.print(f"stack up in {time.monotonic() - started:.1f} s; state in {manager.paths.root}")
    if not no_console and sys.stdout.isatty() and sys.stdin.isatty():
        _open_console(ctx)


def _print_event(event: StackEvent) -> None:
    if event.phase != "waiting":
        console.print(f"{event.component:<18} {event.phase:<16} {event.detail}", highlight=False)


def _open_console(ctx: typer.Context) -> None:
    """Hand over to the live alert console when it is installed (console issue)."""
    try:
        from fraudctl.console import run_console
    except ImportError:
        return
    run_console(settings_of(ctx))


def down(
    ctx: typer.Context,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete data, logs and config of the stack.")
    ] = False,
    docker: Annotated[bool, typer.Option("--docker", help="Stop the compose/ stack.")] = False,
) -> None:
    """Stop every component this state dir started, in reverse order."""
    if docker:
        with friendly_errors():
            DockerStack(settings_of(ctx)).down(_print_event, purge=purge)
        return
    manager = StackManager(settings_of(ctx))
    with friendly_errors():
        manager.down(_print_event, purge=purge)
    if purge:
        console.print(f"purged data under {manager.paths.root}")


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    docker: Annotated[bool, typer.Option("--docker", help="Status of the compose/ stack.")] = False,
) -> None:
    """Show each component's state, pid, memory and URL, and the Flink jobs."""
    settings = settings_of(ctx)
    manager: StackManager | DockerStack = (
        DockerStack(settings) if docker else StackManager(settings)
    )
    with friendly_errors():
        rows = manager.status()
        jobs = manager.flink_jobs()
    if as_json:
        where = (
            {"compose_project": settings.compose.project}
            if docker
            else {"state_dir": str(settings.state_dir.expanduser())}
        )
        payload = {
            **where,
            "components": [asdict(r) for r in rows],
            "flink_jobs": [asdict(j) for j in jobs],
            "healthy": all(r.state == "healthy" for r in rows),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    console.print(status_table(rows))
    _print_jobs(jobs)


def _print_jobs(jobs: list[FlinkJob]) -> None:
    if not jobs:
        return
    table = Table(title="flink jobs")
    for col in ("job id", "name", "state"):
        table.add_column(col)
    for job in jobs:
        table.add_row(job.job_id, job.name, job.state)
    console.print(table)


def logs(
    ctx: typer.Context,
    component: Annotated[str, typer.Argument(help=f"One of: {', '.join(COMPONENT_NAMES)}.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines to show first.")] = 50,
) -> None:
    """Print a component's log (the last lines; -f to follow)."""
    manager = StackManager(settings_of(ctx))
    with friendly_errors():
        path = manager.log_file(component)
    if not path.exists():
        err_console.print(f"no log yet for {component} at {path}: has it been started?")
        raise typer.Exit(1)
    with path.open("rb") as fh:
        tail = fh.read().decode(errors="replace").splitlines()[-lines:] if lines else []
        for line in tail:
            typer.echo(line)
        if not follow:
            return
        try:
            while True:
                chunk = fh.read()
                if chunk:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            return
