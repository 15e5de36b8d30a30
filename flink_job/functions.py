"""The job's Python functions: parse/validate, per-user scoring with labels, alert writing.

They are pickled into the job graph on the client and run in the TaskManager's Python
workers; the logic they call (records, ordering, label_state, model_switch, alert_sink) is
plain Python. Between operators a validated transaction travels as a tuple of plain values
(see records.to_wire): cheaper to pickle across the Java/Python boundary than the object.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Generator, Iterator
from typing import Any

import orjson
from pyflink.common import Row, Types
from pyflink.common.time import Time
from pyflink.datastream import (
    KeyedBroadcastProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

from flink_job import ordering, pyflink_fixes
from flink_job.alert_sink import AlertTarget, RedisAlertWriter
from flink_job.label_state import LabelMirror, parse_label, unresolved_reason, usable
from flink_job.model import ModelPackage
from flink_job.model_switch import (
    ActiveModelTarget,
    ModelSwitch,
    open_registry,
    redis_publisher,
)
from flink_job.records import (
    Wire,
    alert_record,
    dead_letter,
    decision_record,
    from_wire,
    invalid_reason,
    parse_transaction,
    raw_of,
    to_wire,
)
from flink_job.rule_state import (
    RULE_STATE,
    WINDOWS_STATE,
    RuleMirror,
    UserWindows,
    decision_record_with_hits,
    evaluate_rules,
    is_rule_record,
    with_hits,
)
from foundation.clock import now_ms
from models.contracts.label import InvalidLabel
from models.contracts.transaction import InvalidTransaction
from models.features import UserState, update_and_extract
from models.label_risk import LABEL_FEATURE_NAMES, NO_LABEL_FEATURES

# Timer results of a keyed broadcast function reach their side outputs (thread mode).
pyflink_fixes.install()

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
ALERTS = OutputTag("alerts", Types.PICKLED_BYTE_ARRAY())
# A decision for the log, keyed by user: (user_id, decision JSON).
DECISION_ROW = Types.ROW_NAMED(["key", "value"], [Types.STRING(), Types.STRING()])
CACHED_USERS = 20_000
# How far ahead of its gateway arrival a transaction may move the watermark (clock skew).
WATERMARK_AHEAD_MS = 1_000
# How often the scorer asks the JVM for the watermark (a call per record cost ~7 % of it).
WATERMARK_READ_MS = 20
# The LabelRiskBook in broadcast state (see label_state.py): key -> book image / label JSON.
LABEL_STATE = MapStateDescriptor("label-risk", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


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
        # The watermark sees the event time clamped to arrival (one future-dated record
        # must not make the decisions after it late); features see the real event time.
        yield Row(txn.user_id, to_wire(txn)), ordering.watermark_time(txn, WATERMARK_AHEAD_MS)


class ParseLabels(ProcessFunction):
    """Kafka label JSON -> validated label JSON for the broadcast; bad or unresolved labels
    get a dead letter (stage "label") saying why. The label on its topic is left as it is."""

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            label = parse_label(value)
        except InvalidLabel as error:
            reason = f"invalid label: {error}"
            yield DEAD_LETTERS, dead_letter(value, reason, now_ms(), stage="label")
            return
        except Exception as error:  # one odd record must never stop the job
            reason = f"the label could not be read ({type(error).__name__}: {error})"
            yield DEAD_LETTERS, dead_letter(value, reason, now_ms(), stage="label")
            return
        unresolved = unresolved_reason(label)
        if unresolved is not None:
            letter = dead_letter(
                value, unresolved, now_ms(), stage="label", transaction_id=label.transaction_id
            )
            yield DEAD_LETTERS, letter
        if usable(label):
            yield label.to_json().decode()


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


class ScoreTransactions(KeyedBroadcastProcessFunction):
    """Per user, on arrival: update features, add label risk, score, log, alert (and
    correct the decisions a late-arriving earlier transaction changes, see ordering.py).

    The keyed side is the user's transactions; the broadcast side is every label, kept in
    a LabelRiskBook (broadcast state + an in-memory mirror, see label_state.py). The model
    follows the registry's current version (model_switch.py) without a restart.
    """

    def __init__(
        self,
        package: ModelPackage,
        state_ttl_s: int,
        artifacts_dir: str | None = None,
        active_target: ActiveModelTarget | None = None,
    ) -> None:
        self.package = package
        self.state_ttl_s = state_ttl_s
        self.artifacts_dir = artifacts_dir
        self.active_target = active_target
        self.switch: ModelSwitch | None = None
        self.rules = RuleMirror()
        self.rule_windows: UserWindows | None = None
        self.labels = LabelMirror()
        self.label_state: Any = None
        self.slots: Any = None
        self.cache = SlotCache(CACHED_USERS, state_ttl_s * 1000)
        self._watermark_value = ordering.NO_EVENT
        self._watermark_read_at = ordering.NO_EVENT

    def open(self, runtime_context: RuntimeContext) -> None:
        descriptor = ValueStateDescriptor("user", Types.PICKLED_BYTE_ARRAY())
        # Cleanup strategies are spelled out: PyFlink's default background strategy builds a
        # java Duration through py4j, which does not exist inside a thread-mode worker.
        ttl = (
            StateTtlConfig.new_builder(Time.seconds(self.state_ttl_s))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .disable_cleanup_in_background()
            .cleanup_incrementally(3, False)  # entries checked per access: ample, cheap
            .cleanup_full_snapshot()
            .build()
        )
        descriptor.enable_time_to_live(ttl)
        self.slots = runtime_context.get_state(descriptor)
        windows = ValueStateDescriptor(WINDOWS_STATE, Types.PICKLED_BYTE_ARRAY())
        windows.enable_time_to_live(ttl)
        self.rule_windows = UserWindows(runtime_context.get_state(windows))
        self.rules = RuleMirror()  # restored from broadcast state on first use
        self.cache = SlotCache(CACHED_USERS, self.state_ttl_s * 1000)
        self._watermark_value = ordering.NO_EVENT
        self._watermark_read_at = ordering.NO_EVENT
        self.labels = LabelMirror()  # restored from broadcast state on first use
        self.label_state = None
        subtask = pyflink_fixes.subtask_index(runtime_context)
        publish = None
        if self.active_target is not None:
            publish = redis_publisher(self.active_target, subtask)
        registry = open_registry(self.artifacts_dir) if self.artifacts_dir else None
        self.switch = ModelSwitch(registry, self.package.detector, publish)
        self.switch.start(now_ms())

    def _slot(self, key: str, now: int) -> ordering.UserSlot:
        slot = self.cache.get(key, now)
        return slot if slot is not None else ordering.UserSlot.from_state(self.slots.value())

    def _save(self, key: str, slot: ordering.UserSlot, now: int) -> None:
        self.slots.update(slot.to_state())
        self.cache.put(key, slot, now)

    def _prepare(self, now: int, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> None:
        """Before scoring: the label book restored (once), the model maybe swapped."""
        if self.labels.book is None:
            self.labels.restore(ctx.get_broadcast_state(LABEL_STATE))
        if self.rules.ruleset is None:
            self.rules.restore(ctx.get_broadcast_state(RULE_STATE))
        switch = self.switch
        assert switch is not None
        if now >= switch.next_check_ms:
            switch.maybe_reload(now)

    def process_element(
        self, value: Wire, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext
    ) -> Iterator[Any]:
        now = now_ms()
        self._prepare(now, ctx)
        txn = from_wire(value)
        key = txn.user_id  # the key it was routed by (ParseTransactions): no JVM call
        slot = self._slot(key, now)
        # Scored on arrival; one that overtook scored ones puts them right (ordering.py).
        start, steps = ordering.admit(slot, txn)
        scoring = self._score(start, steps)
        # A synthetic transaction of `fraudctl up`'s warm-up (fraudctl/warmup.py) takes the
        # same path, so the JVMs compile it before real traffic comes, but nothing of it
        # leaves (no decision, alert or dead letter) and its state is not kept. Dropped
        # here, not by a filter before the writers: a new operator would keep the job from
        # restoring its earlier checkpoints.
        warmup = txn.is_warmup
        state = _drain(scoring) if warmup else (yield from scoring)
        ordering.settle(slot, steps, state, self._watermark(now, ctx))
        if warmup:
            self._forget(slot)
        else:
            self._save(key, slot, now)

    def _forget(self, slot: ordering.UserSlot) -> None:
        """A warm-up user's state: written like a payment's (that path gets compiled too),
        then cleared with the user's rule windows, and never cached."""
        self.slots.update(slot.to_state())
        self.slots.clear()
        assert self.rule_windows is not None
        self.rule_windows.state.clear()

    def _watermark(self, now: int, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> int:
        """The operator's watermark, read from the JVM at most every WATERMARK_READ_MS.

        Older by at most that much, it only keeps a transaction replayable a little longer
        (ordering.settle trims the window up to it), never drops one too early."""
        if now - self._watermark_read_at >= WATERMARK_READ_MS:
            self._watermark_value = ctx.timer_service().current_watermark()
            self._watermark_read_at = now
        return self._watermark_value

    def process_broadcast_element(
        self, value: str, ctx: KeyedBroadcastProcessFunction.Context
    ) -> None:
        """One label (validated by ParseLabels) into the book and the broadcast state."""
        if is_rule_record(value):  # a rule change (ParseRules), not a label
            self.rules.apply(value, ctx.get_broadcast_state(RULE_STATE))
            return
        if self.label_state is None:  # the backend hands out one state object per operator
            self.label_state = ctx.get_broadcast_state(LABEL_STATE)
        with contextlib.suppress(InvalidLabel):  # cannot happen after ParseLabels
            self.labels.add(parse_label(value), self.label_state)

    def _score(
        self, state: UserState | None, steps: list[ordering.Step]
    ) -> Generator[Any, None, UserState | None]:
        """Score the steps in order from `state`; returns the user's state after them."""
        for step in steps:
            step.before = state
            try:
                state = yield from self._score_one(state, step)
            except Exception as error:  # one record must never stop the job
                step.absorbed = False  # the state it would have made is dropped with it
                reason = f"scoring failed ({type(error).__name__}: {error}); state kept"
                yield DEAD_LETTERS, dead_letter(raw_of(step.txn), reason, now_ms(), stage="score")
        return state

    def _score_one(
        self, state: UserState | None, step: ordering.Step
    ) -> Generator[Any, None, UserState | None]:
        assert self.switch is not None and self.switch.detector is not None
        assert self.labels.book is not None
        txn = step.txn
        result = update_and_extract(state, txn)
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
            return state
        book = self.labels.book
        label_features = (
            book.features(txn.merchant_id, txn.user_id, txn.card_fingerprint, txn.event_time_ms)
            if len(book)
            else NO_LABEL_FEATURES
        )
        decision = self.switch.detector.decide(result.vector, result.evidence, label_features)
        scored_at = now_ms()
        step.absorbed = True
        extra = dict(zip(LABEL_FEATURE_NAMES, label_features, strict=True))
        hits = evaluate_rules(
            self.rules, self.rule_windows, txn, result.vector, extra, step.correction
        )
        if hits:  # operator rules: their reasons added; an `alert` rule flags
            decision = with_hits(decision, hits)
        if decision.flagged:
            alert = alert_record(txn, decision, result.vector, scored_at, extra_features=extra)
            yield ALERTS, alert
        if hits:
            record = decision_record_with_hits(
                txn, decision, result.vector, scored_at, hits, late=step.late, extra_features=extra
            )
            yield Row(txn.user_id, as_correction(record) if step.correction else record)
            return result.state
        record = decision_record(
            txn,
            decision,
            result.vector,
            scored_at,
            late=step.late,
            anomaly_score=decision.anomaly_score,
            extra_features=extra,
        )
        yield Row(txn.user_id, as_correction(record) if step.correction else record)
        return result.state


def _drain(steps: Generator[Any, None, UserState | None]) -> UserState | None:
    """Run `steps` to the end, dropping everything it yields; what it returns."""
    try:
        while True:
            next(steps)
    except StopIteration as done:
        state: UserState | None = done.value
        return state


def as_correction(record: str) -> str:
    """A decision that replaces an earlier one of the same transaction (ordering.py)."""
    return orjson.dumps({**orjson.loads(record), "correction": True}).decode()


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
