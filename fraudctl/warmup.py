"""`fraudctl up`'s warm-up: synthetic transactions through the job before `up` returns.

Why: on a fresh stack the JVMs (the broker, the TaskManagers) compile the job's paths under
its first real traffic, and the first minute's decisions waited for it: p99 at 200 tx/s
112 ms without the warm-up and 73 ms with it, medians of five cold starts each, against
~33 ms warm (BENCHMARKS.md, "The first minute after `fraudctl up` returns"). So `up`
sends a burst of generated transactions of WARMUP_USER_PREFIX users straight to
`transactions`. The job scores them like payments and keeps nothing of them (no decision,
alert, dead letter or state; they never move its clock), and the gateway refuses that
prefix, so no payment can pass for one.

Done means a completed checkpoint past them: the job's consumer group commits the offsets of
each completed checkpoint, and a checkpoint's barrier follows the last warm-up record
through every operator, so committed offsets at the warm-up's end offsets mean all of it
was scored.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from flink_job.topic_clients import kafka_record, produce_transactions
from foundation.kafka_security import reader_config
from foundation.kafka_topics import SCORING_GROUP_ID
from foundation.settings import Settings
from models.contracts.transaction import WARMUP_USER_PREFIX
from models.generator import TrafficGenerator

WARMUP_USERS = 500
POLL_S = 0.5


@dataclass(frozen=True)
class WarmupResult:
    """What the warm-up did: `complete` when the job was through all of it in time."""

    transactions: int
    seconds: float
    complete: bool
    problem: str | None = None  # why it could not even be sent or followed

    def describe(self) -> str:
        if not self.transactions:
            return "off (FRAUDCTL_JOB__WARMUP_TRANSACTIONS=0)"
        if self.complete:
            return f"{self.transactions:,} synthetic transactions scored in {self.seconds:.1f} s"
        if self.problem:
            return f"skipped: {self.problem}. The job is running; its first decisions may be slow"
        return (
            f"{self.transactions:,} synthetic transactions sent, not all scored within "
            f"{self.seconds:.0f} s (FRAUDCTL_JOB__WARMUP_TIMEOUT_S): the job is running; its "
            "first decisions may be slow"
        )


def warmup_records(count: int, run: str, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """`count` generated transactions as the gateway would put them on Kafka, every one of
    a warm-up user, ids unique to `run` (so a later warm-up is no duplicate of this one)."""
    start = (now or datetime.now(UTC)) - timedelta(days=1)
    generator = TrafficGenerator(seed=7, n_users=WARMUP_USERS, fraud_ratio=0.02, start=start)
    for index in range(count):
        body, _label = next(generator)
        body["user_id"] = f"{WARMUP_USER_PREFIX}{run}-{body['user_id']}"
        body["transaction_id"] = f"{WARMUP_USER_PREFIX}{run}-{index}"
        yield kafka_record(body)


def warm_up_job(settings: Settings, clock: Callable[[], float] = time.monotonic) -> WarmupResult:
    """Send `settings.job.warmup_transactions` warm-up transactions and wait (at most
    `warmup_timeout_s`) until the running job has checkpointed past all of them."""
    count = settings.job.warmup_transactions
    if count == 0:
        return WarmupResult(0, 0.0, True)
    started = clock()
    consumer = Consumer(reader_config(settings.kafka, SCORING_GROUP_ID))
    try:
        produce_transactions(settings, warmup_records(count, secrets.token_hex(3)))
        ends = _end_offsets(consumer, settings.kafka.transactions_topic)
        deadline = started + settings.job.warmup_timeout_s
        while clock() < deadline:
            if _caught_up(consumer, ends):
                return WarmupResult(count, clock() - started, True)
            time.sleep(POLL_S)
        return WarmupResult(count, clock() - started, False)
    except (KafkaException, RuntimeError) as error:  # a warm-up never fails `up`
        return WarmupResult(count, clock() - started, False, problem=str(error))
    finally:
        consumer.close()


def _end_offsets(consumer: Consumer, topic: str) -> list[TopicPartition]:
    metadata = consumer.list_topics(topic, timeout=10)
    ends = []
    for partition in sorted(metadata.topics[topic].partitions):
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        ends.append(TopicPartition(topic, partition, high))
    return ends


def _caught_up(consumer: Consumer, ends: list[TopicPartition]) -> bool:
    """Whether the scoring group committed at least `ends` on every partition."""
    asked = [TopicPartition(end.topic, end.partition) for end in ends]
    try:
        committed = consumer.committed(asked, timeout=5)
    except KafkaException:  # the broker is slow to answer: ask again next time
        return False
    done = {(c.topic, c.partition): c.offset for c in committed}
    return all(done.get((end.topic, end.partition), -1) >= end.offset for end in ends)
