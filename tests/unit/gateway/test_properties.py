"""Property tests: valid payments always go through masked; anything else never reaches Kafka."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from foundation.settings import GatewaySettings, Settings
from gateway.api.app import create_app
from gateway.api.currencies import MINOR_UNITS
from gateway.api.schemas import TransactionIn
from models.contracts.card import luhn_valid
from models.contracts.transaction import Transaction
from tests.unit.gateway.conftest import CARD_SECRET, Gateway, RecordingProducer
from tests.unit.gateway.samples import SEED_NORMAL

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FIELDS = sorted(TransactionIn.model_fields)


@pytest.fixture(scope="module")
def shared_gateway() -> Iterator[Gateway]:
    """One app for all examples of this module; each test clears the recorded records."""
    test_settings = Settings(gateway=GatewaySettings(card_secret=SecretStr(CARD_SECRET)))
    producer = RecordingProducer()
    with Gateway(create_app(test_settings, producer=producer), producer) as running:
        yield running


def _check_digit(prefix: str) -> str:
    return next(d for d in "0123456789" if luhn_valid(prefix + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(as typed, digits): Luhn-valid, 12–19 digits, grouped with spaces or dashes or not."""
    length = draw(st.integers(12, 19))
    prefix = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    digits = prefix + _check_digit(prefix)
    separator = draw(st.sampled_from(["", " ", "-"]))
    group = draw(st.sampled_from([4, 3, 5]))
    typed = separator.join(digits[i : i + group] for i in range(0, len(digits), group))
    return typed, digits


identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}", fullmatch=True)
locations = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 .,'()/&#-]{0,98}[A-Za-z]", fullmatch=True)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1), timezones=offsets
)


@st.composite
def valid_transactions(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    card, digits = draw(card_numbers())
    explicit_currency = draw(st.booleans())
    currency = draw(st.sampled_from(sorted(MINOR_UNITS))) if explicit_currency else "USD"
    places = MINOR_UNITS[currency]
    amount = draw(
        st.decimals(
            min_value=Decimal(1).scaleb(-places),
            max_value=Decimal(1_000_000),
            places=places,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    body: dict[str, Any] = {
        "transaction_id": draw(identifiers),
        "user_id": draw(identifiers),
        "card_number": card,
        "amount": float(amount),
        "timestamp": draw(moments).isoformat(),
        "merchant_id": draw(identifiers),
        "location": draw(locations),
    }
    if explicit_currency:
        body["currency"] = currency
    if draw(st.booleans()):
        body["latitude"] = draw(st.floats(-90, 90))
        body["longitude"] = draw(st.floats(-180, 180))
    return body, digits


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _fingerprint(digits: str) -> str:
    return hmac.new(CARD_SECRET.encode(), digits.encode(), hashlib.sha256).hexdigest()


@PROPERTY_SETTINGS
@given(case=valid_transactions())
def test_valid_transactions_are_accepted_and_produced_masked(
    shared_gateway: Gateway, case: tuple[dict[str, Any], str]
) -> None:
    body, digits = case
    shared_gateway.producer.records.clear()

    response = shared_gateway.post("/transaction", json=body)

    assert response.status_code == 202, response.text
    [(key, value)] = shared_gateway.producer.records
    record = orjson.loads(value)
    assert key == body["user_id"].encode()
    assert digits not in value.decode()
    assert "card_number" not in record
    assert record["card_last4"] == digits[-4:]
    assert record["card_fingerprint"] == _fingerprint(digits)
    assert record["amount"] == body["amount"]
    assert record["currency"] == body.get("currency", "USD")
    sent = datetime.fromisoformat(body["timestamp"])
    assert datetime.fromisoformat(record["timestamp"]) == sent
    assert record["timestamp"].endswith("Z")
    assert record["location"] == body["location"].strip()
    assert record["received_at"] == response.json()["received_at"]
    assert record.get("latitude") == body.get("latitude")
    # The Flink job's parser accepts it and reads back the very same record.
    assert Transaction.from_record(record).to_record() == record


@PROPERTY_SETTINGS
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_a_field_replaced_by_any_json_is_accepted_only_if_valid(
    shared_gateway: Gateway, field: str, value: Any
) -> None:
    shared_gateway.producer.records.clear()
    body = dict(SEED_NORMAL, **{field: value})

    response = shared_gateway.post("/transaction", json=body)

    assert response.status_code in (202, 422), response.text
    if response.status_code == 422:
        assert shared_gateway.producer.records == []
        assert any(error["field"] in (field, "latitude") for error in response.json()["errors"])
    else:
        # Only values the model itself accepts may pass, e.g. another valid location.
        TransactionIn.model_validate(body)
        assert len(shared_gateway.producer.records) == 1


@PROPERTY_SETTINGS
@given(body=st.dictionaries(st.text(max_size=20), json_values, max_size=12))
def test_arbitrary_objects_never_cause_5xx_or_produce_invalid_records(
    shared_gateway: Gateway, body: dict[str, Any]
) -> None:
    shared_gateway.producer.records.clear()

    response = shared_gateway.post("/transaction", json=body)

    assert response.status_code == 422, response.text
    assert shared_gateway.producer.records == []


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_get_a_4xx_never_a_5xx(shared_gateway: Gateway, raw: bytes) -> None:
    shared_gateway.producer.records.clear()

    response = shared_gateway.post(
        "/transaction", content=raw, headers={"content-type": "application/json"}
    )

    assert 400 <= response.status_code < 500, response.text
    assert shared_gateway.producer.records == []


@PROPERTY_SETTINGS
@given(case=card_numbers(), position=st.integers(0, 18), delta=st.integers(1, 9))
def test_any_single_mistyped_card_digit_is_rejected(
    shared_gateway: Gateway, case: tuple[str, str], position: int, delta: int
) -> None:
    _typed, digits = case
    assume(position < len(digits))
    wrong = str((int(digits[position]) + delta) % 10)
    mistyped = digits[:position] + wrong + digits[position + 1 :]
    shared_gateway.producer.records.clear()

    response = shared_gateway.post("/transaction", json=dict(SEED_NORMAL, card_number=mistyped))

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "card_checksum"
    assert shared_gateway.producer.records == []


@PROPERTY_SETTINGS
@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1)),
)
def test_naive_timestamps_are_always_refused(shared_gateway: Gateway, moment: datetime) -> None:
    shared_gateway.producer.records.clear()
    body = dict(SEED_NORMAL, timestamp=moment.isoformat())

    response = shared_gateway.post("/transaction", json=body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "timestamp_naive"
    assert shared_gateway.producer.records == []
