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

Per user, the window events of windowed rules live in their own keyed value state, read
and written only while a windowed rule is enabled (so rules without windows cost no state
access). The mirror is pure Python: state is anything with put/remove/items.
"""

from __future__ import annotations

import dataclasses
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
from models.rules_engine import RuleHit, RuleSet, RuleWindows

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
) -> list[RuleHit]:
    """The hits of the enabled rules on one transaction (its user's keyed state current)."""
    ruleset = mirror.ruleset
    if not ruleset:
        return []
    features = rule_features(vector, extra) if ruleset.uses_features else {}
    if not ruleset.windowed or windows is None:
        return ruleset.evaluate(
            txn, txn.event_time_ms, features, None if not ruleset.windowed else RuleWindows()
        )
    user_windows = windows.load()
    hits = ruleset.evaluate(txn, txn.event_time_ms, features, user_windows)
    windows.save(user_windows)
    return hits


class UserWindows:
    """Reads and writes one user's `RuleWindows` in keyed state, only when rules need it."""

    def __init__(self, state: Any) -> None:
        self.state = state  # a keyed ValueState (PICKLED_BYTE_ARRAY)

    def load(self) -> RuleWindows:
        return RuleWindows.from_state(self.state.value())

    def save(self, windows: RuleWindows) -> None:
        if windows.changed:
            self.state.update(windows.to_state())
            windows.changed = False


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
