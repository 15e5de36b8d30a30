"""The job graph of "Stateful Fraud Detection with Redis Alerts", separate from its entry point.

transactions (Kafka) -> parse & validate --(invalid)--> transactions-dlq
    -> event time (bounded out-of-orderness) -> key_by(user_id)
    -> score per user (reorder, features, model, reasons) --(duplicate)--> transactions-dlq
        -> every decision -> transaction-scores (Kafka)
        -> flagged -> Redis stream fraud:alerts (idempotent, retried) -> discard
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

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
    ParseTransactions,
    ScoreTransactions,
    WriteAlerts,
)
from flink_job.model import ModelPackage
from flink_job.plumbing import key_by_with_event_time, keyed_value_type
from fraudctl.settings import Settings

IDLE_PARTITION_MS = 5_000


def alert_target(settings: Settings) -> AlertTarget:
    cfg = settings.redis
    return AlertTarget(
        host=cfg.host,
        port=cfg.port,
        stream=cfg.alerts_stream,
        maxlen=cfg.stream_maxlen,
        marker_ttl_s=cfg.alert_dedupe_ttl_s,
    )


def build_job(env: StreamExecutionEnvironment, settings: Settings, package: ModelPackage) -> None:
    """Add the whole pipeline to `env` (sources, operators, sinks); the caller executes it."""
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
    scored = (
        by_user.process(
            ScoreTransactions(package, job.reorder_hold_ms, job.state_ttl_s),
            output_type=DECISION_ROW,
        )
        .name(f"score per user ({package.model_version})")
        .uid("score-per-user")
    )

    attach_keyed_string_sink(env, settings, scored, kafka.scores_topic, "decision_log")
    (
        parsed.get_side_output(DEAD_LETTERS)
        .union(scored.get_side_output(DEAD_LETTERS))
        .sink_to(string_sink(settings, kafka.dlq_topic))
        .name("dead letters (Kafka)")
        .uid("dead-letters")
    )
    (
        scored.get_side_output(ALERTS)
        .map(WriteAlerts(alert_target(settings)), output_type=Types.STRING())
        .name("alerts -> Redis stream")
        .uid("redis-alerts")
        .sink_to(discarding_sink())
        .name("alerts written")
    )
