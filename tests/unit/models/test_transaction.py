"""Parsing and validating the normalised Kafka record."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from models.contracts.transaction import InvalidTransaction, Transaction


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": "txn_normal_001",
        "user_id": "user-test-123",
        "card_last4": "4242",
        "card_fingerprint": "abc123",
        "amount": 50.0,
        "currency": "USD",
        "merchant_id": "merchant_a",
        "location": "New York",
        "timestamp": "2025-07-15T10:00:00Z",
        "received_at": 1752573600123,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def test_parses_the_seed_record_and_round_trips() -> None:
    txn = Transaction.from_record(record())
    assert txn.timestamp == datetime(2025, 7, 15, 10, tzinfo=UTC)
    assert txn.event_time_ms == 1752573600000
    assert txn.currency == "USD" and txn.latitude is None and not txn.has_coordinates
    again = Transaction.from_record(txn.to_record())
    assert again == txn
    assert txn.to_record()["timestamp"] == "2025-07-15T10:00:00Z"


def test_offsets_and_fractions_keep_the_instant() -> None:
    txn = Transaction.from_record(record(timestamp="2025-07-15T12:00:00.250+02:00"))
    assert txn.event_time_ms == 1752573600250
    assert txn.timestamp.utcoffset() == timedelta(hours=2)
    assert Transaction.from_record(txn.to_record()) == txn


def test_optional_fields_default_and_coordinates_round_trip() -> None:
    txn = Transaction.from_record(
        record(currency=..., received_at=..., latitude=40.7, longitude=-74)
    )
    assert txn.currency == "USD" and txn.received_at is None
    assert (txn.latitude, txn.longitude) == (40.7, -74.0)
    assert Transaction.from_record(txn.to_record()) == txn


def test_from_json_parses_bytes() -> None:
    txn = Transaction.from_json(json.dumps(record()).encode())
    assert txn.transaction_id == "txn_normal_001"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"amount": ...}, "amount is missing"),
        ({"amount": 0}, "above 0"),
        ({"amount": -5.0}, "above 0"),
        ({"amount": math.nan}, "finite"),
        ({"amount": math.inf}, "finite"),
        ({"amount": "50"}, "amount must be a number"),
        ({"amount": True}, "amount must be a number"),
        ({"timestamp": ...}, "timestamp is missing"),
        ({"timestamp": "yesterday"}, "not ISO-8601"),
        ({"timestamp": "2025-07-15T10:00:00"}, "no time zone"),
        ({"user_id": ...}, "user_id is missing"),
        ({"user_id": ""}, "user_id must be a non-empty string"),
        ({"merchant_id": 7}, "merchant_id must be a non-empty string"),
        ({"transaction_id": "x" * 129}, "limit is 128"),
        ({"card_last4": "42"}, "card_last4 must be exactly 4 digits"),
        ({"currency": "usd"}, "3-letter ISO 4217"),
        ({"latitude": 91.0, "longitude": 0.0}, "latitude must be between -90 and 90"),
        ({"latitude": 10.0}, "given together"),
        ({"received_at": -1}, "received_at must be epoch milliseconds"),
        ({"received_at": 1.5}, "received_at must be epoch milliseconds"),
    ],
)
def test_bad_fields_name_the_problem(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidTransaction, match=fragment):
        Transaction.from_record(record(**changes))


def test_not_an_object_or_not_json() -> None:
    with pytest.raises(InvalidTransaction, match="JSON object"):
        Transaction.from_record([1, 2])
    with pytest.raises(InvalidTransaction, match="not valid JSON"):
        Transaction.from_json(b"{nope")
    assert issubclass(InvalidTransaction, ValueError)


def test_unknown_extra_fields_are_ignored() -> None:
    txn = Transaction.from_record(record(schema="v2"))
    assert "schema" not in txn.to_record()


def test_is_frozen() -> None:
    txn = Transaction.from_record(record())
    with pytest.raises(AttributeError):
        txn.amount = 1.0  # type: ignore[misc]


def test_event_time_is_exact_for_any_zone() -> None:
    zone = timezone(timedelta(hours=-5, minutes=-30))
    moment = datetime(2025, 1, 1, 0, 0, 0, 999_999, tzinfo=zone)
    txn = Transaction.from_record(record(timestamp=moment.isoformat()))
    assert txn.event_time_ms == int(moment.timestamp()) * 1000 + 999
