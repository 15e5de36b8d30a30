"""Reading exactly the records a test produced: offsets before, offsets after, all between."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition


@dataclass(frozen=True)
class Record:
    key: bytes | None
    raw: bytes
    partition: int

    def json(self) -> Any:
        return orjson.loads(self.raw)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"gateway-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of every partition of the topic (its high watermark)."""
    consumer = _consumer(bootstrap)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def read_between(
    bootstrap: str, topic: str, start: dict[int, int], end: dict[int, int], timeout_s: float = 30
) -> list[Record]:
    """Every record with start[p] <= offset < end[p]; fails if they cannot all be read."""
    wanted = {p: end[p] for p in end if end[p] > start.get(p, 0)}
    if not wanted:
        return []
    consumer = _consumer(bootstrap)
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in wanted])
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            if partition in wanted and offset < wanted[partition]:
                records.append(Record(message.key(), message.value() or b"", partition))
                if offset + 1 >= wanted[partition]:
                    del wanted[partition]
    finally:
        consumer.close()
    assert not wanted, f"could not read partitions {sorted(wanted)} within {timeout_s}s"
    return records
