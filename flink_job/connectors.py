"""Kafka source and sinks, the discarding sink and the job configuration, built from Settings.

Everything here runs on the client while the job graph is built (pyflink talks to a JVM
through py4j); nothing runs inside the TaskManager's Python workers.
"""

from __future__ import annotations

import os
import sysconfig
from typing import Any

from pyflink.common import Configuration
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors import DeliveryGuarantee, Sink
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)
from pyflink.java_gateway import get_gateway

from foundation.kafka_security import java_security
from foundation.kafka_topics import SCORING_GROUP_ID
from foundation.settings import REPO_ROOT, Settings

FETCH_MAX_WAIT_MS = 100  # see kafka_source
# The codec of the job's Kafka writers (how long they linger: `job.log_linger_ms`).
SINK_COMPRESSION = "lz4"


def job_parallelism(settings: Settings) -> int:
    """One scoring subtask per Kafka partition (at least `job.parallelism`), so adding
    TaskManagers (each its own Python interpreter) adds scoring capacity; never more than
    the cluster's slots."""
    flink = settings.flink
    wanted = max(settings.job.parallelism, settings.kafka.partitions)
    return max(1, min(wanted, flink.slots * flink.taskmanagers))


def bundle_time_ms(execution_mode: str) -> int:
    """How long a Python bundle may stay open.

    In process mode records wait in a bundle until it finishes, so it is kept short (5 ms).
    In thread mode every record is handled when it arrives and finishing a bundle does
    nothing, but each Python operator still runs a timer at this period through its task's
    mailbox: at 5 ms that was a third of an idle TaskManager's CPU (0.25 cores fell to
    0.17), taken from the gateway and the scorer. So there it is Flink's default, 1 s.
    """
    return 5 if execution_mode == "process" else 1000


def job_configuration(settings: Settings) -> Configuration:
    """Flink options for the job: execution mode, checkpoints, restarts, low-latency buffers."""
    job = settings.job
    config = Configuration()
    options: dict[str, str] = {
        "python.execution-mode": job.execution_mode,
        "parallelism.default": str(job_parallelism(settings)),
        "execution.checkpointing.interval": f"{job.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        # A Redis outage stalls the alert writer and with it the barriers: a few checkpoints
        # may time out while it retries. Bounded, so a full disk (every checkpoint failing)
        # fails the job visibly (it restarts, the restart count shows) instead of hiding.
        "execution.checkpointing.tolerable-failed-checkpoints": str(
            job.tolerable_failed_checkpoints
        ),
        "execution.checkpointing.timeout": f"{job.checkpoint_timeout_s} s",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": str(job.retained_checkpoints),
        # A lost TaskManager is an infrastructure failure: keep restarting, never give up.
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "5 s",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": "2147483647",
        "pipeline.auto-watermark-interval": "50 ms",
        "python.fn-execution.bundle.size": "1000",
        "python.fn-execution.bundle.time": str(bundle_time_ms(job.execution_mode)),
        # A 5 ms network flush: an alert waits for no buffer to fill up.
        "execution.buffer-timeout.interval": "5 ms",
        # Thread mode embeds CPython in the TaskManager JVM; that interpreter does not read
        # the venv's pyvenv.cfg, so it is told where the venv and this project live.
        "python.pythonpath": os.pathsep.join([sysconfig.get_paths()["purelib"], str(REPO_ROOT)]),
    }
    for key, value in options.items():
        config.set_string(key, value)
    return config


def kafka_source(settings: Settings, topic: str, group_id: str = SCORING_GROUP_ID) -> KafkaSource:
    """Strings from `topic`: committed group offsets (earliest on first start), offsets
    committed to Kafka when a checkpoint completes and restored from checkpoints on restart."""
    return (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka.bootstrap)
        .set_topics(topic)
        .set_group_id(group_id)
        .set_client_id_prefix(group_id)
        .set_starting_offsets(
            KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
        )
        .set_value_only_deserializer(SimpleStringSchema())
        .set_property("commit.offsets.on.checkpoint", "true")
        .set_property("partition.discovery.interval.ms", "30000")
        # How long the broker may hold a fetch that finds nothing new. It answers the moment
        # a record arrives (fetch.min.bytes 1), so this adds no latency; it only decides how
        # often an idle reader asks again (5 ms made every idle reader cost CPU in the
        # TaskManager and the broker, taken from the gateway and the scorer).
        .set_property("fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
        .set_properties(java_security(settings.kafka))
        .build()
    )


def string_sink(settings: Settings, topic: str) -> KafkaSink:
    """UTF-8 strings to `topic`, at least once (flushed on every checkpoint)."""
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka.bootstrap)
        .set_record_serializer(serializer)
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .set_property("linger.ms", str(settings.job.log_linger_ms))
        .set_property("compression.type", SINK_COMPRESSION)
    )
    for key, value in java_security(settings.kafka).items():
        builder = builder.set_property(key, value)
    return builder.build()


def attach_keyed_string_sink(
    env: StreamExecutionEnvironment,
    settings: Settings,
    rows: DataStream,
    topic: str,
    name: str,
) -> None:
    """Rows (key, value) of strings to `topic`, key and value raw UTF-8, at least once.

    The DataStream KafkaSink of PyFlink can only serialise the whole element, so the
    Table API's Kafka connector (key.fields) writes the key; its records carry no event
    timestamp either. `rows` must be `Types.ROW_NAMED(["key", "value"], [STRING, STRING])`.
    """
    from pyflink.table import Schema, StreamTableEnvironment, TableDescriptor
    from pyflink.table.types import DataTypes

    tables = StreamTableEnvironment.create(env)
    builder = TableDescriptor.for_connector("kafka")
    for key, value in java_security(settings.kafka).items():
        builder = builder.option(f"properties.{key}", value)
    descriptor = (
        builder.schema(
            Schema.new_builder()
            .column("key", DataTypes.STRING())
            .column("value", DataTypes.STRING())
            .build()
        )
        .option("topic", topic)
        .option("properties.bootstrap.servers", settings.kafka.bootstrap)
        .option("properties.linger.ms", str(settings.job.log_linger_ms))
        .option("properties.compression.type", SINK_COMPRESSION)
        .option("key.format", "raw")
        .option("key.fields", "key")
        .option("value.format", "raw")
        .option("value.fields-include", "EXCEPT_KEY")
        .option("sink.delivery-guarantee", "at-least-once")
        .build()
    )
    tables.create_temporary_table(name, descriptor)
    statements = tables.create_statement_set()
    statements.add_insert(name, tables.from_data_stream(rows))
    statements.attach_as_datastream()


def discarding_sink() -> Sink:
    """Flink's DiscardingSink: ends a branch whose work is a side effect (the Redis writes)."""
    jvm: Any = get_gateway().jvm
    return Sink(jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink())


def make_environment(settings: Settings) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment(job_configuration(settings))
    env.set_parallelism(job_parallelism(settings))
    return env
