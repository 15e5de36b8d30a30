"""Topic `transactions`: one normalised payment, key = user_id, JSON value.

The gateway (`gateway/api/ingest.py`) and the offline generator and test feeders
(`encode_body`) both build this record; the full card number never gets in: it becomes
`card_last4` + a keyed `card_fingerprint` (see `models.contracts.card`). The Flink job
parses it back with `Transaction.from_json`; a record that fails goes to the dead-letter
topic with the `InvalidTransaction` message as its reason, so every message says what is
wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from models.contracts.card import CardMasker, CardNumberError, card_digits
from models.contracts.timestamps import TimestampError, epoch_ms, format_timestamp
from models.contracts.timestamps import parse_timestamp as _parse_zoned

MAX_ID_LENGTH = 128
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LAST4 = re.compile(r"^[0-9]{4}$")
_REQUIRED_TEXT = ("transaction_id", "user_id", "card_fingerprint", "merchant_id", "location")
# Users whose transactions only warm the job's paths (`fraudctl up`, fraudctl/warmup.py):
# the job scores them like any other and then drops the decision, the alert and the state.
# The gateway refuses the prefix, so no payment from outside can be dropped this way.
WARMUP_USER_PREFIX = "fraudctl-warmup-"


class InvalidTransaction(ValueError):
    """A record that cannot be a transaction; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """One normalised payment, the unit the features and the model work on."""

    transaction_id: str
    user_id: str
    card_last4: str
    card_fingerprint: str
    amount: float
    currency: str
    merchant_id: str
    location: str
    timestamp: datetime
    latitude: float | None = None
    longitude: float | None = None
    received_at: int | None = None

    @property
    def event_time_ms(self) -> int:
        """Event time in epoch milliseconds (what watermarks and windows use)."""
        return epoch_ms(self.timestamp)

    @property
    def is_warmup(self) -> bool:
        """A synthetic transaction of `fraudctl up`'s warm-up, never a payment."""
        return is_warmup_user(self.user_id)

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @classmethod
    def from_record(cls, record: Any) -> Transaction:
        """Validate a decoded Kafka record; raise `InvalidTransaction` saying what is wrong."""
        if not isinstance(record, dict):
            raise InvalidTransaction(
                f"a transaction must be a JSON object, got {type(record).__name__}"
            )
        texts = {name: _text(record, name) for name in _REQUIRED_TEXT}
        last4 = _text(record, "card_last4")
        if not _LAST4.match(last4):
            raise InvalidTransaction(f"card_last4 must be exactly 4 digits, got {last4!r}")
        currency = record.get("currency", "USD")
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise InvalidTransaction(
                f"currency must be a 3-letter ISO 4217 code such as 'USD', got {currency!r}"
            )
        latitude = _coordinate(record, "latitude", 90.0)
        longitude = _coordinate(record, "longitude", 180.0)
        if (latitude is None) != (longitude is None):
            raise InvalidTransaction("latitude and longitude must be given together or not at all")
        return cls(
            transaction_id=texts["transaction_id"],
            user_id=texts["user_id"],
            card_last4=last4,
            card_fingerprint=texts["card_fingerprint"],
            amount=_amount(record),
            currency=currency,
            merchant_id=texts["merchant_id"],
            location=texts["location"],
            timestamp=parse_timestamp(record.get("timestamp")),
            latitude=latitude,
            longitude=longitude,
            received_at=_received_at(record),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Transaction:
        """Parse one Kafka message value; bad JSON is an `InvalidTransaction` too."""
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidTransaction(f"the message is not valid JSON: {error}") from None
        return cls.from_record(record)

    @property
    def kafka_key(self) -> bytes:
        """The message key: per-user order and state need every payment of a user together."""
        return self.user_id.encode()

    def to_json(self) -> bytes:
        """The Kafka message value."""
        return orjson.dumps(self.to_record())

    def to_record(self) -> dict[str, Any]:
        """The JSON-able Kafka record; `from_record(to_record())` gives back an equal object."""
        record: dict[str, Any] = {
            "transaction_id": self.transaction_id,
            "user_id": self.user_id,
            "card_last4": self.card_last4,
            "card_fingerprint": self.card_fingerprint,
            "amount": self.amount,
            "currency": self.currency,
            "merchant_id": self.merchant_id,
            "location": self.location,
            "timestamp": format_timestamp(self.timestamp),
        }
        if self.has_coordinates:
            record["latitude"] = self.latitude
            record["longitude"] = self.longitude
        if self.received_at is not None:
            record["received_at"] = self.received_at
        return record


def is_warmup_user(user_id: str) -> bool:
    """Whether `user_id` is one of the warm-up's synthetic users (WARMUP_USER_PREFIX)."""
    return user_id.startswith(WARMUP_USER_PREFIX)


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with a time zone to an aware datetime; `InvalidTransaction` if it is not."""
    try:
        return _parse_zoned(value)
    except TimestampError as error:
        raise InvalidTransaction(f"timestamp {error.message}") from None


def encode_body(
    body: Mapping[str, Any], masker: CardMasker, *, received_at: int | None = None
) -> Transaction:
    """A payment body (with `card_number`) as the record on Kafka, validated.

    The card becomes `card_last4` + `card_fingerprint` under `masker`'s key; `received_at`
    is stamped when given. The gateway checks bodies more strictly first (HTTP-level
    limits), then builds the same `Transaction` from what it checked.
    """
    if not isinstance(body, Mapping):
        raise InvalidTransaction(f"a transaction must be a JSON object, got {type(body).__name__}")
    try:
        masked = masker.mask(card_digits(body.get("card_number")))
    except CardNumberError as error:
        raise InvalidTransaction(f"card_number {error.message}") from None
    record = {key: value for key, value in body.items() if key != "card_number"}
    record["card_last4"] = masked.last4
    record["card_fingerprint"] = masked.fingerprint
    if received_at is not None:
        record["received_at"] = received_at
    return Transaction.from_record(record)


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise InvalidTransaction(f"{name} is missing: every transaction needs one")
    if not isinstance(value, str) or not value.strip():
        raise InvalidTransaction(f"{name} must be a non-empty string, got {value!r:.64}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidTransaction(
            f"{name} is {len(value)} characters long: the limit is {MAX_ID_LENGTH}"
        )
    return value


def _amount(record: dict[str, Any]) -> float:
    value = record.get("amount")
    if value is None:
        raise InvalidTransaction("amount is missing: give a positive number such as 50.00")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTransaction(f"amount must be a number, got {value!r:.64}")
    amount = float(value)
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidTransaction(f"amount must be a finite number above 0, got {value!r}")
    return amount


def _coordinate(record: dict[str, Any], name: str, limit: float) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTransaction(f"{name} must be a number, got {value!r:.64}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > limit:
        raise InvalidTransaction(f"{name} must be between -{limit:g} and {limit:g}, got {value!r}")
    return number


def _received_at(record: dict[str, Any]) -> int | None:
    value = record.get("received_at")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidTransaction(
            f"received_at must be epoch milliseconds (a non-negative integer), got {value!r:.64}"
        )
    return int(value)
