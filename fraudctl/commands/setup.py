"""`fraudctl setup`: everything `up` needs that is fetched or built once per machine."""

from __future__ import annotations

from pathlib import Path

import typer

from fraudctl.commands.common import JsonOpt, console, err_console, friendly_errors, settings_of
from fraudctl.output import print_json
from fraudctl.stack import StackManager
from fraudctl.stack.prereqs import check_java, check_maven, check_redis_server
from models.artifacts import ensure_model


def register(app: typer.Typer) -> None:
    app.command()(setup)


def setup(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check java/mvn/redis-server, fetch the Kafka and Flink connector jars, train the model."""
    settings = settings_of(ctx)
    found: dict[str, str | Path] = {}
    # With --json the table is the JSON document and progress goes to stderr.
    show = err_console if as_json else console

    def note(name: str, label: str, value: str | Path) -> None:
        found[name] = value
        show.print(f"{label:<13} {value}", markup=False, highlight=False)

    with friendly_errors():
        note("java", "java", check_java())
        note("mvn", "mvn", check_maven())
        note("redis_server", "redis-server", check_redis_server(settings.redis.server_binary))
        with show.status("fetching jars with mvn (once per machine)…"):
            jars = StackManager(settings).jars()
        note("kafka_libs", "kafka broker", jars.kafka_libs)
        note("kafka_connector", "connector", jars.kafka_connector)
        with show.status("training the model if it is missing or stale…"):
            path = ensure_model(settings.model.artifacts_dir)
        note("model", "model", path)
    if as_json:
        print_json(found)
