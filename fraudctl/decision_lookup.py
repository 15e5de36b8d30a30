"""Find one transaction in the decision log (`transaction-scores`), newest records first.

`fraudctl label TXN` uses it to learn the user, merchant and card of a transaction so the
label can be credited to them. The log is keyed by user, not by transaction, so there is
no index: the search reads backwards from the end of every partition in windows, and
stops at the first match, after `max_records` records, or after `timeout_s`. The log is
at-least-once (a replay repeats decisions with the same `transaction_id`, the idempotency
key): one match is the answer, so the repeats never count twice here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from foundation.kafka_security import reader_config
from foundation.settings import Settings


class DecisionLogUnavailable(RuntimeError):
    """The decision log could not be read (broker down, topic missing)."""


@dataclass(frozen=True, slots=True)
class Found:
    """Who and where a transaction was, as the job recorded it."""

    transaction_id: str
    user_id: str | None
    merchant_id: str | None
    card_fingerprint: str | None


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


def match(value: bytes | None, transaction_id: str, needle: bytes) -> Found | None:
    """The record when `value` is the decision of `transaction_id` (cheap byte check first)."""
    if value is None or needle not in value:
        return None
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("transaction_id") != transaction_id:
        return None
    return Found(
        transaction_id,
        _text(record, "user_id"),
        _text(record, "merchant_id"),
        _text(record, "card_fingerprint"),
    )


def find_decision(
    settings: Settings,
    transaction_id: str,
    *,
    max_records: int = 200_000,
    window: int = 20_000,
    timeout_s: float = 10.0,
) -> Found | None:
    """The newest decision for `transaction_id` within the bounds, or None."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    kafka = settings.kafka
    topic = kafka.scores_topic
    consumer = Consumer(
        reader_config(
            kafka, "fraudctl-label-lookup", **{"socket.connection.setup.timeout.ms": 3000}
        )
    )
    deadline = time.monotonic() + timeout_s
    needle = orjson.dumps(transaction_id)  # the id as it appears in the JSON, quoted
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=min(3.0, timeout_s))
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise DecisionLogUnavailable(f"topic {topic} does not exist at {kafka.bootstrap}")
            ends: dict[int, tuple[int, int]] = {}
            for partition in described.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=min(3.0, timeout_s)
                )
                ends[partition] = (low, high)
        except KafkaException as exc:
            raise DecisionLogUnavailable(
                f"cannot read {topic} at {kafka.bootstrap}: {exc}"
            ) from None
        budget = max_records
        while budget > 0 and time.monotonic() < deadline:
            per_partition = max(1, min(window, budget) // max(1, len(ends)))
            spans = {
                p: (max(low, high - per_partition), high)
                for p, (low, high) in ends.items()
                if high > low
            }
            if not spans:
                return None
            found = _scan(consumer, topic, spans, transaction_id, needle, deadline)
            if found is not None:
                return found
            budget -= sum(end - start for start, end in spans.values())
            ends = {p: (ends[p][0], start) for p, (start, _end) in spans.items()}
        return None
    finally:
        consumer.close()


def _scan(
    consumer: Any,
    topic: str,
    spans: dict[int, tuple[int, int]],
    transaction_id: str,
    needle: bytes,
    deadline: float,
) -> Found | None:
    """Read [start, end) of each partition; the newest match wins."""
    from confluent_kafka import TopicPartition

    consumer.assign([TopicPartition(topic, p, start) for p, (start, _end) in spans.items()])
    open_parts = set(spans)
    best: tuple[int, Found] | None = None
    while open_parts and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=1000, timeout=0.5):
            if message.error() is not None:
                continue
            part, offset = message.partition(), message.offset()
            if part not in open_parts:
                continue
            end = spans[part][1]
            if offset >= end:
                open_parts.discard(part)
                continue
            found = match(message.value(), transaction_id, needle)
            timestamp = message.timestamp()[1]
            if found is not None and (best is None or timestamp > best[0]):
                best = (timestamp, found)
            if offset >= end - 1:
                open_parts.discard(part)
    consumer.unassign()
    return best[1] if best else None
