"""Topic `transactions`: what the gateway and the offline feeders write is what the job reads."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from flink_job.records import parse_transaction
from flink_job.topic_clients import kafka_record
from gateway.api.ingest import TransactionIngest
from gateway.api.metrics import GatewayMetrics
from gateway.api.schemas import TransactionIn, ValidationLimits
from gateway.api.validation import card_digits as gateway_card_digits
from gateway.api.validation import parse_timestamp as gateway_parse_timestamp
from models.contracts.card import (
    CardMasker,
    CardNumberError,
    card_digits,
    luhn_check_digit,
    luhn_valid,
)
from models.contracts.timestamps import TimestampError, parse_timestamp
from models.contracts.transaction import InvalidTransaction, Transaction, encode_body
from models.generator import TRAINING_CARD_KEY, normalise_body
from tests.unit.gateway.samples import SEED_FRAUD, SEED_NORMAL

SECRET = "contract-test-secret"
RECEIVED_AT = 1_752_573_600_123
# The keys the seed examples and every consumer rely on; only additions are allowed.
WIRE_KEYS = {
    "transaction_id", "user_id", "card_last4", "card_fingerprint", "amount", "currency",
    "timestamp", "merchant_id", "location", "received_at",
}  # fmt: skip


def gateway_encode(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, bytes]:
    ingest = TransactionIngest(
        producer=None,  # type: ignore[arg-type]  # encode never produces
        masker=CardMasker(secret),
        metrics=GatewayMetrics(),
        limits=ValidationLimits(),
    )
    checked = ingest.validate(body)
    assert isinstance(checked, TransactionIn), checked
    return ingest.encode(checked, RECEIVED_AT)


@pytest.mark.parametrize("body", [SEED_NORMAL, SEED_FRAUD], ids=["normal", "fraud"])
def test_gateway_record_is_what_the_job_parses(body: dict[str, Any]) -> None:
    key, value = gateway_encode(body)
    txn = parse_transaction(value.decode())
    assert key == body["user_id"].encode() == txn.kafka_key
    assert set(orjson.loads(value)) == WIRE_KEYS
    assert txn.transaction_id == body["transaction_id"]
    assert txn.amount == body["amount"]
    assert txn.card_last4 == "4242"
    assert txn.received_at == RECEIVED_AT
    assert txn.to_json() == value  # the job re-encodes exactly what the gateway wrote
    assert b"4242-4242" not in value and b"4242424242424242" not in value


def test_gateway_and_offline_feeders_encode_a_body_identically() -> None:
    body = {**SEED_NORMAL, "latitude": 40.71, "longitude": -74.0}
    _key, from_gateway = gateway_encode(body)
    offline = encode_body(body, CardMasker(SECRET), received_at=RECEIVED_AT)
    assert offline.to_json() == from_gateway


def test_generator_and_test_feeder_use_the_same_encoding_with_the_training_key() -> None:
    txn = normalise_body(SEED_FRAUD)
    assert txn == encode_body(SEED_FRAUD, CardMasker(TRAINING_CARD_KEY))
    record = kafka_record(SEED_FRAUD, received_at=RECEIVED_AT)
    assert Transaction.from_record(record).card_fingerprint == txn.card_fingerprint
    assert record["received_at"] == RECEIVED_AT and "card_number" not in record


def test_the_fingerprint_depends_on_the_secret_not_only_on_the_card() -> None:
    one = orjson.loads(gateway_encode(SEED_NORMAL, "secret-a")[1])["card_fingerprint"]
    two = orjson.loads(gateway_encode(SEED_NORMAL, "secret-b")[1])["card_fingerprint"]
    assert re.fullmatch("[0-9a-f]{64}", one) and one != two


@pytest.mark.parametrize(
    ("card", "kind"),
    [
        ("4242-4242-4242-4241", "card_checksum"),
        ("4242 4242 42", "card_length"),
        ("4242x4242x4242x4242", "card_format"),
        (4242424242424242, "card_format"),
    ],
)
def test_bad_cards_fail_alike_at_the_gateway_and_offline(card: Any, kind: str) -> None:
    with pytest.raises(CardNumberError) as caught:
        card_digits(card)
    assert caught.value.kind == kind
    with pytest.raises(InvalidTransaction, match=r"^card_number ") as offline:
        encode_body({**SEED_NORMAL, "card_number": card}, CardMasker(SECRET))
    assert "4242" not in str(offline.value)  # the number is never echoed back
    if isinstance(card, str):
        with pytest.raises(ValueError) as gateway:
            gateway_card_digits(card)
        assert getattr(gateway.value, "type", None) == kind  # PydanticCustomError.type


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "timestamp_missing"),
        (1752573600, "timestamp_type"),
        ("15/07/2025 10:00", "timestamp_format"),
        ("2025-07-15T10:00:00", "timestamp_naive"),
        ("2025-07-15T10:00:00Z" + " " * 40, "timestamp_too_long"),
    ],
)
def test_one_timestamp_parser_for_gateway_and_job(value: Any, kind: str) -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamp(value)
    assert caught.value.kind == kind
    with pytest.raises(InvalidTransaction, match=r"^timestamp "):
        Transaction.from_record({**encode_body(SEED_NORMAL, CardMasker(SECRET)).to_record(),
                                 "timestamp": value})  # fmt: skip
    if value is not None:
        with pytest.raises(ValueError) as gateway:
            gateway_parse_timestamp(value)
        assert getattr(gateway.value, "type", None) == kind


def test_offsets_are_kept_by_the_record_and_made_utc_by_the_gateway() -> None:
    moment = "2025-07-15T12:00:00+02:00"
    assert parse_timestamp(moment).utcoffset() is not None
    assert gateway_parse_timestamp(moment).isoformat() == "2025-07-15T10:00:00+00:00"


def test_luhn_check_digit_and_validation_agree() -> None:
    for partial in ("424242424242424", "7992739871", "5105105105105", "0"):
        digit = luhn_check_digit(partial)
        assert luhn_valid(partial + str(digit))
        assert not luhn_valid(partial + str((digit + 1) % 10))
