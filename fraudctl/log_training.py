"""Training from the job's decision log: what `fraudctl train --from-log` and the backtest's
retrains share.

The decision log (`transaction-scores`) holds the features every transaction was scored
with, label-risk features included, exactly as the job saw them; the labels topic holds
the verdicts that have arrived. Joining the two by transaction id gives a training set
that never contains anything the job could not have known.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from foundation.settings import Settings
    from models.training import ModelCard

# Transactions whose id starts with this are not traffic (e.g. the backtest's rollout
# probes, sent to make every scoring subtask look at the registry) and are never learnt from.
PROBE_PREFIX: Final = "probe-"

Say = Callable[[str], None]


@dataclass
class JoinedLog:
    """Decision-log rows with a verdict: the features the job logged, and fraud or not."""

    user: list[list[float]] = field(default_factory=list)
    label: list[list[float]] = field(default_factory=list)
    fraud: list[bool] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    summary: dict[str, int] = field(default_factory=lambda: {"decisions": 0, "labels": 0})


def join_log(decisions: Iterator[bytes], labels: Iterator[bytes], delay_ms: int) -> JoinedLog:
    """Join on transaction_id; the latest label wins; unlabelled rows older than the delay
    (counted from the newest label) are taken as genuine, newer ones left out."""
    from models.contracts.decision import parse_decision
    from models.contracts.label import Label
    from models.features import FEATURE_NAMES
    from models.label_risk import LABEL_FEATURE_NAMES

    joined = JoinedLog()
    verdicts: dict[str, tuple[int, bool]] = {}
    for raw in labels:
        joined.summary["labels"] += 1
        try:
            label = Label.from_json(raw)
        except ValueError as error:
            joined.skipped[f"bad label: {str(error)[:80]}"] += 1
            continue
        known = verdicts.get(label.transaction_id)
        if known is None or label.labelled_at >= known[0]:
            verdicts[label.transaction_id] = (label.labelled_at, label.label == "fraud")
    newest = max((at for at, _ in verdicts.values()), default=0)
    seen: set[str] = set()
    for raw in decisions:
        joined.summary["decisions"] += 1
        try:
            record = parse_decision(raw)
        except ValueError as error:
            joined.skipped[f"bad decision: {str(error)[:80]}"] += 1
            continue
        if record.transaction_id.startswith(PROBE_PREFIX):
            joined.skipped["probe transaction (not traffic)"] += 1
            continue
        if record.transaction_id in seen:
            joined.skipped["repeated decision (kept the first)"] += 1
            continue
        seen.add(record.transaction_id)
        features = record.features
        if any(name not in features for name in (*FEATURE_NAMES, *LABEL_FEATURE_NAMES)):
            joined.skipped["logged with other features (older job or feature set)"] += 1
            continue
        verdict = verdicts.get(record.transaction_id)
        if verdict is None:
            if record.event_time_ms > newest - delay_ms:
                joined.skipped["no label yet (newer than the label delay)"] += 1
                continue
            fraud = False
        else:
            fraud = verdict[1]
        joined.user.append([float(features[name]) for name in FEATURE_NAMES])
        joined.label.append([float(features[name]) for name in LABEL_FEATURE_NAMES])
        joined.fraud.append(fraud)
        joined.times.append(record.event_time_ms)
    return joined


def read_topic(bootstrap: str, topic: str, idle_s: float = 10.0) -> Iterator[bytes]:
    """Every message value of `topic`, from the beginning to the end seen at the start."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    from foundation.kafka_security import reader_config
    from foundation.settings import get_settings

    consumer = Consumer(
        reader_config(
            get_settings().kafka,
            f"fraudctl-train-{uuid.uuid4().hex[:8]}",
            **{"bootstrap.servers": bootstrap, "auto.offset.reset": "earliest"},
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise ValueError(f"Kafka topic {topic!r} at {bootstrap} does not exist")
        ends: dict[int, int] = {}
        for partition in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        idle = 0.0
        while ends:
            messages = consumer.consume(1000, timeout=1.0)
            idle = 0.0 if messages else idle + 1.0
            if idle >= idle_s:
                raise ValueError(f"reading {topic!r} stalled with {len(ends)} partitions left")
            for message in messages:
                if message.error() is not None:
                    raise ValueError(f"reading {topic!r}: {message.error()}")
                value = message.value()
                if value is not None:
                    yield value
                partition, offset = message.partition(), message.offset()
                if partition in ends and offset is not None and offset >= ends[partition] - 1:
                    del ends[partition]
    except KafkaException as error:
        raise ValueError(f"cannot read {topic!r} from Kafka at {bootstrap}: {error}") from None
    finally:
        consumer.close()


def train_from_log(
    settings: Settings,
    delay_ms: int,
    directory: Path,
    target_precision: float,
    say: Say | None = None,
) -> tuple[ModelCard, dict[str, Any]]:
    """Read the decision log and the labels from Kafka, train the classifier, publish it
    to the registry in `directory` as the current version; the card and a summary.

    Raises ValueError (or LookupError) when the log cannot be read or holds too little
    to learn from; nothing is published then.
    """
    import numpy as np

    from models.pipeline import PackageConfig, train_from_rows
    from models.supervised import SupervisedConfig

    tell = say or (lambda _text: None)
    bootstrap = settings.kafka.bootstrap
    joined = join_log(
        read_topic(bootstrap, settings.kafka.scores_topic),
        read_topic(bootstrap, settings.kafka.labels_topic),
        delay_ms,
    )
    tell(
        f"decision log: {joined.summary['decisions']:,} decisions, "
        f"{joined.summary['labels']:,} labels, {len(joined.fraud):,} rows usable"
    )
    for reason, count in joined.skipped.most_common():
        tell(f"  left out {count:,}: {reason}")
    if len(joined.fraud) < 100 or not any(joined.fraud):
        raise ValueError(
            f"the decision log has {len(joined.fraud):,} usable rows "
            f"({sum(joined.fraud):,} fraud): too little to learn from yet"
        )
    config = PackageConfig(
        output_dir=directory,
        supervised=SupervisedConfig(label_delay_ms=delay_ms, target_precision=target_precision),
    )
    summary = {**joined.summary, "skipped": dict(joined.skipped)}
    card = train_from_rows(
        np.array(joined.user, dtype=np.float64),
        np.array(joined.label, dtype=np.float64),
        np.array(joined.fraud, dtype=bool),
        np.array(joined.times, dtype=np.int64),
        config,
        {"source": "decision log", **summary},
    )
    return card, {"log": summary}
