"""The job's decision log (`transaction-scores`) as the backtest reads it.

A follower thread starts at the log's end when the run begins (every id of the run is new,
being tagged with the run's tag, so nothing earlier can be ours) and keeps the first
decision per transaction id of this run. The replay counts them to know when the job
has caught up; the report joins them with the file's labels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foundation.kafka_security import librdkafka_security
from foundation.settings import Settings
from models.contracts.decision import (
    DecisionDeduper,
    DecisionRecord,
    InvalidDecision,
    parse_decision,
)

_QUIET = logging.getLogger("fraudctl.backtest.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """What the report needs from one decision record (the full record holds features)."""

    transaction_id: str
    score: float
    threshold: float | None
    flagged: bool
    anomaly_score: float | None
    model_version: str | None
    card_fingerprint: str | None
    merchant_id: str | None


def slim(record: DecisionRecord) -> LoggedDecision:
    return LoggedDecision(
        transaction_id=record.transaction_id,
        score=record.score,
        threshold=record.threshold,
        flagged=record.flagged,
        anomaly_score=record.anomaly_score,
        model_version=record.model_version,
        card_fingerprint=record.card_fingerprint,
        merchant_id=record.merchant_id,
    )


class DecisionLogError(RuntimeError):
    """The decision log cannot be read (broker down, topic missing)."""


class DecisionCollector:
    """Keeps the first decision for each id `wanted(id)` accepts, read in a thread."""

    def __init__(self, settings: Settings, wanted: Callable[[str], bool]) -> None:
        self.settings = settings
        self.wanted = wanted
        self.decisions: dict[str, LoggedDecision] = {}
        self.dedupe = DecisionDeduper()  # the log is at-least-once; ids are the key
        self.duplicates = 0
        self.unparsed = 0
        self.error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Assign every partition at its current end; raise DecisionLogError if impossible."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        kafka = self.settings.kafka
        topic = kafka.scores_topic
        consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                **librdkafka_security(kafka),
                "group.id": "fraudctl-backtest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.max.bytes": 8_388_608,
                "logger": _QUIET,
                "error_cb": lambda _err: None,
            }
        )
        try:
            described = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise DecisionLogError(
                    f"topic {topic} not found at {kafka.bootstrap}: is the scoring job running? "
                    "(`fraudctl job submit`)"
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
            raise DecisionLogError(f"cannot read {topic} at {kafka.bootstrap}: {exc}") from None
        except DecisionLogError:
            consumer.close()
            raise
        self._consumer = consumer
        self._thread = threading.Thread(target=self._loop, name="backtest-decisions", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=2000, timeout=0.2)
            except Exception as exc:  # keep going: the broker may come back
                self.error = f"decision log: {exc}"
                self._stop.wait(1.0)
                continue
            self.add_values(m.value() for m in messages if m.error() is None)

    def add_values(self, values: Any) -> None:
        """Parse and keep decision values (the thread's loop; also used by tests)."""
        with self._lock:
            for value in values:
                try:
                    decision = slim(parse_decision(value))
                except InvalidDecision:
                    self.unparsed += 1
                    continue
                if not self.wanted(decision.transaction_id):
                    continue
                if not self.dedupe.first(decision.transaction_id):
                    self.duplicates += 1
                    continue
                self.decisions[decision.transaction_id] = decision

    def count(self) -> int:
        with self._lock:
            return len(self.decisions)

    def snapshot(self) -> dict[str, LoggedDecision]:
        with self._lock:
            return dict(self.decisions)

    def wait_for(
        self,
        expected: int,
        *,
        stall_s: float,
        on_progress: Callable[[int], None] | None = None,
        poll_s: float = 0.25,
    ) -> bool:
        """Block until `expected` decisions are in; False when none arrived for `stall_s`."""
        last, last_change = -1, time.monotonic()
        while True:
            got = self.count()
            if on_progress is not None:
                on_progress(got)
            if got >= expected:
                return True
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                return False
            time.sleep(poll_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
