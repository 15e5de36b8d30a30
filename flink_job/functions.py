"""The job's Python functions: parse/validate, per-user scoring, alert writing.

They are pickled into the job graph on the client and run in the TaskManager's Python
workers; the logic they call (records, ordering, model, alert_sink) is plain Python.
Between operators a validated transaction travels as a tuple of plain values (see
records.to_wire): cheaper to pickle across the Java/Python boundary than the object.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.common.time import Time
from pyflink.datastream import (
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from flink_job import ordering
from flink_job.alert_sink import AlertTarget, RedisAlertWriter
from flink_job.model import ModelPackage
from flink_job.records import (
    Wire,
    alert_record,
    dead_letter,
    decision_record,
    from_wire,
    invalid_reason,
    now_ms,
    parse_transaction,
    raw_of,
    to_wire,
)
from models.detector import Detector
from models.features import update_and_extract
from models.transaction import InvalidTransaction

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
ALERTS = OutputTag("alerts", Types.PICKLED_BYTE_ARRAY())
# A decision for the log, keyed by user: (user_id, decision JSON).
DECISION_ROW = Types.ROW_NAMED(["key", "value"], [Types.STRING(), Types.STRING()])
CACHED_USERS = 20_000


class ParseTransactions(ProcessFunction):
    """Kafka JSON -> ((user_id, wire tuple), event ms); invalid records -> dead letters."""

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            txn = parse_transaction(value)
        except InvalidTransaction as error:
            yield DEAD_LETTERS, dead_letter(value, invalid_reason(error), now_ms())
            return
        except Exception as error:  # one odd record must never stop the job
            reason = f"the record could not be read ({type(error).__name__}: {error})"
            yield DEAD_LETTERS, dead_letter(value, reason, now_ms())
            return
        yield Row(txn.user_id, to_wire(txn)), txn.event_time_ms


class SlotCache:
    """Recently used users' slots, so a read does not unpickle and rebuild the state.

    Every change is still written to Flink state (that is what checkpoints hold); the cache
    only spares reads. It lives in one function instance, which Flink creates afresh on
    every (re)start and restore, and entries idle longer than the state TTL are ignored.
    """

    def __init__(self, capacity: int, ttl_ms: int) -> None:
        self.capacity = capacity
        self.ttl_ms = ttl_ms
        self.entries: OrderedDict[str, tuple[int, ordering.UserSlot]] = OrderedDict()

    def get(self, key: str, now: int) -> ordering.UserSlot | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if now - entry[0] > self.ttl_ms:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, slot: ordering.UserSlot, now: int) -> None:
        self.entries[key] = (now, slot)
        self.entries.move_to_end(key)
        if len(self.entries) > self.capacity:
            self.entries.popitem(last=False)


class ScoreTransactions(KeyedProcessFunction):
    """Per user: order by event time, update features, score, log every decision, alert."""

    def __init__(self, package: ModelPackage, hold_ms: int, state_ttl_s: int) -> None:
        self.package = package
        self.hold_ms = hold_ms
        self.max_hold_ms = hold_ms * 10
        self.state_ttl_s = state_ttl_s
        self.detector: Detector | None = None
        self.slots: Any = None
        self.cache = SlotCache(CACHED_USERS, state_ttl_s * 1000)

    def open(self, runtime_context: RuntimeContext) -> None:
        descriptor = ValueStateDescriptor("user", Types.PICKLED_BYTE_ARRAY())
        # Cleanup strategies are spelled out: PyFlink's default background strategy builds a
        # java Duration through py4j, which does not exist inside a thread-mode worker.
        ttl = (
            StateTtlConfig.new_builder(Time.seconds(self.state_ttl_s))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .disable_cleanup_in_background()
            .cleanup_incrementally(10, False)
            .cleanup_full_snapshot()
            .build()
        )
        descriptor.enable_time_to_live(ttl)
        self.slots = runtime_context.get_state(descriptor)
        self.detector = self.package.detector()
        self.cache = SlotCache(CACHED_USERS, self.state_ttl_s * 1000)

    def _slot(self, key: str, now: int) -> ordering.UserSlot:
        slot = self.cache.get(key, now)
        return slot if slot is not None else ordering.UserSlot.from_state(self.slots.value())

    def _save(self, key: str, slot: ordering.UserSlot, now: int) -> None:
        self.slots.update(slot.to_state())
        self.cache.put(key, slot, now)

    def process_element(self, value: Wire, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        now = now_ms()
        key = ctx.get_current_key()
        txn = from_wire(value)
        slot = self._slot(key, now)
        timers = ctx.timer_service()
        if self.hold_ms == 0:
            released = ordering.pass_through(slot, txn, timers.current_watermark())
        else:
            was_waiting = bool(slot.pending)
            released = ordering.admit(slot, txn, now, timers.current_watermark())
            if slot.pending and not was_waiting:
                timers.register_processing_time_timer(now + self.hold_ms)
        yield from self._score(slot, released)
        self._save(key, slot, now)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        now = now_ms()
        key = ctx.get_current_key()
        slot = self._slot(key, now)
        if not slot.pending:
            return
        released = ordering.release_due(slot, now, self.hold_ms, self.max_hold_ms)
        deadline = ordering.next_deadline(slot, self.hold_ms, self.max_hold_ms)
        if deadline is not None:
            ctx.timer_service().register_processing_time_timer(max(deadline, timestamp + 1))
        if released:
            yield from self._score(slot, released)
            self._save(key, slot, now)

    def _score(self, slot: ordering.UserSlot, released: list[ordering.Released]) -> Iterator[Any]:
        for item in released:
            try:
                yield from self._score_one(slot, item)
            except Exception as error:  # one record must never stop the job
                reason = f"scoring failed ({type(error).__name__}: {error}); state kept"
                yield DEAD_LETTERS, dead_letter(raw_of(item.txn), reason, now_ms(), stage="score")

    def _score_one(self, slot: ordering.UserSlot, item: ordering.Released) -> Iterator[Any]:
        assert self.detector is not None
        txn = item.txn
        result = update_and_extract(slot.features, txn)
        if result.duplicate:
            reason = (
                f"transaction_id {txn.transaction_id!r} was already scored for user "
                f"{txn.user_id!r}: a repeated transaction is not scored twice"
            )
            yield (
                DEAD_LETTERS,
                dead_letter(
                    raw_of(txn), reason, now_ms(), stage="score", transaction_id=txn.transaction_id
                ),
            )
            return
        decision = self.detector.decide(result.vector, result.evidence)
        scored_at = now_ms()
        slot.features = result.state
        if decision.flagged:
            yield ALERTS, alert_record(txn, decision, result.vector, scored_at)
        record = decision_record(txn, decision, result.vector, scored_at, late=item.late)
        yield Row(txn.user_id, record)


class WriteAlerts(MapFunction):
    """The Redis alert sink: one idempotent, retried write per flagged transaction."""

    def __init__(self, target: AlertTarget) -> None:
        self.target = target
        self.writer: RedisAlertWriter | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.writer = RedisAlertWriter(self.target)

    def map(self, value: dict[str, Any]) -> str:
        assert self.writer is not None
        entry = self.writer.write(value)
        return entry or ""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
