"""The job graph of "Stateful Fraud Detection with Redis Alerts", separate from its entry point.

transactions (Kafka) -> parse & validate --(invalid)--> transactions-dlq
    -> event time (bounded out-of-orderness) -> key_by(user_id) ----------------+
transaction-labels (Kafka) -> parse labels --(invalid, unresolved)--> dlq      |
fraud-rules (Kafka table) -> parse rules --(invalid)--> dlq                     |
    -> union -> broadcast to every scoring subtask (labels + rules) ------------+
    -> score per user (reorder, features, label risk, model, reasons) --(duplicate)--> dlq
        -> every decision -> transaction-scores (Kafka)
        -> flagged -> Redis stream fraud:alerts (idempotent, retried) -> discard
    (the warm-up's synthetic users, fraudctl/warmup.py, are scored and then dropped: no
    decision, alert or dead letter, their state cleared)

The scorer follows the model registry in `settings.model.artifacts_dir` (hot reload, see
model_switch.py): that directory must be readable by the TaskManagers.
"""

from __future__ import annotations

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from flink_job.alert_sink import AlertTarget
from flink_job.connectors import (
    attach_keyed_string_sink,
    discarding_sink,
    kafka_source,
    string_sink,
)
from flink_job.functions import (
    ALERTS,
    DEAD_LETTERS,
    DECISION_ROW,
    LABEL_STATE,
    ParseLabels,
    ParseTransactions,
    ScoreTransactions,
    WriteAlerts,
)
from flink_job.model import ModelPackage
from flink_job.model_switch import ActiveModelTarget
from flink_job.plumbing import key_by_with_event_time, keyed_value_type
from flink_job.rule_state import RULE_STATE, rule_stream
from foundation.kafka_topics import SCORING_GROUP_ID
from foundation.settings import Settings

IDLE_PARTITION_MS = 5_000
LABELS_GROUP_ID = f"{SCORING_GROUP_ID}-labels"
# Labels are rare: their input is marked idle soon so it never holds back the watermark.
IDLE_LABELS_MS = 1_000


def alert_target(settings: Settings) -> AlertTarget:
    cfg = settings.redis
    return AlertTarget(
        host=cfg.host,
        port=cfg.port,
        stream=cfg.alerts_stream,
        maxlen=cfg.stream_maxlen,
        marker_ttl_s=cfg.alert_dedupe_ttl_s,
    )


def build_job(
    env: StreamExecutionEnvironment,
    settings: Settings,
    package: ModelPackage,
    scorer_class: type[ScoreTransactions] = ScoreTransactions,
) -> None:
    """Add the whole pipeline to `env` (sources, operators, sinks); the caller executes it.

    `scorer_class` lets a benchmark run the same graph with a variant of the scorer
    (benchmarks/scoring_parts_job.py); the job itself always uses ScoreTransactions.
    """
    kafka, job = settings.kafka, settings.job
    # One reader per partition (as far as slots allow): each partition then has its own
    # watermark, so a backlog read from two partitions does not make one of them "late".
    ingest_parallelism = min(kafka.partitions, settings.flink.slots)
    raw = env.from_source(
        kafka_source(settings, kafka.transactions_topic),
        WatermarkStrategy.no_watermarks(),
        "transactions (Kafka)",
    ).uid("transactions-source")
    raw.set_parallelism(ingest_parallelism)

    wire = Types.PICKLED_BYTE_ARRAY()  # records.to_wire tuples
    parsed = raw.process(ParseTransactions(), output_type=keyed_value_type(wire))
    parsed = parsed.name("parse & validate").uid("parse").set_parallelism(ingest_parallelism)
    by_user = key_by_with_event_time(parsed, wire, job.out_of_orderness_ms, IDLE_PARTITION_MS)
    labels = label_stream(env, settings)
    rules = rule_stream(env, settings)  # operator rules (rule_state.py)
    scorer = scorer_class(
        package,
        job.state_ttl_s,
        artifacts_dir=str(settings.model.artifacts_dir),
        active_target=ActiveModelTarget(settings.redis.host, settings.redis.port),
    )
    scored = (
        by_user.connect(labels.union(rules).broadcast(LABEL_STATE, RULE_STATE))
        .process(scorer, output_type=DECISION_ROW)
        .name("score per user (labels, rules, hot-reloaded model)")
        .uid("score-per-user")
    )

    attach_keyed_string_sink(env, settings, scored, kafka.scores_topic, "decision_log")
    (
        parsed.get_side_output(DEAD_LETTERS)
        .union(
            scored.get_side_output(DEAD_LETTERS),
            labels.get_side_output(DEAD_LETTERS),
            rules.get_side_output(DEAD_LETTERS),
        )
        .sink_to(string_sink(settings, kafka.dlq_topic))
        .name("dead letters (Kafka)")
        .uid("dead-letters")
    )
    (
        scored.get_side_output(ALERTS)
        .map(WriteAlerts(alert_target(settings)), output_type=Types.STRING())
        .name("alerts -> Redis stream")
        .uid("redis-alerts")
        # Its own task thread: each write waits for Redis's fsync (appendfsync always, ~1-4
        # ms here); chained, that wait stalled the scorer's thread once per alert.
        .start_new_chain()
        .sink_to(discarding_sink())
        .name("alerts written")
    )


def label_stream(env: StreamExecutionEnvironment, settings: Settings) -> DataStream:
    """Validated label JSON from `transaction-labels` (one reader: labels are few).

    Its watermark follows the Kafka record time (the wall clock when the label was posted)
    and the input goes idle after a second without labels, so joining it never holds back
    the transactions' event-time watermark at the scorer.
    """
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_idleness(
        Duration.of_millis(IDLE_LABELS_MS)
    )
    raw = env.from_source(
        kafka_source(settings, settings.kafka.labels_topic, LABELS_GROUP_ID),
        strategy,
        "labels (Kafka)",
    ).uid("labels-source")
    raw.set_parallelism(1)
    parsed = raw.process(ParseLabels(), output_type=Types.STRING())
    return parsed.name("parse labels").uid("parse-labels").set_parallelism(1)
