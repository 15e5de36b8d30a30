"""What the simulator reads and writes beside the gateway: the labels (ground truth) it
records in Redis, and the verdicts it follows: alerts on the stream and the job's
decision log on Kafka (both parsed with `models.contracts`).

All three are best effort: if Redis or Kafka cannot be reached the run goes on, and the
summary says what is missing instead of the simulator failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.alert_stream import AsyncAlertStreamReader
from foundation.kafka_security import librdkafka_security
from foundation.settings import Settings
from models.contracts.decision import (
    DecisionDeduper,
    DecisionRecord,
    InvalidDecision,
    parse_decision,
)

log = logging.getLogger(__name__)
_QUIET = logging.getLogger("fraudctl.simulate.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class LabelWriter:
    """Buffers `transaction_id -> label` and writes them to the labels hash in batches."""

    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.client = client
        self.key = key
        self.written = 0
        self.failed = 0
        self.error = ""
        self._pending: dict[str, str] = {}

    def add(self, transaction_id: str, label: str) -> None:
        self._pending[transaction_id] = label

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self.client.hset(self.key, mapping=batch)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            self.failed += len(batch)
            self.error = f"labels not recorded in Redis: {exc}"
            return
        self.written += len(batch)

    async def run(self, stop: asyncio.Event, interval_s: float = 0.2) -> None:
        """Flush every `interval_s` until stopped, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            await self.flush()
        await self.flush()


class AlertFollower:
    """Follows the alert stream from where it ended when the run began."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        on_alert: Callable[[str, int | None], None],
        *,
        belongs: Callable[[str], bool],
    ) -> None:
        self.reader = AsyncAlertStreamReader(client, stream)
        self.on_alert = on_alert
        self.belongs = belongs
        self.error = ""

    async def start(self) -> None:
        """Take the position now, before the first transaction is sent."""
        await self.reader.backfill(0)

    async def poll(self, block_ms: int | None = 100) -> int:
        """Read what arrived; returns how many of this run's alerts were seen."""
        try:
            entries = await self.reader.read(block_ms=block_ms, count=1000)
        except (RedisError, OSError) as exc:
            self.error = f"alert stream unreadable: {exc}"
            await asyncio.sleep(1.0)
            return 0
        self.error = ""
        mine = 0
        for entry in entries:
            if self.belongs(entry.alert.transaction_id):
                mine += 1
                self.on_alert(entry.alert.transaction_id, entry.alert.latency_ms)
        return mine

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll()


class DecisionFollower:
    """Reads the decision log (`transaction-scores`) from its end at start, in a thread.

    Only this run's decisions are kept, in a queue the event loop drains; they tell how
    much of the run the job has scored, and what it decided.
    """

    def __init__(self, settings: Settings, belongs: Callable[[str], bool]) -> None:
        self.settings = settings
        self.belongs = belongs
        self.decisions: deque[DecisionRecord] = deque()
        # At-least-once log: a replay after a failure repeats decisions; first per id counts.
        self.dedupe = DecisionDeduper()
        self.invalid = 0
        self.error = ""
        self.available = False
        self._consumer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 3.0) -> None:
        """Assign every partition at its current end; on any failure, stay unavailable."""
        try:
            from confluent_kafka import Consumer, TopicPartition

            kafka = self.settings.kafka
            consumer = Consumer(
                {
                    "bootstrap.servers": kafka.bootstrap,
                    **librdkafka_security(kafka),
                    "group.id": "fraudctl-simulate",
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                    "logger": _QUIET,
                    "error_cb": lambda _err: None,
                }
            )
            topic = kafka.scores_topic
            metadata = consumer.list_topics(topic, timeout=timeout_s)
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                consumer.close()
                self.error = f"topic {topic} not found: the job's decisions are not followed"
                return
            assignment = []
            for partition in described.partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
                assignment.append(TopicPartition(topic, partition, high))
            consumer.assign(assignment)
        except Exception as exc:  # Kafka is optional for the simulator
            first = exc.args[0] if exc.args else exc
            detail = first.str() if hasattr(first, "str") else str(first)
            self.error = (
                f"cannot read the decision log ({self.settings.kafka.scores_topic} at "
                f"{self.settings.kafka.bootstrap}: {detail}); precision/recall come from "
                "alerts alone"
            )
            return
        self._consumer = consumer
        self.available = True
        self._thread = threading.Thread(target=self._loop, name="decision-log", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=1000, timeout=0.2)
            except Exception as exc:
                self.error = f"decision log: {exc}"
                self._stop.wait(1.0)
                continue
            for message in messages:
                if message.error() is not None:
                    continue
                try:
                    decision = parse_decision(message.value())
                except InvalidDecision:
                    self.invalid += 1
                    continue
                if self.belongs(decision.transaction_id) and self.dedupe.first(
                    decision.transaction_id
                ):
                    self.decisions.append(decision)

    def drain(self) -> list[DecisionRecord]:
        out = []
        while self.decisions:
            out.append(self.decisions.popleft())
        return out

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
