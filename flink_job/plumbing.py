"""Event time and key_by(user_id) without an extra Python operator per record.

PyFlink's own `assign_timestamps_and_watermarks(...)` + `key_by(...)` run two more Python
functions per record (one extracts the timestamp, one the key) with Java operators in
between, so each transaction crosses the Java/Python boundary, and is pickled, twice more.
`ParseTransactions` already knows both, so it emits `((user_id, txn), event_ms)` and this
module wires the same Java pieces PyFlink uses internally (CustomTimestampAssigner,
RemoveTimestampMapFunction, KeyByKeySelector) straight onto it.
"""

from __future__ import annotations

from typing import Any

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import DataStream, KeyedStream
from pyflink.java_gateway import get_gateway

KEY_TYPE = Types.STRING()


def keyed_value_type(value_type: TypeInformation) -> TypeInformation:
    """What the parse step emits: ((key, value), event time in ms)."""
    return Types.TUPLE([Types.ROW([KEY_TYPE, value_type]), Types.LONG()])


def key_by_with_event_time(
    stream: DataStream,
    value_type: TypeInformation,
    out_of_orderness_ms: int,
    idle_timeout_ms: int,
) -> KeyedStream:
    """Assign event time + bounded-out-of-orderness watermarks, then key by the given key."""
    jvm: Any = get_gateway().jvm
    eventtime = jvm.org.apache.flink.streaming.api.functions.python.eventtime
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(out_of_orderness_ms)
    ).with_idleness(Duration.of_millis(idle_timeout_ms))
    j_timed = stream._j_data_stream.assignTimestampsAndWatermarks(
        strategy._j_watermark_strategy.withTimestampAssigner(eventtime.CustomTimestampAssigner())
    )
    parallelism = stream._j_data_stream.getParallelism()
    DataStream(j_timed).name("event time & watermarks").uid("event-time")
    j_timed.setParallelism(parallelism)
    row_type = Types.ROW([KEY_TYPE, value_type])
    j_rows = j_timed.map(eventtime.RemoveTimestampMapFunction(), row_type.get_java_type_info())
    j_rows.setParallelism(parallelism)
    rows = DataStream(j_rows).name("key by user").uid("key-by-user")
    j_keyed = j_rows.keyBy(jvm.KeyByKeySelector(), Types.ROW([KEY_TYPE]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, rows)
