"""The job's output contracts: dead letters, decisions, alerts (docs/contracts.md)."""

from __future__ import annotations

import json
import pickle

import pytest

from flink_job.records import (
    CARD_REDACTED,
    MAX_RAW_CHARS,
    alert_record,
    dead_letter,
    decision_record,
    feature_map,
    from_wire,
    redact_card_numbers,
    to_wire,
)
from models.contracts.alert import alert_id_for, alert_json
from models.contracts.reason import Reason
from models.contracts.transaction import Transaction
from models.detector import Decision
from models.features import FEATURE_NAMES

RECORD = {
    "transaction_id": "txn_fraud_002",
    "user_id": "user-test-123",
    "card_last4": "4242",
    "card_fingerprint": "f" * 64,
    "amount": 5000.0,
    "currency": "USD",
    "merchant_id": "merchant_b",
    "location": "Online",
    "timestamp": "2025-07-15T10:01:00Z",
    "received_at": 1_752_573_660_123,
}
VECTOR = tuple(float(i) / 3 for i in range(len(FEATURE_NAMES)))
FLAGGED = Decision(
    score=0.71234567,
    threshold=0.55,
    flagged=True,
    reasons=(Reason("AMOUNT_SPIKE", "100x this user's average (50.00)"),),
    model_version="iforest-test",
)


def test_alert_has_every_contract_field_and_no_card_number() -> None:
    txn = Transaction.from_record(RECORD)
    alert = alert_record(txn, FLAGGED, VECTOR, scored_at=1_752_573_660_200)
    text = alert_json(alert, detected_at=1_752_573_660_210)
    payload = json.loads(text)
    contract = {
        "alert_id", "transaction_id", "user_id", "card_last4", "amount", "currency",
        "merchant_id", "location", "timestamp", "score", "threshold", "reasons", "features",
        "model_version", "received_at", "detected_at",
    }  # fmt: skip
    assert contract <= set(payload)
    assert payload["reasons"] == [
        {"code": "AMOUNT_SPIKE", "message": "100x this user's average (50.00)"}
    ]
    assert payload["features"] == feature_map(VECTOR)
    assert list(payload["features"]) == list(FEATURE_NAMES)
    assert payload["timestamp"] == "2025-07-15T10:01:00Z"
    assert payload["detected_at"] == 1_752_573_660_210
    assert payload["received_at"] == RECORD["received_at"]
    assert "card_fingerprint" not in payload
    assert "4242-4242" not in text


def test_alert_id_is_the_same_on_a_replay_and_differs_between_transactions() -> None:
    assert alert_id_for("txn_1") == alert_id_for("txn_1")
    assert alert_id_for("txn_1") != alert_id_for("txn_2")


def test_decision_record_logs_unflagged_decisions_too() -> None:
    txn = Transaction.from_record(RECORD)
    calm = Decision(0.31, 0.55, False, (), "iforest-test")
    payload = json.loads(decision_record(txn, calm, VECTOR, scored_at=5, late=True))
    assert payload["flagged"] is False
    assert payload["reasons"] == []
    assert payload["late"] is True
    for field in (
        "transaction_id", "user_id", "timestamp", "score", "threshold", "flagged", "reasons",
        "model_version", "received_at", "scored_at",
    ):  # fmt: skip
        assert field in payload
    assert payload["event_time_ms"] == txn.event_time_ms


def test_dead_letter_keeps_reason_stage_and_raw_record() -> None:
    letter = json.loads(dead_letter("{not json", "the message is not valid JSON", 7))
    assert letter == {
        "reason": "the message is not valid JSON",
        "stage": "parse",
        "failed_at": 7,
        "raw": "{not json",
    }


def test_dead_letter_truncates_a_huge_record() -> None:
    letter = json.loads(dead_letter("x" * (MAX_RAW_CHARS + 10), "too big", 1))
    assert len(letter["raw"]) == MAX_RAW_CHARS
    assert letter["raw_truncated"] is True
    assert letter["raw_chars"] == MAX_RAW_CHARS + 10


@pytest.mark.parametrize(
    "card",
    ["4242-4242-4242-4242", "4111 1111 1111 1111", "4242424242424242", "378282246310005"],
)
def test_card_numbers_never_reach_the_dead_letter_topic(card: str) -> None:
    letter = json.loads(dead_letter(f'{{"card_number": "{card}", "amount": }}', "bad", 1))
    assert card not in letter["raw"]
    assert CARD_REDACTED in letter["raw"]


@pytest.mark.parametrize(
    "text",
    [
        '"received_at": 1752573660123',  # epoch milliseconds
        '"amount": 123456789012',  # not Luhn-valid
        "2025-07-15T10:00:00Z",
        "txn 4242",
    ],
)
def test_numbers_that_are_not_card_numbers_are_kept(text: str) -> None:
    assert redact_card_numbers(text) == text


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"latitude": 40.7, "longitude": -74.0},
        {"timestamp": "2025-07-15T12:01:00.250+02:00"},
        {"received_at": None},
    ],
)
def test_a_transaction_survives_the_wire_between_operators(extra: dict[str, object]) -> None:
    record = {key: value for key, value in {**RECORD, **extra}.items() if value is not None}
    txn = Transaction.from_record(record)
    again = from_wire(pickle.loads(pickle.dumps(to_wire(txn))))
    assert again == txn
    assert again.event_time_ms == txn.event_time_ms
    assert again.to_record() == txn.to_record()
