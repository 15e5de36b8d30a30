"""The alert writer's retry loop, with a fake script standing in for Redis."""

from __future__ import annotations

import json
from typing import Any

import redis

from flink_job.alert_sink import AlertTarget, RedisAlertWriter

TARGET = AlertTarget("127.0.0.1", 1, "fraud:alerts", 1000, 3600)


class FlakyScript:
    """Fails `failures` times with the given error, then answers `result`."""

    def __init__(self, failures: int, result: Any, error: Exception) -> None:
        self.failures = failures
        self.result = result
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        self.calls.append({"keys": keys, "args": args})
        if len(self.calls) <= self.failures:
            raise self.error
        return self.result


def writer_with(script: FlakyScript, sleeps: list[float]) -> RedisAlertWriter:
    clock = iter(range(1000, 2000))
    writer = RedisAlertWriter(TARGET, clock=lambda: next(clock), sleep=sleeps.append)
    writer.script = script  # type: ignore[assignment]
    return writer


def test_retries_with_capped_backoff_until_redis_answers() -> None:
    sleeps: list[float] = []
    script = FlakyScript(8, b"1-0", redis.ConnectionError("connection refused"))
    writer = writer_with(script, sleeps)
    assert writer.write({"transaction_id": "t1", "amount": 1.0}) == "1-0"
    assert writer.retries == 8 and writer.written == 1
    assert sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    keys = script.calls[-1]["keys"]
    assert keys == ["fraud:alerts:seen:t1", "fraud:alerts"]
    ttl, maxlen, payload = script.calls[-1]["args"]
    assert (ttl, maxlen) == (3600, 1000)
    assert json.loads(payload)["detected_at"] == 1008  # stamped at the write that succeeded


def test_an_already_alerted_transaction_is_skipped() -> None:
    writer = writer_with(FlakyScript(0, None, redis.ConnectionError()), [])
    assert writer.write({"transaction_id": "t1"}) is None
    assert writer.skipped == 1 and writer.written == 0


def test_timeouts_and_loading_are_retried_too() -> None:
    for error in (redis.TimeoutError("slow"), redis.BusyLoadingError("loading")):
        sleeps: list[float] = []
        writer = writer_with(FlakyScript(2, "2-0", error), sleeps)
        assert writer.write({"transaction_id": "t2"}) == "2-0"
        assert len(sleeps) == 2
