"""KafkaTransactionProducer against a scriptable stand-in for confluent_kafka.Producer.

The real broker is exercised in tests/integration/gateway; here we drive the awkward
cases on demand: no delivery report, a queue that stays full, a fatal error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from gateway.api.producer import KafkaTransactionProducer

Delivery = Callable[[KafkaError | None, Any], None]


class FakeClient:
    """Just enough of confluent_kafka.Producer; `mode` decides what poll() reports."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.mode = "deliver"  # deliver | hold | fail
        self.fail_with = KafkaError._MSG_TIMED_OUT
        self.queue_capacity = 10_000
        self.reachable = True
        self.topics = {"transactions": SimpleNamespace(error=None, partitions={0: 0, 1: 1})}
        self.errors: list[KafkaError] = []
        self.raise_on_produce: KafkaError | None = None
        self.produced: list[tuple[str, bytes, bytes]] = []
        self._queue: list[tuple[bytes, Delivery]] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Delivery) -> None:
        if self.raise_on_produce is not None:
            raise KafkaException(self.raise_on_produce)
        with self._lock:
            if len(self._queue) >= self.queue_capacity:
                raise BufferError("Local: Queue full")
            self._queue.append((value, on_delivery))
            self.produced.append((topic, key, value))

    def _serve(self) -> int:
        for err in self.errors:
            self.config["error_cb"](err)
        self.errors = []
        if self.mode == "hold":
            return 0
        with self._lock:
            batch, self._queue = self._queue, []
        for value, callback in batch:
            failed = self.mode == "fail" or b"poison" in value
            callback(KafkaError(self.fail_with) if failed else None, None)
        return len(batch)

    def poll(self, timeout: float = -1) -> int:
        served = self._serve()
        if not served:
            time.sleep(min(max(timeout, 0), 0.01))
        return served

    def flush(self, timeout: float = -1) -> int:
        self._serve()
        return len(self._queue)

    def purge(self, *args: Any) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        for _value, callback in batch:
            callback(KafkaError(KafkaError._PURGE_QUEUE), None)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        if not self.reachable:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
        return SimpleNamespace(topics=self.topics)

    def __len__(self) -> int:
        return len(self._queue)


class Factory:
    def __init__(self) -> None:
        self.clients: list[FakeClient] = []

    def __call__(self, config: dict[str, Any]) -> FakeClient:
        self.clients.append(FakeClient(config))
        return self.clients[-1]

    @property
    def client(self) -> FakeClient:
        return self.clients[-1]


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
async def producer(factory: Factory) -> AsyncIterator[KafkaTransactionProducer]:
    kafka = KafkaTransactionProducer(
        bootstrap="127.0.0.1:1",
        topic="transactions",
        timeout_s=0.3,
        probe_interval_s=0.05,
        idle_interval_s=0.01,
        producer_factory=factory,
    )
    await kafka.start()
    yield kafka
    await kafka.close()


async def test_config_is_idempotent_acks_all_with_bounded_message_timeout(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    config = factory.client.config
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["message.timeout.ms"] == 300


async def test_confirmed_record_returns_no_failure(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    assert await producer.produce(b"user-1", b'{"a":1}') is None
    assert factory.client.produced == [("transactions", b"user-1", b'{"a":1}')]


async def test_delivery_error_becomes_a_reasoned_failure(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    factory.client.mode = "fail"
    factory.client.fail_with = KafkaError.UNKNOWN_TOPIC_OR_PART

    failure = await producer.produce(b"u", b"{}")

    assert failure is not None
    assert failure.reason == "topic_missing"
    assert "transactions" in failure.message


async def test_no_delivery_report_fails_within_the_timeout(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    factory.client.mode = "hold"
    started = time.monotonic()

    failure = await producer.produce(b"u", b"{}")

    assert failure is not None and failure.reason == "broker_timeout"
    assert time.monotonic() - started < 0.3 + 0.5


async def test_queue_that_stays_full_fails_within_the_timeout(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    factory.client.queue_capacity = 0
    started = time.monotonic()

    failure = await producer.produce(b"u", b"{}")

    assert failure is not None and failure.reason == "queue_full"
    assert 0.25 < time.monotonic() - started < 0.3 + 0.5


async def test_queue_that_drains_lets_the_record_through(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    factory.client.queue_capacity = 0

    async def drain_soon() -> None:
        await asyncio.sleep(0.05)
        factory.client.queue_capacity = 10

    results = await asyncio.gather(producer.produce(b"u", b"{}"), drain_soon())

    assert results[0] is None


async def test_batch_reports_each_record(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    records = [(b"u", b"ok-0"), (b"u", b"poison-1"), (b"u", b"ok-2")]

    outcomes = await producer.produce_many(records)

    assert outcomes[0] is None and outcomes[2] is None
    assert outcomes[1] is not None and outcomes[1].reason == "broker_timeout"


async def test_waiting_for_delivery_does_not_block_the_event_loop(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    factory.client.mode = "hold"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await producer.produce(b"u", b"{}")
    task.cancel()

    assert ticks >= 10


async def test_known_broker_outage_fails_fast_and_recovers_without_restart(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    client = factory.client
    client.reachable = False
    client.errors.append(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    await asyncio.sleep(0.1)
    assert producer.broker_up is False

    started = time.monotonic()
    failure = await producer.produce(b"u", b"{}")
    assert failure is not None and failure.reason == "broker_unavailable"
    assert time.monotonic() - started < 0.05
    assert client.produced == []

    client.reachable = True
    await asyncio.sleep(0.2)
    assert producer.broker_up is True
    assert await producer.produce(b"u", b"{}") is None


async def test_fatal_error_replaces_the_client(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    first = factory.client
    first.raise_on_produce = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    first.errors.append(KafkaError(KafkaError._FATAL, "fenced", fatal=True))

    failure = await producer.produce(b"u", b"{}")
    await asyncio.sleep(0.1)

    assert failure is not None and failure.reason == "broker_error"
    assert len(factory.clients) == 2
    assert await producer.produce(b"u", b"{}") is None
    assert factory.client.produced


async def test_close_flushes_records_still_waiting(factory: Factory) -> None:
    kafka = KafkaTransactionProducer(
        bootstrap="127.0.0.1:1", topic="transactions", timeout_s=5, producer_factory=factory
    )
    await kafka.start()
    factory.client.mode = "hold"
    waiting = asyncio.create_task(kafka.produce(b"u", b"{}"))
    await asyncio.sleep(0.05)
    factory.client.mode = "deliver"

    assert await kafka.close() == 0
    assert await waiting is None
    after = await kafka.produce(b"u", b"{}")
    assert after is not None and after.reason == "shutting_down"


async def test_health_check_sees_topic_and_outage(
    producer: KafkaTransactionProducer, factory: Factory
) -> None:
    healthy = await producer.check_broker(0.1)
    assert (healthy.reachable, healthy.topic_exists, healthy.partitions) == (True, True, 2)

    factory.client.topics = {}
    missing = await producer.check_broker(0.1)
    assert (missing.reachable, missing.topic_exists) == (True, False)

    factory.client.reachable = False
    down = await producer.check_broker(0.1)
    assert down.reachable is False
    assert "127.0.0.1:1" in down.message
