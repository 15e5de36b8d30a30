"""The label contract: what is accepted, how it is keyed and encoded, and every refusal
naming its field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.contracts.label import InvalidLabel, Label

AT_MS = 1_752_573_600_000  # 2025-07-15T10:00:00Z
_DROP = object()  # a field left out
GOOD: dict[str, Any] = {
    "transaction_id": "txn_1",
    "label": "fraud",
    "source": "analyst",
    "labelled_at": AT_MS,
    "user_id": "user-1",
    "merchant_id": "merchant_b",
    "card_fingerprint": "ab12",
}


def changed(**changes: Any) -> dict[str, Any]:
    record = {**GOOD, **changes}
    return {k: v for k, v in record.items() if v is not _DROP}


def test_round_trip_keeps_every_field_and_keys_by_user() -> None:
    label = Label.from_record(GOOD)
    assert label.key == b"user-1"
    assert label.is_fraud and label.resolved
    assert orjson.loads(label.to_json()) == GOOD
    assert Label.from_json(label.to_json()) == label


def test_without_user_the_key_is_the_transaction_and_optional_fields_are_left_out() -> None:
    record = changed(user_id=_DROP, merchant_id=_DROP, card_fingerprint=_DROP, label="legit")
    label = Label.from_record(record)
    assert label.key == b"txn_1"
    assert not label.resolved and not label.is_fraud
    assert orjson.loads(label.to_json()) == record


def test_http_accepts_iso_time_with_zone_and_stores_epoch_ms() -> None:
    label = Label.from_record(changed(labelled_at="2025-07-15T12:00:00+02:00"), wire=False)
    assert label.labelled_at == AT_MS


def test_null_optional_fields_mean_unknown() -> None:
    assert Label.from_record(changed(user_id=None)).user_id is None


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        (changed(transaction_id=_DROP), "transaction_id", "missing"),
        (changed(transaction_id=""), "transaction_id", "empty"),
        (changed(transaction_id="x" * 129), "transaction_id", "129 characters"),
        (changed(transaction_id="txn 1"), "transaction_id", "not allowed"),
        (changed(transaction_id=12), "transaction_id", "string"),
        (changed(label="FRAUD"), "label", "'fraud' or 'legit'"),
        (changed(label=_DROP), "label", "missing"),
        (changed(source="bank"), "source", "'analyst' or 'chargeback' or 'simulator'"),
        (changed(source=_DROP), "source", "missing"),
        (changed(labelled_at=_DROP), "labelled_at", "missing"),
        (changed(labelled_at=1_752_573_600), "labelled_at", "seconds given"),
        (changed(labelled_at=1.5e12), "labelled_at", "integer"),
        (changed(labelled_at=True), "labelled_at", "integer"),
        (changed(labelled_at="2025-07-15T10:00:00Z"), "labelled_at", "epoch milliseconds"),
        (changed(user_id=""), "user_id", "leave the field out"),
        (changed(merchant_id="m<script>"), "merchant_id", "not allowed"),
        (changed(card_fingerprint=["a"]), "card_fingerprint", "string"),
        (changed(score=0.9), "score", "not a label field"),
    ],
)
def test_bad_wire_records_name_the_field(record: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidLabel) as caught:
        Label.from_record(record)
    assert caught.value.field == field
    assert words in caught.value.problems[0][1]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2025-07-15T10:00:00", "add 'Z'"),
        ("yesterday", "not ISO-8601"),
        ("1999-12-31T23:59:59Z", "outside 2000..2100"),
    ],
)
def test_bad_http_times_name_labelled_at(value: str, words: str) -> None:
    with pytest.raises(InvalidLabel) as caught:
        Label.from_record(changed(labelled_at=value), wire=False)
    assert caught.value.field == "labelled_at"
    assert words in str(caught.value)


def test_every_problem_is_reported_not_only_the_first() -> None:
    with pytest.raises(InvalidLabel) as caught:
        Label.from_record({"label": "maybe", "extra": 1})
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["extra", "transaction_id", "label", "source", "labelled_at"]


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"null"])
def test_undecodable_values_are_invalid_labels(data: bytes) -> None:
    with pytest.raises(InvalidLabel) as caught:
        Label.from_json(data)
    assert caught.value.field == "body"


def test_constructing_a_bad_label_in_python_fails_too() -> None:
    with pytest.raises(InvalidLabel) as caught:
        Label("txn_1", "fraud", "analyst", 5)
    assert caught.value.field == "labelled_at"


def test_messages_never_repeat_the_value() -> None:
    secret = "4111111111111111 <b>"
    with pytest.raises(InvalidLabel) as caught:
        Label.from_record(changed(user_id=secret, label=secret))
    assert secret not in str(caught.value)
