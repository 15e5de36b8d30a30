"""Operator rules in the scoring operator: parsed once, kept in broadcast state, compiled.

The rules topic is read by a third source (from the earliest offset on a first start, from
the checkpoint after a restore) and parsed by `ParseRules` (bad records -> dead letters,
the job keeps running). The source is a Kafka *table* with raw key and value formats: a
tombstone (null value) then arrives as (rule id, None) — the DataStream source's string
schema would fail the job on a null value, and could not tell whose it was. Valid records
join the label stream as tagged strings (`RULE_TAG` + JSON), because a keyed broadcast
function has one broadcast input. Every scoring subtask keeps the rules in broadcast state
(checkpointed, key = rule id) and a compiled `RuleSet` in memory that is rebuilt only when
a rule changes, never per record.

Per user, the window events of windowed rules (and the breaches already alerted) live in
their own keyed value state, read and written only while a windowed rule is enabled (so
rules without windows cost no state access). A correction (ordering.py) takes back the
transaction's earlier window events before it is evaluated again, and a breach that moves
to an earlier, late-arriving transaction does not alert twice (`UserRuleState`). The
mirror is pure Python: state is anything with put/remove/items.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from pyflink.common import Types
from pyflink.datastream import DataStream, ProcessFunction, StreamExecutionEnvironment
from pyflink.datastream.state import MapStateDescriptor

from flink_job.records import dead_letter, feature_map
from foundation.clock import now_ms
from foundation.kafka_security import java_security
from foundation.settings import Settings
from models.contracts.decision import decision_json
from models.contracts.rule import InvalidRule, Rule, RuleRemoval, parse_rule_record
from models.contracts.transaction import Transaction
from models.detector import Decision
from models.features import FEATURE_NAMES
from models.rules_engine import CompiledRule, Event, RuleHit, RuleSet, RuleWindows

# A rule record on the broadcast stream (labels are JSON objects: they start with '{').
RULE_TAG = "rule\x1e"
WINDOWS_STATE = "rule-windows"
RULES_GROUP_ID = "fraudctl-scoring-rules"
# Rules are rare: their input goes idle soon so it never holds back the event-time watermark.
IDLE_RULES = "1 s"
# The rules in the scorer's broadcast state: rule id -> rule JSON.
RULE_STATE = MapStateDescriptor("operator-rules", Types.STRING(), Types.STRING())


class RuleState(Protocol):
    """The part of Flink's broadcast state the mirror uses."""

    def items(self) -> Any: ...


class WritableRuleState(RuleState, Protocol):
    def put(self, key: str, value: Any) -> None: ...
    def remove(self, key: str) -> None: ...


def is_rule_record(value: str) -> bool:
    return value.startswith(RULE_TAG)


def parse_rule_message(key: str | None, raw: str | None) -> Rule | RuleRemoval | None:
    """A record of `fraud-rules`: a rule, a removal (marker or tombstone), or None (a
    tombstone without a key: nothing to remove). A rule's id must be its key."""
    if raw is None:
        return RuleRemoval(key, 0) if key else None
    parsed = parse_rule_record(raw)
    if key is not None and parsed.id != key:
        raise InvalidRule([("id", f"is {parsed.id!r} but the record's key is {key!r}")])
    return parsed


class ParseRules(ProcessFunction):
    """`fraud-rules` (key, JSON) -> tagged rule records for the broadcast; bad ones -> dead
    letters (stage "rule") saying which field is wrong."""

    def __init__(self, dead_letters: Any) -> None:
        self.dead_letters = dead_letters  # the job's dead-letter side-output tag

    def process_element(self, row: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        key, value = row[0], row[1]
        try:
            parsed = parse_rule_message(key, value)
        except InvalidRule as error:
            reason = f"invalid rule: {error}"
            yield self.dead_letters, dead_letter(value or "", reason, now_ms(), stage="rule")
            return
        except Exception as error:  # one odd record must never stop the job
            reason = f"the rule could not be read ({type(error).__name__}: {error})"
            yield self.dead_letters, dead_letter(value or "", reason, now_ms(), stage="rule")
            return
        if parsed is not None:
            yield RULE_TAG + parsed.to_json().decode()


class RuleMirror:
    """The subtask's rules: broadcast state (rule id -> JSON) and the compiled set."""

    def __init__(self) -> None:
        self.ruleset: RuleSet | None = None  # None until restored (first use after open)
        self.rules: dict[str, Rule] = {}
        self.changes = 0

    def restore(self, state: RuleState) -> RuleSet:
        """Rebuild from broadcast state (a rule a newer contract refuses is skipped)."""
        self.rules = {}
        for key, value in dict(state.items() or ()).items():
            try:
                parsed = parse_rule_record(value)
            except InvalidRule:
                continue
            if isinstance(parsed, Rule):
                self.rules[str(key)] = parsed
        self.ruleset = RuleSet(self.rules.values())
        return self.ruleset

    def apply(self, record: str, state: WritableRuleState) -> None:
        """One tagged rule record; the last record per id wins, as on the compacted topic."""
        if self.ruleset is None:
            self.restore(state)
        parsed = parse_rule_record(record[len(RULE_TAG) :])
        if isinstance(parsed, RuleRemoval):
            self.rules.pop(parsed.id, None)
            state.remove(parsed.id)
        else:
            self.rules[parsed.id] = parsed
            state.put(parsed.id, parsed.to_json().decode())
        self.ruleset = RuleSet(self.rules.values())
        self.changes += 1


def rule_features(vector: Sequence[float], extra: Mapping[str, float]) -> dict[str, float]:
    """The features a rule may read: the model's and the job's extra ones (label risk)."""
    features = dict(zip(FEATURE_NAMES, vector, strict=True))
    features.update(extra)
    return features


def with_hits(decision: Decision, hits: Sequence[RuleHit]) -> Decision:
    """The decision with the rules' reasons added; an `alert` hit flags it."""
    flagged = decision.flagged or any(hit.alerts for hit in hits)
    reasons = (*decision.reasons, *(hit.reason() for hit in hits))
    return dataclasses.replace(decision, flagged=flagged, reasons=reasons)


def decision_record_with_hits(
    txn: Transaction,
    decision: Decision,
    vector: Sequence[float],
    scored_at: int,
    hits: Sequence[RuleHit],
    *,
    late: bool,
    extra_features: Mapping[str, float],
) -> str:
    """The decision-log line of a transaction that hit rules (`rule_hits` filled in)."""
    return decision_json(
        txn,
        score=decision.score,
        threshold=decision.threshold,
        flagged=decision.flagged,
        reasons=decision.reasons,
        features=feature_map(vector, extra_features),
        model_version=decision.model_version,
        scored_at=scored_at,
        late=late,
        anomaly_score=decision.anomaly_score,
        rule_hits=[hit.to_dict() for hit in hits],
    )


def evaluate_rules(
    mirror: RuleMirror,
    windows: UserWindows | None,
    txn: Transaction,
    vector: Sequence[float],
    extra: Mapping[str, float],
    correction: bool = False,
) -> list[RuleHit]:
    """The hits of the enabled rules on one transaction (its user's keyed state current).

    `correction`: the transaction was scored before and is scored again in event-time
    order (ordering.py); its earlier window events are taken back first, so the windows
    end up as if every transaction had arrived in order.
    """
    ruleset = mirror.ruleset
    if not ruleset:
        return []
    features = rule_features(vector, extra) if ruleset.uses_features else {}
    if not ruleset.windowed or windows is None:
        return ruleset.evaluate(
            txn, txn.event_time_ms, features, None if not ruleset.windowed else RuleWindows()
        )
    user = windows.load()
    if correction:
        retract(ruleset, user.windows, txn, features)
    hits = ruleset.evaluate(txn, txn.event_time_ms, features, user.windows)
    if hits:
        hits = user.once_per_breach(ruleset, txn, hits)
    windows.save(user)
    return hits


def _group(rule: CompiledRule, txn: Transaction) -> str:
    return "" if rule.group_by == "user" else txn.card_fingerprint


def retract(
    ruleset: RuleSet, windows: RuleWindows, txn: Transaction, features: Mapping[str, float]
) -> None:
    """Take one (event time, value) of `txn` out of each window it was counted in."""
    for rule in ruleset.compiled:
        if not rule.window_ms or not rule.matches(txn, txn.event_time_ms, features):
            continue
        events = windows.data.get(rule.tag, {}).get(_group(rule, txn))
        event = (txn.event_time_ms, rule.sample(txn))
        if events and event in events:
            events.remove(event)
            windows.changed = True


class UserRuleState:
    """One user's rule state: the window events and the breaches already alerted.

    A breach is alerted once, in real time. Transactions arriving out of order can move a
    breach: the payment that crossed the limit on arrival (alerted) may, once an earlier
    one arrives, no longer cross it, while the earlier one now does. The later hit is the
    same breach: it stays in the decision as a `tag` hit and does not alert again.
    """

    __slots__ = ("alerted", "changed", "windows")

    def __init__(self, windows: RuleWindows, alerted: dict[str, dict[str, list[Event]]]) -> None:
        self.windows = windows
        self.alerted = alerted  # rule tag -> group -> (event ms, value) of alerted hits
        self.changed = False

    def once_per_breach(
        self, ruleset: RuleSet, txn: Transaction, hits: list[RuleHit]
    ) -> list[RuleHit]:
        by_tag = {(rule.rule.id, rule.rule.version): rule for rule in ruleset.compiled}
        kept: list[RuleHit] = []
        for hit in hits:
            rule = by_tag.get((hit.rule_id, hit.version))
            if rule is None or not rule.window_ms or not hit.alerts:
                kept.append(hit)
                continue
            group = _group(rule, txn)
            alerted = self.alerted.setdefault(rule.tag, {}).setdefault(group, [])
            event_ms = txn.event_time_ms
            # alerted hits that fell out of every window still in reach are forgotten
            alerted[:] = [e for e in alerted if e[0] > event_ms - 2 * rule.window_ms]
            if any(self._superseded(rule, group, earlier, event_ms) for earlier in alerted):
                message = f"{hit.message} (this breach was already alerted)"
                kept.append(dataclasses.replace(hit, action="tag", message=message))
            else:
                event = (event_ms, rule.sample(txn))
                if event not in alerted:  # a correction that hits again: one entry
                    alerted.append(event)
                kept.append(hit)
            self.changed = True
        return kept

    def _superseded(self, rule: CompiledRule, group: str, alerted: Event, event_ms: int) -> bool:
        """Whether an alerted hit no longer crosses the limit now that a transaction at
        `event_ms` (earlier, in its window) is counted: then both are one breach."""
        at, value = alerted
        if not event_ms <= at < event_ms + rule.window_ms:
            return False
        events = list(self.windows.data.get(rule.tag, {}).get(group, ()))
        if (at, value) in events:
            events.remove((at, value))
        low = bisect_right(events, at - rule.window_ms, key=_event_ms)
        high = bisect_right(events, at, key=_event_ms)
        before, _ = rule.aggregate_of(events[low:high], value)
        return rule.crossed(before)


def _event_ms(event: Event) -> int:
    return event[0]


class UserWindows:
    """Reads and writes one user's rule state in keyed state, only when rules need it."""

    FORMAT = "rules-2"

    def __init__(self, state: Any) -> None:
        self.state = state  # a keyed ValueState (PICKLED_BYTE_ARRAY)

    def load(self) -> UserRuleState:
        data = self.state.value()
        if isinstance(data, tuple) and len(data) == 3 and data[0] == self.FORMAT:
            alerted = data[2] if isinstance(data[2], dict) else {}
            return UserRuleState(RuleWindows.from_state(data[1]), alerted)
        return UserRuleState(RuleWindows.from_state(data), {})

    def save(self, user: UserRuleState) -> None:
        if user.windows.changed or user.changed:
            self.state.update((self.FORMAT, user.windows.to_state(), user.alerted))
            user.windows.changed = False
            user.changed = False


def rule_source_ddl(settings: Settings, table: str = "fraud_rules_source") -> str:
    """The Kafka table of `fraud-rules`: raw key and value (null stays null), Kafka record
    time as event time with an idle timeout, earliest offset on a first start."""
    kafka = settings.kafka
    options = {
        "connector": "kafka",
        "topic": kafka.rules_topic,
        "properties.bootstrap.servers": kafka.bootstrap,
        "properties.group.id": RULES_GROUP_ID,
        "scan.startup.mode": "earliest-offset",
        "scan.watermark.idle-timeout": IDLE_RULES,
        "key.format": "raw",
        "key.fields": "rule_key",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        **{f"properties.{name}": value for name, value in java_security(kafka).items()},
    }
    quoted = ",\n  ".join(f"'{name}' = '{_sql_text(value)}'" for name, value in options.items())
    return (
        f"CREATE TEMPORARY TABLE {table} (\n"
        "  rule_key STRING,\n"
        "  rule_value STRING,\n"
        "  ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,\n"
        "  WATERMARK FOR ts AS ts\n"
        f") WITH (\n  {quoted}\n)"
    )


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def rule_stream(env: StreamExecutionEnvironment, settings: Settings) -> DataStream:
    """Tagged rule records (strings) from `fraud-rules`, parallelism 1, bad ones -> DLQ.

    Its side output `dead_letters` holds the refused records; the caller unions it into
    the job's dead-letter sink and unions the stream with the labels before broadcasting.
    """
    from pyflink.table import StreamTableEnvironment

    from flink_job.functions import DEAD_LETTERS

    tables = StreamTableEnvironment.create(env)
    tables.execute_sql(rule_source_ddl(settings))
    rows = tables.to_data_stream(
        tables.sql_query("SELECT rule_key, rule_value FROM fraud_rules_source")
    )
    parsed = rows.process(ParseRules(DEAD_LETTERS), output_type=Types.STRING())
    return parsed.name("parse rules").uid("parse-rules").set_parallelism(1)
