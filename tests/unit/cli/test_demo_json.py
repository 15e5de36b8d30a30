"""`fraudctl demo --json` and `simulate --json`: results on stdout as one sorted JSON line,
progress on stderr."""

from __future__ import annotations

import orjson
import pytest
import redis
from typer.testing import CliRunner

from fraudctl.cli import app
from tests.fixtures.ports import free_ports
from tests.fixtures.redis_server import RedisServer
from tests.unit.simulate.http_gateway import HttpGateway, serve

runner = CliRunner()


@pytest.fixture
def env(redis_server: RedisServer, redis_client: redis.Redis) -> dict[str, str]:
    closed = free_ports(2)  # nothing listens there: Kafka and Flink are absent
    return {
        "FRAUDCTL_REDIS__PORT": str(redis_server.port),
        "FRAUDCTL_KAFKA__PORT": str(closed[0]),
        "FRAUDCTL_FLINK__REST_PORT": str(closed[1]),
        "FRAUDCTL_SIMULATE__DRAIN_TIMEOUT_S": "1",
    }


def test_demo_json_is_the_alert_with_its_latencies(env: dict[str, str]) -> None:
    gateway = HttpGateway(redis_port=int(env["FRAUDCTL_REDIS__PORT"]))
    with serve(gateway) as url:
        result = runner.invoke(app, ["demo", "--gateway", url, "--json"], env=env)

    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    payload = orjson.loads(line)
    assert list(payload) == sorted(payload)
    assert payload["fraud_transaction_id"].startswith("txn_fraud_002-")
    assert payload["alert"]["transaction_id"] == payload["fraud_transaction_id"]
    assert payload["alert"]["reasons"][0]["code"] == "AMOUNT_SPIKE"
    assert payload["latency_ms"] == 35
    assert payload["unexpected_alerts"] == []
    assert "sent" in result.stderr  # progress went to stderr


def test_simulate_json_summary_has_sorted_keys(env: dict[str, str]) -> None:
    with serve(HttpGateway()) as url:
        args = ["simulate", "--count", "20", "--rate", "200", "--gateway", url, "--json"]
        result = runner.invoke(app, args, env=env)

    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    summary = orjson.loads(line)
    assert summary["sent"] == summary["accepted"] == 20
    assert list(summary) == sorted(summary)
    assert list(summary["latency"]) == sorted(summary["latency"])
