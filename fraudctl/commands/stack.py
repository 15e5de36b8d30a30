"""`fraudctl up | down | status | logs`: thin verbs over fraudctl.stack.StackManager."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from foundation.settings import Settings
from fraudctl.bootstrap import JOB_STEP, MODEL_STEP, SUPERVISOR_STEP, WARMUP_STEP, bring_up
from fraudctl.commands.common import JsonOpt, console, err_console, friendly_errors, settings_of
from fraudctl.output import ExitCode, print_json
from fraudctl.stack import COMPONENT_NAMES, ComponentStatus, FlinkJob, StackEvent, StackManager
from fraudctl.stack.docker import DockerStack

STATE_STYLE = {
    "healthy": "green",
    "unhealthy": "yellow",
    "stopped": "dim",
    "stale": "red",
    "restarting": "yellow",
    "failed": "bold red",
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
        steps = (MODEL_STEP, *COMPONENT_NAMES, JOB_STEP, WARMUP_STEP, SUPERVISOR_STEP)
        extra = [name for name in self.rows if name not in steps]  # TaskManager 2, 3, ...
        job = steps.index(JOB_STEP)
        for name in (*steps[:job], *sorted(extra), *steps[job:]):
            if name not in self.rows:
                continue
            phase, detail, since = self.rows[name]
            style = STATE_STYLE.get(phase, "")
            waited = f"{time.monotonic() - since:.1f}" if phase in ("waiting", "starting") else ""
            table.add_row(name, Text(phase, style=style), waited, Text(detail))
        return table


def status_table(rows: list[ComponentStatus]) -> Table:
    table = Table(title="fraudctl stack")
    for col in ("component", "state", "pid", "rss"):
        table.add_column(col, no_wrap=True)
    table.add_column("url", no_wrap=True)
    table.add_column("restarts", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=12)
    for row in rows:
        style = STATE_STYLE.get(row.state, "")
        rss = f"{row.rss_bytes / 2**20:.0f} MiB" if row.rss_bytes else ""
        table.add_row(
            Text(row.name),
            Text(row.state, style=style),
            str(row.pid or ""),
            rss,
            Text(row.url or ""),
            _restarts(row),
            Text(row.detail or ""),
        )
    return table


def _restarts(row: ComponentStatus) -> str:
    """`2 (41 s ago)`: restarts by the supervisor and when the last one was."""
    if not row.restarts:
        return ""
    if row.last_restart_at is None:
        return str(row.restarts)
    return f"{row.restarts} ({_ago(time.time() - row.last_restart_at)} ago)"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


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
        int | None,
        typer.Option(
            min=1,
            max=8,
            help="Number of TaskManagers, each its own Python interpreter "
            "(default: FRAUDCTL_FLINK__TASKMANAGERS, 1).",
        ),
    ] = None,
    no_job: Annotated[
        bool, typer.Option("--no-job", help="Do not submit the scoring job.")
    ] = False,
    no_supervise: Annotated[
        bool,
        typer.Option(
            "--no-supervise",
            help="Do not leave the supervisor running (it restarts crashed components and "
            "resumes the job; log: STATE_DIR/logs/supervisor.log).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start the stack (only what is not running) and wait until every part is healthy.

    With --json, progress goes to stderr and the final status (as `status --json`) to stdout.
    """
    settings = settings_of(ctx)
    if taskmanagers is not None and not docker:
        flink = settings.flink.model_copy(update={"taskmanagers": taskmanagers})
        settings = settings.model_copy(update={"flink": flink})
    say = _print_event_to_stderr if as_json else _print_event
    if docker:
        stack = DockerStack(settings)
        with friendly_errors():
            stack.up(say, taskmanagers=taskmanagers)
            rows = stack.status()
        if as_json:
            print_json(status_payload(settings, rows, stack.flink_jobs(), docker=True))
            return
        console.print(status_table(rows))
        return
    manager = StackManager(settings)
    progress = _Progress()
    started = time.monotonic()
    with friendly_errors():
        if as_json:
            bring_up(manager, say, only=components, with_job=not no_job, supervise=not no_supervise)
            print_json(status_payload(settings, manager.status(), manager.flink_jobs()))
            return
        if sys.stdout.isatty():
            with Live(progress.render(), console=console, refresh_per_second=4) as live:

                def on_event(event: StackEvent) -> None:
                    progress(event)
                    live.update(progress.render())

                bring_up(
                    manager,
                    on_event,
                    only=components,
                    with_job=not no_job,
                    supervise=not no_supervise,
                )
        else:
            bring_up(
                manager,
                _print_event,
                only=components,
                with_job=not no_job,
                supervise=not no_supervise,
            )
    console.print(status_table(manager.status()))
    _print_jobs(manager.flink_jobs())
    elapsed = time.monotonic() - started
    console.print(f"stack up in {elapsed:.1f} s; state in {escape(str(manager.paths.root))}")
    if not no_console and sys.stdout.isatty() and sys.stdin.isatty():
        _open_console(ctx)


def _print_event(event: StackEvent) -> None:
    if event.phase != "waiting":
        line = f"{event.component:<18} {event.phase:<16} {event.detail}"
        console.print(line, highlight=False, markup=False)


def _print_event_to_stderr(event: StackEvent) -> None:
    if event.phase != "waiting":
        line = f"{event.component:<18} {event.phase:<16} {event.detail}"
        err_console.print(line, highlight=False, markup=False)


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
        console.print(f"purged data under {manager.paths.root}", markup=False, highlight=False)


def status(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    docker: Annotated[bool, typer.Option("--docker", help="Status of the compose/ stack.")] = False,
) -> None:
    """Show each component's state, pid, memory and URL, and the Flink jobs.

    Exit code 0 when every component is healthy, 3 when one is not (stopped, unhealthy or
    stale), 1 when the state cannot be read: `fraudctl status && ...` waits for nothing.
    """
    settings = settings_of(ctx)
    manager: StackManager | DockerStack = (
        DockerStack(settings) if docker else StackManager(settings)
    )
    with friendly_errors():
        rows = manager.status()
        jobs = manager.flink_jobs()
    supervisor = manager.supervisor_status() if isinstance(manager, StackManager) else None
    if as_json:
        payload = status_payload(settings, rows, jobs, docker=docker)
        if supervisor is not None:
            payload["supervisor"] = supervisor
        print_json(payload)
    else:
        console.print(status_table(rows))
        _print_jobs(jobs)
        if supervisor is not None:
            _print_supervisor(supervisor)
    if not all_healthy(rows):
        raise typer.Exit(ExitCode.UNHEALTHY)


def all_healthy(rows: list[ComponentStatus]) -> bool:
    return bool(rows) and all(row.state == "healthy" for row in rows)


def status_payload(
    settings: Settings,
    rows: list[ComponentStatus],
    jobs: list[FlinkJob],
    *,
    docker: bool = False,
) -> dict[str, Any]:
    """What `status --json` and `up --json` print."""
    where: dict[str, Any] = (
        {"compose_project": settings.compose.project}
        if docker
        else {"state_dir": str(settings.state_dir.expanduser())}
    )
    return {
        **where,
        "components": [asdict(row) for row in rows],
        "flink_jobs": [asdict(job) for job in jobs],
        "healthy": all_healthy(rows),
    }


def _print_supervisor(report: dict[str, Any]) -> None:
    if not report["running"]:
        console.print(
            "supervisor: not running (crashed components stay down; `fraudctl up` starts it)",
            style="yellow",
            markup=False,
            highlight=False,
        )
        return
    line = f"supervisor: pid {report['pid']}, log {report['log']}"
    job = report.get("scoring_job")
    if job:
        line += f"; scoring job {job['state']}"
        if job["restarts"]:
            line += f", resumed {job['restarts']}x"
        if job["detail"] and job["state"] != "ok":
            line += f": {job['detail']}"
    style = "bold red" if job and job["state"] == "failed" else ""
    console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def _print_jobs(jobs: list[FlinkJob]) -> None:
    if not jobs:
        return
    table = Table(title="flink jobs")
    for col in ("job id", "name", "state"):
        table.add_column(col)
    for job in jobs:
        table.add_row(Text(job.job_id), Text(job.name), Text(job.state))
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
        err_console.print(
            f"no log yet for {component} at {path}: has it been started?", markup=False
        )
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
