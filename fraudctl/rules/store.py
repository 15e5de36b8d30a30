"""The rules as stored: the compacted Kafka topic `fraud-rules`, key = rule id.

Reading replays the topic from its first offset to its end; the last record per key wins
(a rule, a removal marker or a null tombstone). Writing produces one record with acks=all
and waits for the broker, so a command that says "stored" means it is durable and the job
will read it. Versions are assigned here: one more than the last version of that id, also
when it was removed, so every change (add, edit, enable, disable, remove) has its own
version. Two operators editing the same rule at the same moment both win in order; the
later record is the rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from foundation.kafka_security import librdkafka_security, reader_config
from foundation.settings import KafkaSettings
from models.contracts.rule import InvalidRule, Rule, RuleRemoval, parse_rule_record


class RuleStoreError(RuntimeError):
    """The rules topic could not be read or written; the message names the broker."""


class UnknownRule(KeyError):
    """No rule with that id is stored."""

    def __str__(self) -> str:
        return f"no rule {self.args[0]!r} is stored (see `fraudctl rules list`)"


@dataclass
class StoredRules:
    """What the topic holds now."""

    rules: dict[str, Rule] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # last version, removed ones too
    bad: list[tuple[int, str]] = field(default_factory=list)  # (offset, why) not rules

    def apply(self, key: str | None, value: bytes | None, offset: int) -> None:
        """One record of the topic, in offset order."""
        if value is None:
            if key is not None:
                self.rules.pop(key, None)
            return
        try:
            parsed = parse_rule_record(value)
        except InvalidRule as error:
            self.bad.append((offset, str(error)))
            return
        self.versions[parsed.id] = max(self.versions.get(parsed.id, 0), parsed.version)
        if isinstance(parsed, RuleRemoval):
            self.rules.pop(parsed.id, None)
        else:
            self.rules[parsed.id] = parsed

    def next_version(self, rule_id: str) -> int:
        return self.versions.get(rule_id, 0) + 1

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise UnknownRule(rule_id) from None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RuleStore:
    """Read and write `settings.kafka.rules_topic`."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.kafka = kafka
        self.topic = kafka.rules_topic
        self.timeout_s = timeout_s
        self.clock = clock

    def read(self) -> StoredRules:
        """Every rule now on the topic (a missing topic is an error: the stack is not up)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        consumer = Consumer(
            reader_config(
                self.kafka,
                "fraudctl-rules-reader",
                **{"socket.connection.setup.timeout.ms": 3000},
            )
        )
        stored = StoredRules()
        deadline = time.monotonic() + self.timeout_s
        try:
            ends = self._ends(consumer)
            pending = {p: high for p, (low, high) in ends.items() if high > low}
            if not pending:
                return stored
            consumer.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(pending)]
            )
            while pending:
                if time.monotonic() > deadline:
                    raise RuleStoreError(
                        f"reading {self.topic} at {self.kafka.bootstrap} took over "
                        f"{self.timeout_s:g}s; is the broker overloaded?"
                    )
                for message in consumer.consume(num_messages=500, timeout=0.5):
                    if message.error() is not None:
                        continue
                    part, offset = message.partition(), message.offset() or 0
                    if part not in pending:
                        continue
                    key = message.key()
                    stored.apply(key.decode() if key else None, message.value(), offset)
                    if offset >= pending[part] - 1:
                        del pending[part]
        except KafkaException as error:
            raise RuleStoreError(
                f"cannot read {self.topic} at {self.kafka.bootstrap}: {error}"
            ) from None
        finally:
            consumer.close()
        return stored

    def _ends(self, consumer: Any) -> dict[int, tuple[int, int]]:
        from confluent_kafka import TopicPartition

        wait = min(3.0, self.timeout_s)
        metadata = consumer.list_topics(self.topic, timeout=wait)
        described = metadata.topics.get(self.topic)
        if described is None or described.error is not None or not described.partitions:
            raise RuleStoreError(
                f"topic {self.topic} does not exist at {self.kafka.bootstrap}: "
                "start the stack with `fraudctl up`"
            )
        return {
            part: consumer.get_watermark_offsets(TopicPartition(self.topic, part), timeout=wait)
            for part in described.partitions
        }

    def put(self, rule: Rule, stored: StoredRules | None = None) -> Rule:
        """Store `rule` as the next version of its id; the rule as stored."""
        stored = stored if stored is not None else self.read()
        saved = replace(rule, version=stored.next_version(rule.id), updated_at=self.clock())
        self._produce([(saved.id, saved.to_json())])
        stored.rules[saved.id] = saved
        stored.versions[saved.id] = saved.version
        return saved

    def set_enabled(self, rule_id: str, enabled: bool) -> tuple[Rule, bool]:
        """Enable or disable; (the rule, whether it changed). No change writes nothing."""
        stored = self.read()
        rule = stored.get(rule_id)
        if rule.enabled == enabled:
            return rule, False
        return self.put(replace(rule, enabled=enabled), stored), True

    def remove(self, rule_id: str) -> RuleRemoval:
        """A removal marker (what the job sees) then a tombstone (what compaction keeps)."""
        stored = self.read()
        stored.get(rule_id)
        marker = RuleRemoval(rule_id, stored.next_version(rule_id))
        self._produce([(rule_id, marker.to_json()), (rule_id, None)])
        return marker

    def _produce(self, records: list[tuple[str, bytes | None]]) -> None:
        from confluent_kafka import KafkaException, Producer

        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        producer = Producer(
            {
                "bootstrap.servers": self.kafka.bootstrap,
                **librdkafka_security(self.kafka),
                "acks": "all",
                "enable.idempotence": True,
                "message.timeout.ms": int(self.timeout_s * 1000),
                "error_cb": lambda _error: None,
            }
        )
        try:
            for key, value in records:
                producer.produce(self.topic, key=key.encode(), value=value, on_delivery=delivered)
            left = producer.flush(self.timeout_s)
        except (KafkaException, BufferError) as error:
            raise RuleStoreError(
                f"cannot write to {self.topic} at {self.kafka.bootstrap}: {error}"
            ) from None
        if failures or left:
            why = failures[0] if failures else f"{left} record(s) not confirmed in time"
            raise RuleStoreError(
                f"the rule was not stored on {self.topic} at {self.kafka.bootstrap}: {why}"
            )
