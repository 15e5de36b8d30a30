"""The Redis alert sink against a real redis-server: once per transaction, capped, and
nothing lost across a restart of Redis."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from flink_job.alert_sink import AlertTarget, RedisAlertWriter
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


def target(server: RedisServer, maxlen: int = 1000) -> AlertTarget:
    return AlertTarget("127.0.0.1", server.port, "fraud:alerts", maxlen, 600)


def alert(txn: str) -> dict[str, object]:
    return {"transaction_id": txn, "user_id": "u1", "amount": 10.0, "score": 0.9}


def test_a_replayed_alert_is_written_once(server: RedisServer) -> None:
    writer = RedisAlertWriter(target(server))
    first = writer.write(alert("t1"))
    assert first is not None
    assert writer.write(alert("t1")) is None
    client = redis.Redis(port=server.port)
    entries: list[Any] = client.xrange("fraud:alerts")  # type: ignore[assignment]
    assert [entry_id.decode() for entry_id, _ in entries] == [first]
    payload = json.loads(entries[0][1][b"alert"])
    assert payload["transaction_id"] == "t1" and "detected_at" in payload
    assert client.get("fraud:alerts:seen:t1") == first.encode()
    ttl: int = client.ttl("fraud:alerts:seen:t1")  # type: ignore[assignment]
    assert 0 < ttl <= 600


def test_the_stream_is_capped(server: RedisServer) -> None:
    writer = RedisAlertWriter(target(server, maxlen=100))
    for index in range(1_000):
        writer.write(alert(f"t{index}"))
    length: int = redis.Redis(port=server.port).xlen("fraud:alerts")  # type: ignore[assignment]
    assert 100 <= length < 300  # MAXLEN ~ trims whole macro nodes


def test_alerts_written_while_redis_is_down_arrive_when_it_is_back(server: RedisServer) -> None:
    writer = RedisAlertWriter(target(server))
    writer.write(alert("before"))
    server.stop()
    results: dict[str, str | None] = {}

    def write_during_outage() -> None:
        for txn in ("during-1", "during-2"):
            results[txn] = writer.write(alert(txn))

    thread = threading.Thread(target=write_during_outage, daemon=True)
    thread.start()
    time.sleep(2.0)
    assert thread.is_alive(), "the writer must wait for Redis, not give up"
    server.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert all(results.values())
    assert writer.retries > 0
    # The server of this fixture has no persistence, so only what came after the restart
    # is there: both alerts written during the outage, once each.
    entries: list[Any] = redis.Redis(port=server.port).xrange("fraud:alerts")  # type: ignore[assignment]
    written = [json.loads(fields[b"alert"])["transaction_id"] for _, fields in entries]
    assert written == ["during-1", "during-2"]
