"""Feeding the job and reading what it writes, from outside Flink (tests, benchmarks, ops).

`produce_transactions` writes records exactly as the gateway does (JSON, key = user_id,
`received_at` stamped); `TopicTail` reads a topic from its end at creation, so a test sees
only what the job wrote after it started looking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from foundation.clock import now_ms
from foundation.kafka_security import librdkafka_security, reader_config
from foundation.settings import Settings
from models.generator import normalise_body

PRODUCER_CONFIG = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
}


def kafka_record(body: dict[str, Any], received_at: int | None = None) -> dict[str, Any]:
    """A gateway body (with a card number) as the gateway puts it on Kafka."""
    record = normalise_body(body).to_record()
    record["received_at"] = now_ms() if received_at is None else received_at
    return record


class TransactionProducer:
    """Transactions onto the `transactions` topic, keyed by user like the gateway does."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.kafka.transactions_topic
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka.bootstrap,
                **librdkafka_security(settings.kafka),
                **PRODUCER_CONFIG,
            }
        )

    def send(self, record: dict[str, Any], *, stamp: bool = True) -> None:
        """One Kafka record (a dict from `kafka_record` or the like); stamps received_at."""
        if stamp:
            record = {**record, "received_at": now_ms()}
        self.send_raw(json.dumps(record).encode(), key=str(record.get("user_id", "")).encode())

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            raise RuntimeError(f"{left} records were not delivered to {self.topic}")


def produce_transactions(settings: Settings, records: Iterable[dict[str, Any]]) -> int:
    """Send Kafka records (received_at stamped now) and wait until all are stored."""
    producer = TransactionProducer(settings)
    count = 0
    for record in records:
        producer.send(record)
        count += 1
    producer.flush()
    return count


class TopicTail:
    """Reads a topic from where it ended when this object was made."""

    def __init__(self, settings: Settings, topic: str, *, from_start: bool = False) -> None:
        self.consumer = Consumer(
            reader_config(
                settings.kafka,
                f"fraudctl-tail-{time.time_ns()}",
                **{"isolation.level": "read_uncommitted"},
            )
        )
        metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
        assignment = []
        for partition in metadata.partitions:
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            assignment.append(TopicPartition(topic, partition, low if from_start else high))
        self.consumer.assign(assignment)

    def poll(self, timeout_s: float = 1.0, batch: int = 10_000) -> list[dict[str, Any]]:
        """Whatever arrived within `timeout_s`, decoded from JSON."""
        return [record for _at, record in self.poll_timed(timeout_s, batch)]

    def poll_timed(
        self, timeout_s: float = 1.0, batch: int = 10_000
    ) -> list[tuple[int, dict[str, Any]]]:
        """As `poll`, each record with its Kafka timestamp in ms (on a topic with
        LogAppendTime, such as the decision log: when the broker appended it)."""
        records = []
        for message in self.consumer.consume(batch, timeout_s):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"reading {message.topic()}: {error}")
            value = message.value()
            if value is not None:
                records.append((message.timestamp()[1], json.loads(value)))
        return records

    def collect(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float,
        keep: Callable[[dict[str, Any]], bool] = lambda _record: True,
    ) -> list[dict[str, Any]]:
        """Read until `done(kept records)` or the timeout; returns what was kept."""
        kept: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            kept.extend(record for record in self.poll(0.5) if keep(record))
            if done(kept):
                break
        return kept

    def close(self) -> None:
        self.consumer.close()
