"""Topic `transaction-scores`: the decision log, one record per scored transaction.

The job writes every decision, flagged or not (`decision_json`), key = user_id; the
simulator, the backtest and tests read them back with `parse_decision`. The fields after
`scored_at` were added later and are optional: a reader gets None from older records.
No full card number: `card_fingerprint` is the gateway's keyed hash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from models.contracts.reason import Reason
from models.contracts.timestamps import format_timestamp
from models.contracts.transaction import Transaction


class InvalidDecision(ValueError):
    """A decision-log record that does not follow the contract; says which field."""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One line of the decision log, as the job wrote it."""

    transaction_id: str
    user_id: str
    timestamp: str
    event_time_ms: int
    amount: float
    currency: str
    score: float
    threshold: float
    flagged: bool
    reasons: tuple[Reason, ...]
    features: dict[str, float]
    model_version: str
    late: bool
    received_at: int | None
    scored_at: int
    merchant_id: str | None = None
    card_fingerprint: str | None = None
    anomaly_score: float | None = None
    rule_hits: tuple[dict[str, Any], ...] = ()
    # A second decision for a transaction that an earlier-timed one overtook: it carries
    # the in-order features. Readers that keep the first decision per id ignore it.
    correction: bool = False

    def to_dict(self) -> dict[str, Any]:
        record = {
            "transaction_id": self.transaction_id,
            "user_id": self.user_id,
            "timestamp": self.timestamp,
            "event_time_ms": self.event_time_ms,
            "amount": self.amount,
            "currency": self.currency,
            "score": self.score,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "features": dict(self.features),
            "model_version": self.model_version,
            "late": self.late,
            "received_at": self.received_at,
            "scored_at": self.scored_at,
            "merchant_id": self.merchant_id,
            "card_fingerprint": self.card_fingerprint,
            "anomaly_score": self.anomaly_score,
            "rule_hits": [dict(hit) for hit in self.rule_hits],
        }
        if self.correction:  # the job writes the key on corrections only
            record["correction"] = True
        return record


def decision_json(
    txn: Transaction,
    *,
    score: float,
    threshold: float,
    flagged: bool,
    reasons: Sequence[Reason],
    features: dict[str, float],
    model_version: str,
    scored_at: int,
    late: bool = False,
    anomaly_score: float | None = None,
    rule_hits: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The JSON of one decision (the job's hot path: a dict straight to orjson).

    `features` is name -> value, the model's features plus any the job adds (e.g. label
    risk); `anomaly_score` is the model's own score when `score` combines more than it;
    `rule_hits` are the operator rules it hit (`models.rules_engine.RuleHit.to_dict`).
    """
    return orjson.dumps(
        {
            "transaction_id": txn.transaction_id,
            "user_id": txn.user_id,
            "timestamp": format_timestamp(txn.timestamp),
            "event_time_ms": txn.event_time_ms,
            "amount": txn.amount,
            "currency": txn.currency,
            "score": round(score, 6),
            "threshold": round(threshold, 6),
            "flagged": flagged,
            "reasons": [reason.to_dict() for reason in reasons],
            "features": features,
            "model_version": model_version,
            "late": late,
            "received_at": txn.received_at,
            "scored_at": scored_at,
            "merchant_id": txn.merchant_id,
            "card_fingerprint": txn.card_fingerprint,
            "anomaly_score": None if anomaly_score is None else round(anomaly_score, 6),
            "rule_hits": list(rule_hits),
        }
    ).decode()


def parse_decision(raw: str | bytes | Mapping[str, Any]) -> DecisionRecord:
    """A decision-log value (JSON or decoded) to a `DecisionRecord`, or `InvalidDecision`."""
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidDecision(f"the decision is not valid JSON: {error}") from None
    if not isinstance(raw, Mapping):
        raise InvalidDecision(f"a decision must be a JSON object, got {type(raw).__name__}")
    try:
        reasons = tuple(Reason.from_dict(item) for item in _get(raw, "reasons", list))
    except ValueError as error:
        raise InvalidDecision(f"reasons: {error}") from None
    features = _get(raw, "features", dict)
    if not all(isinstance(key, str) and _is_number(value) for key, value in features.items()):
        raise InvalidDecision("features must map names to numbers")
    return DecisionRecord(
        transaction_id=_text(raw, "transaction_id"),
        user_id=_text(raw, "user_id"),
        timestamp=_get(raw, "timestamp", str),
        event_time_ms=_get(raw, "event_time_ms", int),
        amount=_number(raw, "amount"),
        currency=_get(raw, "currency", str),
        score=_number(raw, "score"),
        threshold=_number(raw, "threshold"),
        flagged=_get(raw, "flagged", bool),
        reasons=reasons,
        features={key: float(value) for key, value in features.items()},
        model_version=_get(raw, "model_version", str),
        late=_get(raw, "late", bool),
        received_at=_optional(raw, "received_at", int),
        scored_at=_get(raw, "scored_at", int),
        merchant_id=_optional(raw, "merchant_id", str),
        card_fingerprint=_optional(raw, "card_fingerprint", str),
        anomaly_score=None if raw.get("anomaly_score") is None else _number(raw, "anomaly_score"),
        rule_hits=_rule_hits(raw),
        correction=raw.get("correction") is True,
    )


def _rule_hits(raw: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """Optional (added with operator rules): a list of objects, each with a `rule_id`."""
    hits = raw.get("rule_hits")
    if hits is None:
        return ()
    if not isinstance(hits, list) or not all(
        isinstance(hit, dict) and isinstance(hit.get("rule_id"), str) for hit in hits
    ):
        raise InvalidDecision("rule_hits must be a list of objects with a rule_id")
    return tuple(hits)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _get(raw: Mapping[str, Any], name: str, kind: type) -> Any:
    value = raw.get(name)
    if value is None:
        raise InvalidDecision(f"{name} is missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidDecision(f"{name} must be a {kind.__name__}, got {value!r:.64}")
    return value


def _optional(raw: Mapping[str, Any], name: str, kind: type) -> Any:
    return None if raw.get(name) is None else _get(raw, name, kind)


def _text(raw: Mapping[str, Any], name: str) -> str:
    value: str = _get(raw, name, str)
    if not value:
        raise InvalidDecision(f"{name} must not be empty")
    return value


def _number(raw: Mapping[str, Any], name: str) -> float:
    value: Any = raw.get(name)
    if not _is_number(value) or not math.isfinite(value):
        raise InvalidDecision(f"{name} must be a finite number, got {value!r:.64}")
    return float(value)


class DecisionDeduper:
    """Keeps the first decision per `transaction_id`, the decision log's idempotency key.

    The log is at-least-once: after a failure the job replays from its last checkpoint
    and writes some decisions again (same transaction id, same verdict). Every reader
    passes each record's id through `first()` and skips the repeats. Memory is bounded:
    two generations of at most `capacity` ids each; an id older than that is forgotten,
    which is safe because replays reach back one checkpoint interval, not millions.
    """

    __slots__ = ("_current", "_previous", "capacity", "duplicates")

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.duplicates = 0
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def first(self, transaction_id: str) -> bool:
        """True the first time an id is seen; False (and counted) for a repeat."""
        if transaction_id in self._current or transaction_id in self._previous:
            self.duplicates += 1
            return False
        if len(self._current) >= self.capacity:
            self._previous, self._current = self._current, set()
        self._current.add(transaction_id)
        return True

    def __contains__(self, transaction_id: object) -> bool:
        return transaction_id in self._current or transaction_id in self._previous


def standing_decisions(records: Iterable[DecisionRecord]) -> list[DecisionRecord]:
    """One decision per transaction: the one that stands.

    That is its last correction (the job's second decision for a transaction an
    earlier-timed one overtook, made with the in-order features), else its first decision
    (a replay's repeats are dropped). In the order the transactions first appeared.
    Readers that count first verdicts (latency, the simulator's quality) use
    DecisionDeduper instead; what asks "what did the job conclude" uses this.
    """
    chosen: dict[str, DecisionRecord] = {}
    for record in records:
        if record.transaction_id not in chosen or record.correction:
            chosen[record.transaction_id] = record
    return list(chosen.values())
