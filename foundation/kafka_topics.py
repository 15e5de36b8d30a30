"""The pipeline's Kafka topics: declared once (names from the settings), created once.

`fraudctl up` (the broker's start-up), `fraudctl submit` (a stack made by an older version)
and the compose stack (`python -m foundation.kafka_topics`) all call `ensure_topics`, so a
topic's partitions and config cannot differ by who created it. Idempotent: missing topics
are created with their config, existing ones get the declared config set again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from foundation.settings import KafkaSettings, get_settings

# Flink's KafkaSink stamps each record with the element's timestamp, which for the job is
# the transaction's event time: the broker would reject one more than an hour ahead of its
# clock, and delete an old one at once by time-based retention. The broker's clock it is.
BROKER_TIME = {"message.timestamp.type": "LogAppendTime"}
# The scoring job's consumer group on `transactions`: it commits the offsets of each completed
# checkpoint, which is how `fraudctl up`'s warm-up knows the job got through its records.
SCORING_GROUP_ID = "fraudctl-scoring"


class KafkaTopicError(RuntimeError):
    """A topic could not be created or configured; the message names it and the broker."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the pipeline needs it (replication 1: a single local broker)."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def pipeline_topics(kafka: KafkaSettings) -> tuple[TopicSpec, ...]:
    """Every topic of the pipeline, from the settings."""
    return (
        TopicSpec(kafka.transactions_topic, kafka.partitions),
        TopicSpec(kafka.dlq_topic, kafka.partitions, BROKER_TIME),
        TopicSpec(kafka.scores_topic, kafka.partitions, BROKER_TIME),
        # Labels join transactions by key, so they are partitioned the same way; kept long
        # enough to retrain on.
        TopicSpec(
            kafka.labels_topic,
            kafka.partitions,
            {"retention.ms": str(kafka.labels_retention_ms)},
        ),
        # The latest version of each rule, by rule id; one partition keeps them in order.
        TopicSpec(kafka.rules_topic, 1, {"cleanup.policy": "compact"}),
    )


def admin_client(
    bootstrap: str, *, timeout_s: float = 5.0, kafka: KafkaSettings | None = None
) -> Any:
    """An AdminClient; TLS/SASL options from `kafka` (default: the process settings)."""
    from confluent_kafka.admin import AdminClient

    from foundation.kafka_security import librdkafka_security

    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            **librdkafka_security(kafka if kafka is not None else get_settings().kafka),
            "socket.timeout.ms": int(timeout_s * 1000),
            "log_level": 0,  # connection-refused noise while a broker boots
        }
    )


def ensure_topics(
    bootstrap: str,
    topics: Iterable[TopicSpec],
    *,
    timeout_s: float = 15.0,
    admin: Any = None,
) -> list[str]:
    """Create the missing topics and set the declared config on all; the names created."""
    from confluent_kafka import KafkaException

    admin = admin if admin is not None else admin_client(bootstrap)
    wanted = list(topics)
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as error:
        raise KafkaTopicError(f"cannot list the topics on {bootstrap}: {error}") from None
    created = _create(admin, bootstrap, [t for t in wanted if t.name not in existing], timeout_s)
    _configure(admin, bootstrap, [t for t in wanted if t.name in existing and t.config], timeout_s)
    return created


def _create(admin: Any, bootstrap: str, missing: list[TopicSpec], timeout_s: float) -> list[str]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    if not missing:
        return []
    new = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, config=dict(t.config))
        for t in missing
    ]
    created = []
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):  # another process was faster
                raise KafkaTopicError(
                    f"creating topic {name} on {bootstrap} failed: {error}"
                ) from None
            continue
        created.append(str(name))
    return created


def _configure(admin: Any, bootstrap: str, topics: list[TopicSpec], timeout_s: float) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
    )

    if not topics:
        return
    resources = [
        ConfigResource(
            "TOPIC",
            t.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in t.config.items()
            ],
        )
        for t in topics
    ]
    for resource, future in admin.incremental_alter_configs(resources).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            raise KafkaTopicError(
                f"could not configure topic {resource.name} on {bootstrap} ({error})"
            ) from None


def main() -> int:
    """Create the pipeline's topics on the broker the settings name (one-shot containers)."""
    kafka = get_settings().kafka
    try:
        created = ensure_topics(kafka.bootstrap, pipeline_topics(kafka))
    except KafkaTopicError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    names = ", ".join(t.name for t in pipeline_topics(kafka))
    print(f"topics on {kafka.bootstrap}: {names} (created now: {', '.join(created) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
