"""The JSON the job writes: dead letters, decisions (the audit log) and alerts.

Pure functions, so the job's output is tested without Flink. The decision and alert
records are defined in `models.contracts` (see docs/contracts.md); this module adapts the
job's objects to them. Every builder takes the clock as an argument: the job passes
`now_ms()`, tests pass numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from models.contracts import alert as alert_contract
from models.contracts.card import luhn_valid
from models.contracts.decision import decision_json
from models.contracts.transaction import Transaction
from models.detector import Decision
from models.features import FEATURE_NAMES

MAX_RAW_CHARS = 100_000  # a dead letter keeps this much of the original message
# 12-19 digits, optionally grouped by spaces or dashes: what a card number looks like.
_CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
CARD_REDACTED = "[card number removed]"
# ", got <the value>" up to the end (a closing parenthesis of a wrapped message is kept).
_GOT_VALUE = re.compile(r",? got .*?(\)?)\Z", re.DOTALL)


def parse_transaction(raw: str) -> Transaction:
    """A Kafka message value to a Transaction; `InvalidTransaction` says what is wrong."""
    return Transaction.from_json(raw)


Wire = tuple[Any, ...]


def to_wire(txn: Transaction) -> Wire:
    """A validated transaction as a tuple of plain values: ~4 us to pickle and rebuild,
    against ~14 us to parse the JSON again or ~20 us to pickle the object."""
    return (
        txn.transaction_id,
        txn.user_id,
        txn.card_last4,
        txn.card_fingerprint,
        txn.amount,
        txn.currency,
        txn.merchant_id,
        txn.location,
        txn.timestamp.isoformat(),
        txn.latitude,
        txn.longitude,
        txn.received_at,
    )


def from_wire(wire: Wire) -> Transaction:
    """The Transaction `to_wire` took apart (it was validated before it was taken apart)."""
    return Transaction(
        wire[0],
        wire[1],
        wire[2],
        wire[3],
        wire[4],
        wire[5],
        wire[6],
        wire[7],
        datetime.fromisoformat(wire[8]),
        wire[9],
        wire[10],
        wire[11],
    )


def raw_of(txn: Transaction) -> str:
    """The JSON record of a transaction, for a dead letter."""
    return _json(txn.to_record())


def redact_card_numbers(text: str) -> str:
    """Card numbers (12-19 digits, Luhn-valid) are removed before a raw record is re-published.

    An unseparated 13-digit number starting with 1 is an epoch-millisecond time such as
    `received_at` (no card issuer uses that shape) and is kept.
    """
    return _CARD_NUMBER.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"[ -]", "", found)
    if len(digits) == 13 and digits == found and digits.startswith("1"):
        return found
    return CARD_REDACTED if luhn_valid(digits) else found


def safe_reason(reason: str) -> str:
    """A reason without the offending value: field names and error kinds only.

    Error messages end in ", got VALUE" where they quote the input; that part is cut, and
    anything card-like left (an exception's own text) is redacted. A card number sent
    straight to Kafka must not reach the DLQ through its error message.
    """
    return redact_card_numbers(_GOT_VALUE.sub(r"\1", reason))


def dead_letter(
    raw: str,
    reason: str,
    failed_at: int,
    *,
    stage: str = "parse",
    transaction_id: str | None = None,
) -> str:
    """The DLQ record: why, when, at which stage, and the original message (redacted)."""
    text = redact_card_numbers(raw)
    record: dict[str, Any] = {
        "reason": safe_reason(reason),
        "stage": stage,
        "failed_at": failed_at,
        "raw": text[:MAX_RAW_CHARS],
    }
    if len(text) > MAX_RAW_CHARS:
        record["raw_truncated"] = True
        record["raw_chars"] = len(text)
    if transaction_id is not None:
        record["transaction_id"] = redact_card_numbers(transaction_id)
    return _json(record)


def invalid_reason(error: Exception) -> str:
    """Why a record is not a transaction, naming the field and the rule, never the value."""
    return safe_reason(str(error)) or "the record is not a valid transaction"


def feature_map(
    vector: Sequence[float], extra: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Feature name -> value, rounded for people (the model saw the exact values).

    `extra` features (e.g. label risk) come after the model's, rounded the same way.
    """
    features = {
        name: round(float(value), 6) for name, value in zip(FEATURE_NAMES, vector, strict=True)
    }
    if extra:
        features.update((name, round(float(value), 6)) for name, value in extra.items())
    return features


def decision_record(
    txn: Transaction,
    decision: Decision,
    vector: Sequence[float],
    scored_at: int,
    *,
    late: bool = False,
    anomaly_score: float | None = None,
    extra_features: Mapping[str, float] | None = None,
) -> str:
    """One line of the decision log (topic transaction-scores), flagged or not.

    `extra_features` (e.g. label risk) are logged beside the model's; `anomaly_score`
    (default: the decision's) is the forest's own score when a classifier decided.
    """
    features = feature_map(vector, extra_features)
    return decision_json(
        txn,
        score=decision.score,
        threshold=decision.threshold,
        flagged=decision.flagged,
        reasons=decision.reasons,
        features=features,
        model_version=decision.model_version,
        scored_at=scored_at,
        late=late,
        anomaly_score=decision.anomaly_score if anomaly_score is None else anomaly_score,
    )


def alert_record(
    txn: Transaction,
    decision: Decision,
    vector: Sequence[float],
    scored_at: int,
    *,
    extra_features: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The alert (`models.contracts.alert`), without `detected_at`: the writer stamps it."""
    features = feature_map(vector, extra_features)
    return alert_contract.alert_record(
        txn,
        score=decision.score,
        threshold=decision.threshold,
        reasons=decision.reasons,
        features=features,
        model_version=decision.model_version,
        scored_at=scored_at,
    )


def _json(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()
