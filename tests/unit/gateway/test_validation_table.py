"""Table of bad inputs: each gets a 4xx naming what is wrong, and nothing reaches the producer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.gateway.conftest import Gateway
from tests.unit.gateway.samples import (
    CARD_DIGITS,
    SEED_FRAUD,
    SEED_FRAUD_CURL_BODY,
    SEED_NORMAL,
    SEED_NORMAL_CURL_BODY,
    with_changes,
)

JSON = {"content-type": "application/json"}
S = SEED_NORMAL

# (case id, body, expected status, field the first error must name, expected error type)
FIELD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # transaction_id
    ("txn_missing", with_changes(S, transaction_id=...), "transaction_id", "missing"),
    ("txn_empty", with_changes(S, transaction_id=""), "transaction_id", "id_empty"),
    ("txn_too_long", with_changes(S, transaction_id="t" * 65), "transaction_id", "id_too_long"),
    ("txn_space", with_changes(S, transaction_id="txn 001"), "transaction_id", "id_characters"),
    ("txn_html", with_changes(S, transaction_id="<script>"), "transaction_id", "id_characters"),
    ("txn_path", with_changes(S, transaction_id="../etc"), "transaction_id", "id_characters"),
    ("txn_leading_dash", with_changes(S, transaction_id="-x"), "transaction_id", "id_characters"),
    ("txn_unicode", with_changes(S, transaction_id="txnü"), "transaction_id", "id_characters"),
    ("txn_int", with_changes(S, transaction_id=123), "transaction_id", "string_type"),
    ("txn_null", with_changes(S, transaction_id=None), "transaction_id", "string_type"),
    # user_id
    ("user_missing", with_changes(S, user_id=...), "user_id", "missing"),
    ("user_empty", with_changes(S, user_id=""), "user_id", "id_empty"),
    ("user_too_long", with_changes(S, user_id="u" * 200), "user_id", "id_too_long"),
    ("user_semicolon", with_changes(S, user_id="u;drop"), "user_id", "id_characters"),
    ("user_newline", with_changes(S, user_id="user\n1"), "user_id", "id_characters"),
    ("user_list", with_changes(S, user_id=["u1"]), "user_id", "string_type"),
    # the warm-up's synthetic users: the job drops their decisions, so no payment may be one
    ("user_warmup", with_changes(S, user_id="fraudctl-warmup-x"), "user_id", "user_id_reserved"),
    # merchant_id
    ("merchant_missing", with_changes(S, merchant_id=...), "merchant_id", "missing"),
    ("merchant_empty", with_changes(S, merchant_id=""), "merchant_id", "id_empty"),
    ("merchant_amp", with_changes(S, merchant_id="m&m"), "merchant_id", "id_characters"),
    ("merchant_obj", with_changes(S, merchant_id={"id": 1}), "merchant_id", "string_type"),
    # location
    ("location_missing", with_changes(S, location=...), "location", "missing"),
    ("location_empty", with_changes(S, location=""), "location", "location_empty"),
    ("location_blank", with_changes(S, location="   "), "location", "location_empty"),
    ("location_long", with_changes(S, location="L" * 101), "location", "location_too_long"),
    ("location_html", with_changes(S, location="<b>NY</b>"), "location", "location_characters"),
    ("location_nul", with_changes(S, location="New\x00York"), "location", "location_characters"),
    ("location_int", with_changes(S, location=42), "location", "string_type"),
    # card_number
    ("card_missing", with_changes(S, card_number=...), "card_number", "missing"),
    ("card_luhn", with_changes(S, card_number="4242424242424241"), "card_number", "card_checksum"),
    ("card_11_digits", with_changes(S, card_number="12345678903"), "card_number", "card_length"),
    ("card_20_digits", with_changes(S, card_number="4" * 20), "card_number", "card_length"),
    (
        "card_letter",
        with_changes(S, card_number="4242-4242-4242-424a"),
        "card_number",
        "card_format",
    ),
    ("card_int", with_changes(S, card_number=4242424242424242), "card_number", "string_type"),
    ("card_empty", with_changes(S, card_number=""), "card_number", "card_format"),
    (
        "card_underscore",
        with_changes(S, card_number="4242_4242_4242_4242"),
        "card_number",
        "card_format",
    ),
    ("card_plus", with_changes(S, card_number="+4242424242424242"), "card_number", "card_format"),
    ("card_padded", with_changes(S, card_number="4242 " * 9), "card_number", "card_format"),
    ("card_only_dashes", with_changes(S, card_number="------------"), "card_number", "card_length"),
    # amount
    ("amount_missing", with_changes(S, amount=...), "amount", "missing"),
    ("amount_zero", with_changes(S, amount=0), "amount", "amount_not_positive"),
    ("amount_negative", with_changes(S, amount=-5.0), "amount", "amount_not_positive"),
    ("amount_negative_zero", with_changes(S, amount=-0.0), "amount", "amount_not_positive"),
    ("amount_string", with_changes(S, amount="50.00"), "amount", "float_type"),
    ("amount_bool", with_changes(S, amount=True), "amount", "float_type"),
    ("amount_null", with_changes(S, amount=None), "amount", "float_type"),
    ("amount_list", with_changes(S, amount=[50]), "amount", "float_type"),
    ("amount_cents_fraction", with_changes(S, amount=50.001), "amount", "amount_precision"),
    ("amount_tiny", with_changes(S, amount=1e-9), "amount", "amount_precision"),
    ("amount_over_limit", with_changes(S, amount=1e7), "amount", "amount_too_large"),
    (
        "amount_jpy_decimals",
        with_changes(S, amount=100.5, currency="JPY"),
        "amount",
        "amount_precision",
    ),
    (
        "amount_kwd_decimals",
        with_changes(S, amount=1.0001, currency="KWD"),
        "amount",
        "amount_precision",
    ),
    # timestamp
    ("ts_missing", with_changes(S, timestamp=...), "timestamp", "missing"),
    ("ts_naive", with_changes(S, timestamp="2025-07-15T10:00:00"), "timestamp", "timestamp_naive"),
    ("ts_date_only", with_changes(S, timestamp="2025-07-15"), "timestamp", "timestamp_naive"),
    ("ts_slashes", with_changes(S, timestamp="15/07/2025 10:00"), "timestamp", "timestamp_format"),
    ("ts_empty", with_changes(S, timestamp=""), "timestamp", "timestamp_format"),
    ("ts_epoch_int", with_changes(S, timestamp=1752573600), "timestamp", "timestamp_type"),
    (
        "ts_month_13",
        with_changes(S, timestamp="2025-13-01T00:00:00Z"),
        "timestamp",
        "timestamp_format",
    ),
    (
        "ts_hour_25",
        with_changes(S, timestamp="2025-07-15T25:00:00Z"),
        "timestamp",
        "timestamp_format",
    ),
    ("ts_word", with_changes(S, timestamp="now"), "timestamp", "timestamp_format"),
    (
        "ts_before_2000",
        with_changes(S, timestamp="1999-12-31T23:59:59Z"),
        "timestamp",
        "timestamp_too_old",
    ),
    (
        "ts_far_future",
        with_changes(S, timestamp="2999-01-01T00:00:00Z"),
        "timestamp",
        "timestamp_in_future",
    ),
    (
        "ts_too_long",
        with_changes(S, timestamp="2025-07-15T10:00:00Z" + " " * 30),
        "timestamp",
        "timestamp_too_long",
    ),
    # currency
    ("currency_lower", with_changes(S, currency="usd"), "currency", "currency_format"),
    ("currency_two_letters", with_changes(S, currency="US"), "currency", "currency_format"),
    ("currency_four_letters", with_changes(S, currency="EURO"), "currency", "currency_format"),
    ("currency_unknown", with_changes(S, currency="ABC"), "currency", "currency_unknown"),
    ("currency_metal", with_changes(S, currency="XAU"), "currency", "currency_unknown"),
    ("currency_numeric", with_changes(S, currency=840), "currency", "string_type"),
    ("currency_null", with_changes(S, currency=None), "currency", "string_type"),
    # coordinates
    ("lat_91", with_changes(S, latitude=91.0, longitude=0.0), "latitude", "latitude_range"),
    ("lat_minus_91", with_changes(S, latitude=-91, longitude=0.0), "latitude", "latitude_range"),
    ("lon_181", with_changes(S, latitude=0.0, longitude=181.0), "longitude", "longitude_range"),
    ("lat_only", with_changes(S, latitude=40.7), "latitude", "coordinates_incomplete"),
    ("lon_only", with_changes(S, longitude=-74.0), "latitude", "coordinates_incomplete"),
    ("lat_string", with_changes(S, latitude="40.7", longitude=-74.0), "latitude", "float_type"),
    ("lat_bool", with_changes(S, latitude=True, longitude=-74.0), "latitude", "float_type"),
    # unknown fields
    ("extra_cvv", with_changes(S, cvv="123"), "cvv", "extra_forbidden"),
    ("extra_case", with_changes(S, Amount=50.0), "Amount", "extra_forbidden"),
    ("extra_null", with_changes(S, note=None), "note", "extra_forbidden"),
    ("extra_label", with_changes(S, is_fraud=True), "is_fraud", "extra_forbidden"),
]

# (case id, raw body, content-type, expected status, expected error code)
RAW_CASES: list[tuple[str, bytes, str | None, int, str]] = [
    ("malformed", b"{bad", "application/json", 400, "malformed_json"),
    ("truncated", SEED_NORMAL_CURL_BODY[:-3], "application/json", 400, "malformed_json"),
    ("trailing_garbage", SEED_NORMAL_CURL_BODY + b" x", "application/json", 400, "malformed_json"),
    (
        "nan_literal",
        SEED_NORMAL_CURL_BODY.replace(b"50.00", b"NaN"),
        "application/json",
        400,
        "malformed_json",
    ),
    (
        "infinity",
        SEED_NORMAL_CURL_BODY.replace(b"50.00", b"1e400"),
        "application/json",
        400,
        "malformed_json",
    ),
    ("single_quotes", b"{'amount': 5}", "application/json", 400, "malformed_json"),
    ("lone_surrogate", b'{"location": "\\ud800"}', "application/json", 400, "malformed_json"),
    ("bad_utf8", b'{"location": "\xff\xfe"}', "application/json", 400, "malformed_json"),
    ("empty", b"", "application/json", 400, "empty_body"),
    ("whitespace", b"  \n ", "application/json", 400, "empty_body"),
    ("array", orjson.dumps([S]), "application/json", 422, "invalid_transaction"),
    ("string", b'"txn"', "application/json", 422, "invalid_transaction"),
    ("null", b"null", "application/json", 422, "invalid_transaction"),
    ("number", b"42", "application/json", 422, "invalid_transaction"),
    ("text_plain", SEED_NORMAL_CURL_BODY, "text/plain", 415, "unsupported_media_type"),
    ("form", b"amount=5", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("no_content_type", SEED_NORMAL_CURL_BODY, None, 415, "unsupported_media_type"),
    (
        "oversize",
        orjson.dumps(with_changes(S, location="x" * 70_000)),
        "application/json",
        413,
        "body_too_large",
    ),
]


def _assert_no_card(text: str) -> None:
    assert CARD_DIGITS not in text
    assert "4242-4242-4242-4242" not in text


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [case[1:] for case in FIELD_CASES],
    ids=[case[0] for case in FIELD_CASES],
)
def test_bad_field_gets_422_naming_it_and_nothing_is_produced(
    gateway: Gateway, body: dict[str, Any], field: str, kind: str
) -> None:
    response = gateway.post("/transaction", json=body)

    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_transaction"
    matching = [e for e in answer["errors"] if e["field"] == field]
    assert matching, answer
    assert matching[0]["type"] == kind
    assert len(matching[0]["message"]) > 15
    _assert_no_card(response.text)
    assert gateway.producer.records == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [case[1:] for case in RAW_CASES],
    ids=[case[0] for case in RAW_CASES],
)
def test_bad_body_gets_4xx_with_reason_and_nothing_is_produced(
    gateway: Gateway, body: bytes, content_type: str | None, status: int, error: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = gateway.post("/transaction", content=body, headers=headers)

    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == error
    assert len(answer["message"]) > 15
    _assert_no_card(response.text)
    assert gateway.producer.records == []


def test_the_table_has_at_least_fifty_bad_inputs() -> None:
    assert len(FIELD_CASES) + len(RAW_CASES) >= 50


@pytest.mark.parametrize(
    "raw", [SEED_NORMAL_CURL_BODY, SEED_FRAUD_CURL_BODY], ids=["normal", "fraud"]
)
def test_seed_readme_curl_bodies_are_accepted_unchanged(gateway: Gateway, raw: bytes) -> None:
    response = gateway.post("/transaction", content=raw, headers=JSON)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    assert len(gateway.producer.records) == 1


def test_several_errors_are_reported_together(gateway: Gateway) -> None:
    body = with_changes(SEED_FRAUD, amount=-1, card_number="1234", timestamp="yesterday")

    response = gateway.post("/transaction", json=body)

    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"amount", "card_number", "timestamp"}


def test_naive_timestamp_message_explains_why(gateway: Gateway) -> None:
    body = with_changes(S, timestamp="2025-07-15T10:00:00")

    message = gateway.post("/transaction", json=body).json()["errors"][0]["message"]

    assert "timezone" in message
    assert "'Z'" in message


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 50},
        {"amount": 0.01},
        {"amount": 1_000_000},
        {"currency": "JPY", "amount": 5000},
        {"currency": "KWD", "amount": 1.125},
        {"card_number": "4242 4242 4242 4242"},
        {"card_number": "424242424242"},
        {"card_number": "4242424242424242428"},
        {"timestamp": "2025-07-15T12:00:00+02:00"},
        {"timestamp": "2025-07-15T10:00:00.123456Z"},
        {"latitude": 40.7128, "longitude": -74.006},
        {"latitude": -90, "longitude": 180},
        {"location": "São Paulo"},
        {"transaction_id": "a" * 64},
        {"user_id": "user@example.com"},
    ],
)
def test_edge_values_that_are_valid_are_accepted(gateway: Gateway, changes: dict[str, Any]) -> None:
    response = gateway.post("/transaction", json=with_changes(S, **changes))

    assert response.status_code == 202, response.text
    assert len(gateway.producer.records) == 1
