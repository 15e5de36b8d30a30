"""`fraudctl setup`: everything `up` needs that is fetched or built once per machine."""

from __future__ import annotations

import typer

from fraudctl.commands.common import console, friendly_errors, settings_of
from fraudctl.stack import StackManager
from fraudctl.stack.prereqs import check_java, check_maven, check_redis_server
from models.artifacts import ensure_model


def register(app: typer.Typer) -> None:
    app.command()(setup)


def setup(ctx: typer.Context) -> None:
    """Check java/mvn/redis-server, fetch the Kafka and Flink connector jars, train the model."""
    settings = settings_of(ctx)
    with friendly_errors():
        console.print(f"java          {check_java()}")
        console.print(f"mvn           {check_maven()}")
        console.print(f"redis-server  {check_redis_server(settings.redis.server_binary)}")
        with console.status("fetching jars with mvn (once per machine)…"):
            jars = StackManager(settings).jars()
        console.print(f"kafka broker  {jars.kafka_libs}")
        console.print(f"connector     {jars.kafka_connector}")
        with console.status("training the model if it is missing or stale…"):
            path = ensure_model(settings.model.artifacts_dir)
        console.print(f"model         {path}")
