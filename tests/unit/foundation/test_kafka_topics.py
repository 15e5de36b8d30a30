"""Topic declaration and creation against a fake admin client (no broker)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from foundation.kafka_topics import KafkaTopicError, TopicSpec, ensure_topics, pipeline_topics
from foundation.settings import KafkaSettings

DAY_MS = 24 * 3600 * 1000


def done(value: Any = None, error: Exception | None = None) -> Future[Any]:
    future: Future[Any] = Future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
    return future


class FakeAdmin:
    def __init__(self, existing: set[str], refuse: dict[str, int] | None = None) -> None:
        self.existing = existing
        self.refuse = refuse or {}
        self.created: list[Any] = []
        self.altered: list[Any] = []

    def list_topics(self, timeout: float) -> Any:
        return type("Metadata", (), {"topics": {name: None for name in self.existing}})()

    def create_topics(self, new: list[Any], operation_timeout: float) -> dict[str, Future[Any]]:
        self.created += new
        return {
            t.topic: done(error=KafkaException(KafkaError(self.refuse[t.topic], "refused")))
            if t.topic in self.refuse
            else done()
            for t in new
        }

    def incremental_alter_configs(self, resources: list[Any]) -> dict[Any, Future[Any]]:
        self.altered += resources
        return {resource: done() for resource in resources}


def test_the_pipeline_declares_every_topic_from_the_settings() -> None:
    kafka = KafkaSettings(partitions=3)
    topics = {t.name: t for t in pipeline_topics(kafka)}
    assert set(topics) == {
        "transactions",
        "transactions-dlq",
        "transaction-scores",
        "transaction-labels",
        "fraud-rules",
    }
    labels = topics["transaction-labels"]
    assert labels.partitions == topics["transactions"].partitions == 3
    assert int(labels.config["retention.ms"]) == 90 * DAY_MS
    assert topics["fraud-rules"].config == {"cleanup.policy": "compact"}
    for output in ("transaction-scores", "transactions-dlq"):
        assert topics[output].config == {"message.timestamp.type": "LogAppendTime"}


def test_missing_topics_are_created_with_config_and_existing_ones_reconfigured() -> None:
    admin = FakeAdmin(existing={"transactions", "transaction-scores"})
    created = ensure_topics("k:9092", pipeline_topics(KafkaSettings()), admin=admin)
    assert created == ["transactions-dlq", "transaction-labels", "fraud-rules"]
    rules = next(t for t in admin.created if t.topic == "fraud-rules")
    assert (rules.num_partitions, rules.replication_factor) == (1, 1)
    assert rules.config == {"cleanup.policy": "compact"}
    # Only existing topics with a declared config are altered (the scores topic).
    assert [r.name for r in admin.altered] == ["transaction-scores"]


def test_a_topic_created_meanwhile_by_another_process_is_fine() -> None:
    admin = FakeAdmin(set(), refuse={"t": KafkaError.TOPIC_ALREADY_EXISTS})
    assert ensure_topics("k:9092", [TopicSpec("t", 1)], admin=admin) == []


def test_a_refused_topic_says_which_and_where() -> None:
    admin = FakeAdmin(set(), refuse={"t": KafkaError.POLICY_VIOLATION})
    with pytest.raises(KafkaTopicError, match=r"creating topic t on k:9092 failed"):
        ensure_topics("k:9092", [TopicSpec("t", 1)], admin=admin)
