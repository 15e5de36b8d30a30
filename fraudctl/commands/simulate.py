"""`fraudctl simulate` (labelled Faker traffic at a steady rate) and `fraudctl demo`."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.live import Live
from rich.markup import escape

from foundation.settings import Settings
from fraudctl.commands.common import JsonOpt, console, err_console, settings_of
from fraudctl.output import ExitCode, print_json
from fraudctl.simulate.display import LiveView, render_summary
from fraudctl.simulate.options import (
    DURATION_HELP,
    OptionError,
    SimulateOptions,
    build_options,
    parse_delay,
)
from fraudctl.simulate.runner import GatewayUnreachable, Simulation
from fraudctl.simulate.summary import Summary
from models.patterns import PATTERN_NAMES

if TYPE_CHECKING:
    from fraudctl.simulate.demo import DemoResult

T = TypeVar("T")
PROGRESS_EVERY_S = 5.0


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
    app.command("demo")(demo_command)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (it sends noticeably faster)."""
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coro)


def _fail(message: str, code: int = ExitCode.USAGE) -> typer.Exit:
    err_console.print("[bold red]error:[/]", escape(message), highlight=False)
    return typer.Exit(code)


def simulate_command(
    ctx: typer.Context,
    rate: Annotated[
        float | None,
        typer.Option(help="Transactions per second. (default 200)", show_default=False),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(help=f"How long to run: {DURATION_HELP}. Default: until Ctrl-C."),
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after sending this many transactions.")
    ] = None,
    users: Annotated[
        int | None, typer.Option(help="Simulated cardholders. (default 1000)", show_default=False)
    ] = None,
    fraud_ratio: Annotated[
        float | None,
        typer.Option(help="Share of fraudulent transactions. (default 0.01)", show_default=False),
    ] = None,
    pattern: Annotated[
        list[str] | None,
        typer.Option(
            help="Fraud pattern(s) to inject, repeated or comma-separated: "
            f"{', '.join(PATTERN_NAMES)}. Default: all."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed, for a repeatable run. Default: random.")
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway base URL. Default: the configured gateway.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Transactions per request; above 1 uses POST /transactions. (default 1)",
            show_default=False,
        ),
    ] = None,
    label_delay: Annotated[
        str | None,
        typer.Option(
            help="Post each transaction's ground truth (fraud or legit) to POST /labels "
            "this long after it was accepted: 0 or a duration such as 30s, 5m. (default 30s)",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="No live display; print the summary as JSON.")
    ] = False,
) -> None:
    """Send labelled Faker traffic at a steady rate, with live errors, latency and recall.

    Open-loop: transactions go out on schedule whatever the gateway does. Ground truth
    goes to POST /labels after --label-delay, never in the transaction. Ctrl-C stops and
    summarises.
    """
    settings = settings_of(ctx)
    sim = settings.simulate
    try:
        options = build_options(
            rate=sim.rate if rate is None else rate,
            duration=duration,
            count=count,
            users=sim.users if users is None else users,
            fraud_ratio=sim.fraud_ratio if fraud_ratio is None else fraud_ratio,
            pattern_names=pattern or [],
            seed=secrets.randbelow(2**31) if seed is None else seed,
            gateway_url=settings.gateway.url if gateway is None else gateway,
            batch_size=sim.batch_size if batch_size is None else batch_size,
            max_batch=settings.gateway.max_batch,
            label_delay_s=sim.label_delay_s if label_delay is None else parse_delay(label_delay),
        )
    except OptionError as exc:
        raise _fail(str(exc)) from None
    summary = run_simulation(options, settings, json_out=json_out)
    if json_out:
        print_json(summary.to_dict())
    else:
        console.print(render_summary(summary))
    if summary.sent > 0 and summary.accepted == 0:
        raise typer.Exit(ExitCode.FAILED)


def run_simulation(options: SimulateOptions, settings: Settings, *, json_out: bool) -> Summary:
    """Run to the end (or Ctrl-C) with the display that suits the output."""
    try:
        return _run(_simulate(options, settings, json_out=json_out))
    except GatewayUnreachable as exc:
        raise _fail(str(exc), ExitCode.FAILED) from None


async def _simulate(options: SimulateOptions, settings: Settings, *, json_out: bool) -> Summary:
    simulation = Simulation(options, settings)
    stop, abort = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        if stop.is_set():
            abort.set()  # a second Ctrl-C: stop waiting for requests and the job
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    try:
        await simulation.prepare()
        for warning in simulation.warnings:
            err_console.print(f"[yellow]⚠ {escape(warning)}[/]")
        view = LiveView(options, simulation.run_id)
        run = asyncio.create_task(simulation.run(stop, abort))
        if json_out:
            return await run
        if console.is_terminal:
            await _live(view, simulation, run)
        else:
            await _progress_lines(view, simulation, run)
        return await run
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _live(view: LiveView, simulation: Simulation, run: asyncio.Task[Summary]) -> None:
    with Live(console=console, auto_refresh=False, transient=True) as live:
        while not run.done():
            snap = simulation.snapshot()
            view.sample(snap)
            live.update(view.render(snap), refresh=True)
            await asyncio.wait({run}, timeout=0.25)


async def _progress_lines(
    view: LiveView, simulation: Simulation, run: asyncio.Task[Summary]
) -> None:
    while not run.done():
        await asyncio.wait({run}, timeout=PROGRESS_EVERY_S)
        snap = simulation.snapshot()
        view.sample(snap)
        err_console.print(view.line(snap), highlight=False, markup=False)


def demo_command(
    ctx: typer.Context,
    no_prompt: Annotated[
        bool, typer.Option("--no-prompt", help="Do not offer to start traffic and the console.")
    ] = False,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway base URL. Default: the configured gateway.")
    ] = None,
    user: Annotated[
        str, typer.Option(help="The demo user (the seed README's by default).")
    ] = "user-test-123",
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for the alert. (default 30)", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The seed README's scenario: 50.00 then 5000.00 for one user; shows the alert.

    Waits for the alert on the stream and prints it with its reasons and latency; then, on
    a terminal, offers simulated traffic with the live console. With --json: progress on
    stderr, the alert as JSON on stdout, and no offer.
    """
    from fraudctl.simulate.demo import DemoFailed, run_demo
    from fraudctl.simulate.display import render_demo_alert
    from fraudctl.simulate.options import check_gateway_url

    settings = settings_of(ctx)
    if timeout is not None and not 0 < timeout <= 600:
        raise _fail(f"--timeout {timeout:g} is out of range: use 1 to 600 seconds")
    try:
        url = check_gateway_url(settings.gateway.url if gateway is None else gateway)
        say = _say_to_stderr if as_json else _say
        result = _run(run_demo(settings, url, say, timeout_s=timeout, user_id=user.strip()))
    except OptionError as exc:
        raise _fail(str(exc)) from None
    except (GatewayUnreachable, DemoFailed) as exc:
        raise _fail(str(exc), ExitCode.FAILED) from None
    if as_json:
        print_json(demo_payload(result))
        return
    console.print(render_demo_alert(result))
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if no_prompt or not interactive:
        return
    rate = settings.simulate.demo_rate
    if typer.confirm(
        f"Start simulated traffic ({rate:g} tx/s) and open the live console?", default=True
    ):
        _traffic_with_console(settings, rate)


def _say(message: str) -> None:
    console.print(message, highlight=False)


def _say_to_stderr(message: str) -> None:
    err_console.print(message, highlight=False)


def demo_payload(result: DemoResult) -> dict[str, Any]:
    """What `demo --json` prints: the alert, both latencies, and anything unexpected."""
    alert = result.alert
    return {
        "fraud_transaction_id": result.fraud_id,
        "alert": alert,
        "latency_ms": None if alert is None else alert.latency_ms,
        "seen_after_ms": result.seen_after_ms,
        "unexpected_alerts": [extra.transaction_id for extra in result.unexpected],
        "decision": result.decision,
    }


def _traffic_with_console(settings: Settings, rate: float) -> None:
    from fraudctl.console import run_console
    from fraudctl.simulate.background import (
        log_path,
        start_background_simulation,
        stop_background_simulation,
    )

    process = start_background_simulation(settings, rate)
    summary = None
    try:
        run_console(settings)
    finally:
        console.print("[dim]stopping the simulated traffic ...[/]")
        with contextlib.suppress(KeyboardInterrupt):
            summary = stop_background_simulation(process)
    if summary is None:
        err_console.print(f"[yellow]the simulator gave no summary; see {log_path(settings)}[/]")
        return
    console.print(render_summary(Summary.from_dict(summary)))
