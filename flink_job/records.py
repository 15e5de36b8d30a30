"""The JSON the job writes: dead letters, decisions (the audit log) and alerts.

Pure functions, so the contracts of shared/design.md are tested without Flink. Every
builder takes the clock as an argument: the job passes `now_ms()`, tests pass numbers.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from models.detector import Decision
from models.features import FEATURE_NAMES
from models.transaction import Transaction, format_timestamp

MAX_RAW_CHARS = 100_000  # a dead letter keeps this much of the original message
# 12-19 digits, optionally grouped by spaces or dashes: what a card number looks like.
_CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
CARD_REDACTED = "[card number removed]"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
    return CARD_REDACTED if _luhn_valid(digits) else found


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


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
        "reason": reason,
        "stage": stage,
        "failed_at": failed_at,
        "raw": text[:MAX_RAW_CHARS],
    }
    if len(text) > MAX_RAW_CHARS:
        record["raw_truncated"] = True
        record["raw_chars"] = len(text)
    if transaction_id is not None:
        record["transaction_id"] = transaction_id
    return _json(record)


def invalid_reason(error: Exception) -> str:
    return str(error) or "the record is not a valid transaction"


def feature_map(vector: Sequence[float]) -> dict[str, float]:
    """Feature name -> value, rounded for people (the model saw the exact values)."""
    return {name: round(float(value), 6) for name, value in zip(FEATURE_NAMES, vector, strict=True)}


def decision_record(
    txn: Transaction,
    decision: Decision,
    vector: Sequence[float],
    scored_at: int,
    *,
    late: bool = False,
) -> str:
    """One line of the decision log (topic transaction-scores), flagged or not."""
    return _json(
        {
            "transaction_id": txn.transaction_id,
            "user_id": txn.user_id,
            "timestamp": format_timestamp(txn.timestamp),
            "event_time_ms": txn.event_time_ms,
            "amount": txn.amount,
            "currency": txn.currency,
            "score": round(decision.score, 6),
            "threshold": round(decision.threshold, 6),
            "flagged": decision.flagged,
            "reasons": [reason.to_dict() for reason in decision.reasons],
            "features": feature_map(vector),
            "model_version": decision.model_version,
            "late": late,
            "received_at": txn.received_at,
            "scored_at": scored_at,
        }
    )


def alert_id_for(transaction_id: str) -> str:
    """Deterministic, so a replayed alert carries the same id as the first one."""
    return "alert_" + hashlib.sha256(transaction_id.encode()).hexdigest()[:20]


def alert_record(
    txn: Transaction, decision: Decision, vector: Sequence[float], scored_at: int
) -> dict[str, Any]:
    """The alert of shared/design.md, without `detected_at` (the writer stamps it)."""
    return {
        "alert_id": alert_id_for(txn.transaction_id),
        "transaction_id": txn.transaction_id,
        "user_id": txn.user_id,
        "card_last4": txn.card_last4,
        "amount": txn.amount,
        "currency": txn.currency,
        "merchant_id": txn.merchant_id,
        "location": txn.location,
        "timestamp": format_timestamp(txn.timestamp),
        "score": round(decision.score, 6),
        "threshold": round(decision.threshold, 6),
        "reasons": [reason.to_dict() for reason in decision.reasons],
        "features": feature_map(vector),
        "model_version": decision.model_version,
        "received_at": txn.received_at,
        "scored_at": scored_at,
    }


def stamp_detected(alert: dict[str, Any], detected_at: int) -> str:
    """The JSON that goes into the stream field `alert`, stamped when it is written."""
    return _json({**alert, "detected_at": detected_at})


def _json(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()
