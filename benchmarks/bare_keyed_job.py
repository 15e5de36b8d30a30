"""The baseline for the job benchmark: same Kafka source, JSON parse, key_by(user_id), a
counter in keyed state, one small JSON record per transaction to a Kafka topic.

Submitted by benchmarks/bench_job.py with `flink run -py`; settings come from FRAUDCTL_*.
Usage: bare_keyed_job.py <output-topic> <group-id> <job-name>
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_job.connectors import kafka_source, make_environment, string_sink
from foundation.settings import get_settings


class CountPerUser(KeyedProcessFunction):  # type: ignore[misc]
    """Trivial keyed state: how many transactions this user has made."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        record = json.loads(value)
        seen = (self.count.value() or 0) + 1
        self.count.update(seen)
        yield json.dumps(
            {
                "transaction_id": record.get("transaction_id"),
                "received_at": record.get("received_at"),
                "scored_at": time.time_ns() // 1_000_000,
                "count": seen,
            }
        )


def user_of(value: str) -> str:
    try:
        return str(json.loads(value).get("user_id", ""))
    except ValueError:
        return ""


def main() -> None:
    out_topic, group_id, name = sys.argv[1:4]
    settings = get_settings()
    env = make_environment(settings)
    source = kafka_source(settings, settings.kafka.transactions_topic, group_id)
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "transactions")
    # like the scoring job: one reader per partition, keyed operator at job.parallelism
    stream.set_parallelism(min(settings.kafka.partitions, settings.flink.slots))
    (
        stream.key_by(user_of, key_type=Types.STRING())
        .process(CountPerUser(), output_type=Types.STRING())
        .name("count per user")
        .sink_to(string_sink(settings, out_topic))
        .name("bench output")
    )
    env.execute_async(name)


if __name__ == "__main__":
    main()
