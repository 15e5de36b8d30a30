"""A trivial PyFlink job for the stack test: Kafka source -> python map -> Redis list.

It proves the connector jars are on the cluster's classpath and that the TaskManager runs
our venv's python (the map imports `redis`, which only the venv has). The source is
bounded (from the earliest record to the end offsets at start), so the job finishes by
itself: cancelling a Python job in process mode can take its TaskManager down with it.
"""

from __future__ import annotations

import sys

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import MapFunction, RuntimeContext, StreamExecutionEnvironment
from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource


class ToRedis(MapFunction):  # type: ignore[misc]
    def __init__(self, redis_port: int, key: str) -> None:
        self.redis_port = redis_port
        self.key = key
        self.client = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from foundation.redis_client import sync_client

        self.client = sync_client(host="127.0.0.1", port=self.redis_port)

    def map(self, value: str) -> str:
        self.client.rpush(self.key, value)  # type: ignore[attr-defined]
        return value


def main() -> None:
    bootstrap, topic, redis_port, key, name = sys.argv[1:6]
    env = StreamExecutionEnvironment.get_execution_environment()
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(bootstrap)
        .set_topics(topic)
        .set_group_id("fraudctl-stack-probe")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "probe-source")
    stream.map(ToRedis(int(redis_port), key), output_type=Types.STRING()).name("to-redis")
    env.execute_async(name)


if __name__ == "__main__":
    main()
