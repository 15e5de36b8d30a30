"""The `fraudctl` command line: parses options and calls library code, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudctl.commands import backtest as backtest_commands
from fraudctl.commands import console as console_commands
from fraudctl.commands import job as job_commands
from fraudctl.commands import label as label_commands
from fraudctl.commands import model as model_commands
from fraudctl.commands import rules as rules_commands
from fraudctl.commands import secrets as secrets_commands
from fraudctl.commands import setup as setup_commands
from fraudctl.commands import simulate as simulate_commands
from fraudctl.commands import stack as stack_commands
from fraudctl.commands import train as train_commands
from fraudctl.commands.common import build_settings

app = typer.Typer(
    name="fraudctl",
    help="A real-time fraud-detection stack you run from the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

PortOpt = Annotated[int | None, typer.Option(min=1, max=65535, show_default=False)]


@app.callback()
def main_options(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None, typer.Option(help="State dir: pids, logs, data. [env FRAUDCTL_STATE_DIR]")
    ] = None,
    kafka_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Kafka port (default 9092).")
    ] = None,
    redis_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Redis port (default 6379).")
    ] = None,
    flink_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Flink REST/UI port (default 8081).")
    ] = None,
    gateway_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Gateway port (default 8000).")
    ] = None,
    dashboard_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Dashboard port (default 8080).")
    ] = None,
) -> None:
    """Global options apply to every command; each also has a FRAUDCTL_… variable."""
    ctx.obj = build_settings(
        {
            "state_dir": state_dir,
            "kafka.port": kafka_port,
            "redis.port": redis_port,
            "flink.rest_port": flink_port,
            "gateway.port": gateway_port,
            "dashboard.port": dashboard_port,
        }
    )


# Each command module adds its verbs to the app; one line per module.
setup_commands.register(app)
stack_commands.register(app)
console_commands.register(app)
job_commands.register(app)
simulate_commands.register(app)
train_commands.register(app)
label_commands.register(app)
backtest_commands.register(app)
secrets_commands.register(app)
app.add_typer(model_commands.app)
rules_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
