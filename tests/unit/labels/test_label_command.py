"""`fraudctl label` against a real HTTP fake gateway and a real redis-server (no Kafka)."""

from __future__ import annotations

import json

import pytest
import redis
import typer
from typer.testing import CliRunner

from fraudctl.commands import label as label_command
from tests.fixtures.ports import free_ports
from tests.fixtures.redis_server import RedisServer
from tests.unit.simulate.http_gateway import HttpGateway, serve

runner = CliRunner()
app = typer.Typer()
label_command.register(app)


@app.callback()
def _root() -> None:
    """Keeps `label` a subcommand, as in the real CLI."""


@pytest.fixture
def env(redis_server: RedisServer, redis_client: redis.Redis) -> dict[str, str]:
    return {
        "FRAUDCTL_REDIS__PORT": str(redis_server.port),
        "FRAUDCTL_KAFKA__PORT": str(free_ports(1)[0]),  # nothing there: no decision log
    }


def test_label_with_user_and_merchant_is_posted_and_mirrored(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    gateway = HttpGateway()
    with serve(gateway) as url:
        result = runner.invoke(
            app,
            ["label", "txn_9", "fraud", "--user", "u1", "--merchant", "m1", "--gateway", url],
            env=env,
        )
    assert result.exit_code == 0, result.output
    [posted] = gateway.labels
    assert {k: posted[k] for k in ("transaction_id", "label", "source", "user_id")} == {
        "transaction_id": "txn_9", "label": "fraud", "source": "analyst", "user_id": "u1",
    }  # fmt: skip
    assert posted["merchant_id"] == "m1" and isinstance(posted["labelled_at"], int)
    assert "txn_9 labelled fraud" in result.output
    assert redis_client.get("fraud:labels:txn_9") in ("confirmed_fraud", b"confirmed_fraud")


def test_unknown_transaction_is_still_posted_and_called_unresolved(env: dict[str, str]) -> None:
    gateway = HttpGateway()
    with serve(gateway) as url:
        result = runner.invoke(
            app,
            ["label", "txn_x", "legit", "--source", "chargeback", "--gateway", url, "--json"],
            env=env,
        )
    assert result.exit_code == 0, result.output
    [posted] = gateway.labels
    assert "user_id" not in posted and posted["source"] == "chargeback"
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["note"].startswith("decision log not searched")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["txn_1", "maybe"], "use fraud or legit"),
        (["txn_1", "fraud", "--source", "bank", "--search", "0"], "source"),
        (["bad id!", "fraud", "--search", "0"], "transaction_id"),
    ],
)
def test_bad_input_exits_2_and_posts_nothing(
    env: dict[str, str], args: list[str], words: str
) -> None:
    gateway = HttpGateway()
    with serve(gateway) as url:
        result = runner.invoke(app, ["label", *args, "--gateway", url], env=env)
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert gateway.labels == []


def test_unreachable_gateway_exits_1(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    result = runner.invoke(
        app, ["label", "t1", "fraud", "--search", "0", "--gateway", url], env=env
    )
    assert result.exit_code == 1
    assert "cannot reach the gateway" in " ".join(result.output.split())
