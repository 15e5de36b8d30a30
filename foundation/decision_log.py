"""Following the job's decision log (`transaction-scores`) from its end, in a thread.

The one client that tools use to watch decisions as they are made (the simulator's live
quality, the backtest's replay): it assigns every partition at its current end, parses
each record with the decision contract, keeps only the ids `wanted` accepts, and drops
repeats with `DecisionDeduper` (the log is at-least-once: a replay after a failure repeats
decisions, and the first per transaction id is the one that counts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from foundation.kafka_security import reader_config
from foundation.settings import Settings
from models.contracts.decision import (
    DecisionDeduper,
    DecisionRecord,
    InvalidDecision,
    parse_decision,
)

_QUIET = logging.getLogger("foundation.decision_log.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class DecisionLogUnavailable(RuntimeError):
    """The decision log cannot be read (broker down, topic missing)."""


class DecisionLogTail:
    """Calls `on_decision` once per new transaction id that `wanted` accepts.

    `on_decision` runs in the follower's thread; counters (`duplicates`, `invalid`) and
    `error` (the last read problem, "" once reads work again) are for display.
    """

    def __init__(
        self,
        settings: Settings,
        group: str,
        wanted: Callable[[str], bool],
        on_decision: Callable[[DecisionRecord], None],
    ) -> None:
        self.settings = settings
        self.group = group
        self.wanted = wanted
        self.on_decision = on_decision
        self.dedupe = DecisionDeduper()
        self.duplicates = 0
        self.invalid = 0
        self.error = ""
        self._stop = threading.Event()
        self._consumer: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Assign every partition at its current end; raise DecisionLogUnavailable if not."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        kafka = self.settings.kafka
        topic = kafka.scores_topic
        consumer = Consumer(
            reader_config(kafka, self.group, **{"fetch.max.bytes": 8_388_608, "logger": _QUIET})
        )
        try:
            described = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise DecisionLogUnavailable(
                    f"topic {topic} not found at {kafka.bootstrap}: is the scoring job "
                    "running? (`fraudctl submit`)"
                )
            assignment = []
            for partition in described.partitions:
                _low, end = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
                assignment.append(TopicPartition(topic, partition, end))
            consumer.assign(assignment)
        except KafkaException as exc:
            consumer.close()
            first = exc.args[0] if exc.args else exc
            detail = first.str() if hasattr(first, "str") else str(first)
            raise DecisionLogUnavailable(
                f"cannot read {topic} at {kafka.bootstrap}: {detail}"
            ) from None
        except DecisionLogUnavailable:
            consumer.close()
            raise
        self._consumer = consumer
        self._thread = threading.Thread(target=self._loop, name="decision-log", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=2000, timeout=0.2)
            except Exception as exc:  # keep going: the broker may come back
                self.error = f"decision log: {exc}"
                self._stop.wait(1.0)
                continue
            self.error = ""
            self.add_values(m.value() for m in messages if m.error() is None)

    def add_values(self, values: Iterable[bytes | str | None]) -> None:
        """Parse, filter and deduplicate raw values (the thread's loop; tests call it too)."""
        for value in values:
            if value is None:
                self.invalid += 1
                continue
            try:
                decision = parse_decision(value)
            except InvalidDecision:
                self.invalid += 1
                continue
            if not self.wanted(decision.transaction_id):
                continue
            if not self.dedupe.first(decision.transaction_id):
                self.duplicates += 1
                continue
            self.on_decision(decision)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
