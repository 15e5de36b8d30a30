"""`fraudctl alerts` against a real redis-server (no Flink needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from fraudctl.alerts import alert_fields
from tests.fixtures.alerts import make_alert
from tests.fixtures.redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[RedisServer]:
    instance = RedisServer()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def env_for(server: RedisServer) -> dict[str, str]:
    return {**os.environ, "FRAUDCTL_REDIS__PORT": str(server.port), "COLUMNS": "200"}


def add(server: RedisServer, index: int, **overrides: object) -> None:
    client = redis.Redis(port=server.port)
    client.xadd("fraud:alerts", dict(alert_fields(make_alert(index, **overrides))))  # type: ignore[arg-type]


def test_alerts_table_shows_the_newest_with_reasons(server: RedisServer) -> None:
    for index in range(5):
        add(server, index)
    result = subprocess.run(
        [sys.executable, "-m", "fraudctl.cli", "alerts", "-n", "2"],
        env=env_for(server), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "txn_00004" in result.stdout and "txn_00003" in result.stdout
    assert "txn_00002" not in result.stdout
    assert "2 newest alerts" in result.stdout


def test_alerts_follow_json_prints_each_new_alert_once(server: RedisServer) -> None:
    add(server, 0)
    reader = subprocess.Popen(
        [sys.executable, "-m", "fraudctl.cli", "alerts", "--follow", "--json", "-n", "1"],
        env=env_for(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None
        first = json.loads(reader.stdout.readline())
        assert first["transaction_id"] == "txn_00000"
        time.sleep(0.5)
        add(server, 1)
        add(server, 2)
        later = [json.loads(reader.stdout.readline()) for _ in range(2)]
        assert [a["transaction_id"] for a in later] == ["txn_00001", "txn_00002"]
    finally:
        reader.terminate()
        reader.wait(timeout=10)


def test_alerts_says_what_to_do_when_redis_is_down(server: RedisServer) -> None:
    env = env_for(server)
    server.stop()
    result = subprocess.run(
        [sys.executable, "-m", "fraudctl.cli", "alerts"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "fraudctl status" in result.stderr
