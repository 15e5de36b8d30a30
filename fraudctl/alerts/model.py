"""The alert contract of the Redis stream `fraud:alerts`, parsed once for every reader.

Each stream entry has one field, `alert`, holding JSON (see shared/design.md). Readers are
forgiving about extra fields (the producer may add some) and strict about the ones they
show, so a malformed entry is reported with what is wrong instead of crashing a UI.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ALERT_FIELD = "alert"


class AlertParseError(ValueError):
    """A stream entry that does not follow the alert contract."""


class Reason(BaseModel):
    """One human-readable reason, e.g. `AMOUNT_SPIKE: 100x this user's average`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class Alert(BaseModel):
    """A flagged transaction as written by the scoring job."""

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


def parse_alert_fields(fields: dict[Any, Any]) -> Alert:
    """Parse a stream entry's field map (`{"alert": json}`), str or bytes keys alike."""
    raw = fields.get(ALERT_FIELD, fields.get(ALERT_FIELD.encode()))
    if raw is None:
        names = ", ".join(sorted(str(key) for key in fields)) or "none"
        raise AlertParseError(f"stream entry has no '{ALERT_FIELD}' field (fields: {names})")
    return parse_alert_json(raw)


def alert_fields(alert: Alert | dict[str, Any]) -> dict[str, str]:
    """The stream entry for an alert, as a producer (or a test) XADDs it."""
    if isinstance(alert, Alert):
        return {ALERT_FIELD: alert.to_json()}
    return {ALERT_FIELD: json.dumps(alert)}
