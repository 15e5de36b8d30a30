"""`fraudctl alerts`: ids are shown as text, never as Rich markup; --json is one line each."""

from __future__ import annotations

import orjson
import pytest
import redis
from typer.testing import CliRunner

from fraudctl.alerts import alert_fields
from fraudctl.cli import app
from tests.fixtures.ports import free_ports
from tests.fixtures.redis_server import RedisServer

runner = CliRunner()
HOSTILE_ID = "txn_[bold red]x[/bold red]_[link=http://evil.test]y[/link]"
HOSTILE_USER = "user[/]"


@pytest.fixture
def env(redis_server: RedisServer, redis_client: redis.Redis) -> dict[str, str]:
    alert = {
        "transaction_id": HOSTILE_ID,
        "user_id": HOSTILE_USER,
        "amount": 5000.0,
        "score": 0.91,
        "reasons": [{"code": "AMOUNT_SPIKE", "message": "100x [this] user's average"}],
        "received_at": 1_000,
        "detected_at": 1_040,
    }
    redis_client.xadd("fraud:alerts", dict(alert_fields(alert)))  # type: ignore[arg-type]
    return {"FRAUDCTL_REDIS__PORT": str(redis_server.port), "COLUMNS": "250"}


def test_table_shows_ids_literally(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["alerts"], env=env)

    assert result.exit_code == 0, result.output
    assert HOSTILE_ID in result.stdout
    assert HOSTILE_USER in result.stdout
    assert "100x [this] user's average" in result.stdout
    assert "40 ms" in result.stdout


def test_json_is_one_sorted_object_per_alert(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["alerts", "--json"], env=env)

    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    alert = orjson.loads(line)
    assert alert["transaction_id"] == HOSTILE_ID
    assert list(alert) == sorted(alert)


def test_redis_down_exits_1_with_what_to_do() -> None:
    port = free_ports(1)[0]

    result = runner.invoke(app, ["alerts", "--json"], env={"FRAUDCTL_REDIS__PORT": str(port)})

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "fraudctl status" in " ".join(result.output.split())
