"""`fraudctl rules test`: what a rule would have flagged, on a file or the decision log.

The same engine as the job (`models.rules_engine`), fed in event-time order with one
window per user. On a file the model's features are computed by the job's own feature
code; on the decision log they are the features the job logged. Label-risk features exist
only in the log, and the log has no `location`: a rule reading what the data lacks never
matches there, and the report says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from foundation.kafka_security import reader_config
from foundation.settings import Settings
from fraudctl.rules.files import DataFile
from models.contracts.decision import (
    DecisionRecord,
    InvalidDecision,
    parse_decision,
    standing_decisions,
)
from models.contracts.rule import Rule
from models.contracts.transaction import Transaction
from models.features import FEATURE_NAMES, UserState, update_and_extract
from models.rules_engine import RuleSet, RuleWindows

MAX_SHOWN = 1_000


class DecisionLogError(RuntimeError):
    """The decision log could not be read."""


@dataclass(frozen=True, slots=True)
class WouldHit:
    transaction_id: str
    user_id: str
    timestamp: str
    amount: float
    currency: str
    merchant_id: str
    rule_id: str
    action: str
    severity: str | None
    message: str
    model_flagged: bool | None  # from the log: whether the model alone flagged it


@dataclass
class DryRun:
    """The report: every hit (up to MAX_SHOWN listed), counts per rule, what was skipped."""

    source: str
    rules: list[str]
    transactions: int = 0
    hits: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    new_alerts: int = 0  # alerts the model had not raised (log only)
    shown: list[WouldHit] = field(default_factory=list)
    bad_rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rules": self.rules,
            "transactions": self.transactions,
            "hits": self.hits,
            "per_rule": self.per_rule,
            "alerts": self.alerts,
            "new_alerts": self.new_alerts,
            "shown": [vars_of(hit) for hit in self.shown],
            "bad_rows": self.bad_rows,
            "notes": self.notes,
        }


def vars_of(hit: WouldHit) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in WouldHit.__slots__}


def _evaluate(
    rules: list[Rule],
    source: str,
    items: Iterable[tuple[Transaction, dict[str, float], bool | None]],
) -> DryRun:
    ruleset = RuleSet(replace(rule, enabled=True) for rule in rules)
    report = DryRun(source, [rule.id for rule in rules])
    report.per_rule = {rule.id: 0 for rule in rules}
    windows: dict[str, RuleWindows] = {}
    for txn, features, model_flagged in items:
        report.transactions += 1
        user_windows = windows.setdefault(txn.user_id, RuleWindows())
        hits = ruleset.evaluate(txn, txn.event_time_ms, features, user_windows)
        if not hits:
            continue
        alerting = any(hit.alerts for hit in hits)
        report.alerts += alerting
        report.new_alerts += alerting and model_flagged is False
        for hit in hits:
            report.hits += 1
            report.per_rule[hit.rule_id] += 1
            if len(report.shown) < MAX_SHOWN:
                report.shown.append(
                    WouldHit(
                        txn.transaction_id,
                        txn.user_id,
                        txn.timestamp.isoformat().replace("+00:00", "Z"),
                        txn.amount,
                        txn.currency,
                        txn.merchant_id,
                        hit.rule_id,
                        hit.action,
                        hit.severity,
                        hit.message,
                        model_flagged,
                    )
                )
    return report


def dry_run_file(rules: list[Rule], data: DataFile) -> DryRun:
    """Replay a data file (already in event-time order) through the rules."""

    def items() -> Iterable[tuple[Transaction, dict[str, float], bool | None]]:
        states: dict[str, UserState | None] = {}
        for txn in data.transactions:
            result = update_and_extract(states.get(txn.user_id), txn)
            if result.duplicate:
                continue
            states[txn.user_id] = result.state
            yield txn, dict(zip(FEATURE_NAMES, result.vector, strict=True)), None

    report = _evaluate(rules, data.source, items())
    report.bad_rows = dict(data.bad_rows)
    if any(c.feature and c.feature not in FEATURE_NAMES for r in rules for c in r.filter):
        report.notes.append("label-risk features exist only in the job: use --on log for them")
    return report


def dry_run_log(rules: list[Rule], decisions: list[DecisionRecord], source: str) -> DryRun:
    """Replay decisions from the log (their logged features) through the rules."""

    def items() -> Iterable[tuple[Transaction, dict[str, float], bool | None]]:
        for record in sorted(decisions, key=lambda d: d.event_time_ms):
            txn = Transaction(
                transaction_id=record.transaction_id,
                user_id=record.user_id,
                card_last4="0000",
                card_fingerprint=record.card_fingerprint or f"user:{record.user_id}",
                amount=record.amount,
                currency=record.currency,
                merchant_id=record.merchant_id or "",
                location="",
                timestamp=datetime.fromtimestamp(record.event_time_ms / 1000, UTC),
            )
            model_flagged = record.flagged and any(
                not reason.code.startswith("RULE:") for reason in record.reasons
            )
            yield txn, record.features, model_flagged

    report = _evaluate(rules, source, items())
    if any(c.field == "location" for r in rules for c in r.filter):
        report.notes.append("the decision log has no location: location conditions never match")
    return report


def read_decision_log(
    settings: Settings, max_records: int, timeout_s: float = 30.0
) -> list[DecisionRecord]:
    """The newest `max_records` decisions (split over the partitions), one per transaction:
    the one that stands (a correction replaces the first decision, a replay's repeats are
    dropped)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    kafka = settings.kafka
    topic = kafka.scores_topic
    consumer = Consumer(
        reader_config(
            kafka, "fraudctl-rules-dry-run", **{"socket.connection.setup.timeout.ms": 3000}
        )
    )
    deadline = time.monotonic() + timeout_s
    decisions: list[DecisionRecord] = []
    try:
        metadata = consumer.list_topics(topic, timeout=3.0)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise DecisionLogError(f"topic {topic} does not exist at {kafka.bootstrap}")
        share = max(1, max_records // len(described.partitions))
        spans: dict[int, tuple[int, int]] = {}
        for part in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=3.0)
            if high > low:
                spans[part] = (max(low, high - share), high)
        if not spans:
            return []
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in spans.items()])
        open_parts = set(spans)
        while open_parts and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                part = message.partition()
                if message.error() is not None or part not in open_parts:
                    continue
                offset = message.offset() or 0
                if offset >= spans[part][1]:
                    open_parts.discard(part)
                    continue
                if offset >= spans[part][1] - 1:
                    open_parts.discard(part)
                try:
                    record = parse_decision(message.value() or b"")
                except InvalidDecision:
                    continue
                decisions.append(record)
    except KafkaException as error:
        raise DecisionLogError(f"cannot read {topic} at {kafka.bootstrap}: {error}") from None
    finally:
        consumer.close()
    return standing_decisions(decisions)
