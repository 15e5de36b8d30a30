"""Redis stream `fraud:alerts`: one entry per flagged transaction, field `alert` = JSON.

The job builds the record with `alert_record` and its writer (`flink_job/alert_sink.py`,
a Lua script) stores `alert_json(...)` under `ALERT_FIELD`; the console, the dashboard,
`fraudctl alerts` and the simulator parse it with `parse_alert_fields` into `Alert`.
Readers are forgiving about extra fields (a newer producer may add some) and strict about
the ones they show, so a malformed entry is reported with what is wrong instead of
crashing a UI. No full card number: `card_last4` only, and no fingerprint either.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.contracts.reason import Reason
from models.contracts.timestamps import format_timestamp
from models.contracts.transaction import Transaction

#: The one field of a stream entry; the writer's Lua script and every reader use it.
ALERT_FIELD: Final = "alert"


class AlertParseError(ValueError):
    """A stream entry that does not follow the alert contract."""


class Alert(BaseModel):
    """A flagged transaction as the scoring job writes it (what every reader gets)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    alert_id: str = ""
    transaction_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    card_last4: str = ""
    amount: float
    currency: str = "USD"
    merchant_id: str = ""
    location: str = ""
    timestamp: str = ""
    score: float
    threshold: float | None = None
    reasons: tuple[Reason, ...] = ()
    features: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    model_version: str = ""
    received_at: int | None = None
    scored_at: int | None = None
    detected_at: int | None = None

    @field_validator("amount", "score")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def top_reason(self) -> str:
        """The first reason's code, what a one-line view has room for."""
        return self.reasons[0].code if self.reasons else ""

    @property
    def latency_ms(self) -> int | None:
        """End-to-end latency: gateway receipt to detection, when both are known."""
        if self.received_at is None or self.detected_at is None:
            return None
        return self.detected_at - self.received_at

    def to_json(self) -> str:
        return self.model_dump_json()


def alert_id_for(transaction_id: str) -> str:
    """Deterministic, so a replayed alert carries the same id as the first one."""
    return "alert_" + hashlib.sha256(transaction_id.encode()).hexdigest()[:20]


def alert_record(
    txn: Transaction,
    *,
    score: float,
    threshold: float,
    reasons: Sequence[Reason],
    features: Mapping[str, float],
    model_version: str,
    scored_at: int,
) -> dict[str, Any]:
    """Every `Alert` field but `detected_at`, which the writer stamps when it stores it.

    A plain dict: it is pickled between the scoring and the writing operator.
    """
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
        "score": round(score, 6),
        "threshold": round(threshold, 6),
        "reasons": [reason.to_dict() for reason in reasons],
        "features": dict(features),
        "model_version": model_version,
        "received_at": txn.received_at,
        "scored_at": scored_at,
    }


def alert_json(alert: Mapping[str, Any], detected_at: int) -> str:
    """The JSON stored under `ALERT_FIELD`, stamped with the moment it is written."""
    return orjson.dumps({**alert, "detected_at": detected_at}).decode()


def alert_fields(alert: Alert | Mapping[str, Any]) -> dict[str, str]:
    """The stream entry for an alert, as a producer (or a test) XADDs it."""
    if isinstance(alert, Alert):
        return {ALERT_FIELD: alert.to_json()}
    return {ALERT_FIELD: json.dumps(dict(alert))}


def parse_alert_json(text: str | bytes) -> Alert:
    """Parse the JSON of one alert, saying which field is wrong when it is."""
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AlertParseError(f"alert is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise AlertParseError(f"alert must be a JSON object, got {type(payload).__name__}")
    try:
        return Alert.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'alert'}: {err['msg']}"
            for err in exc.errors()
        )
        raise AlertParseError(f"alert does not follow the contract: {problems}") from exc


def parse_alert_fields(fields: Mapping[Any, Any]) -> Alert:
    """Parse a stream entry's field map (`{"alert": json}`), str or bytes keys alike."""
    raw = fields.get(ALERT_FIELD, fields.get(ALERT_FIELD.encode()))
    if raw is None:
        names = ", ".join(sorted(str(key) for key in fields)) or "none"
        raise AlertParseError(f"stream entry has no '{ALERT_FIELD}' field (fields: {names})")
    return parse_alert_json(raw)
