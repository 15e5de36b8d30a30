"""The job's parser only ever answers Transaction or InvalidTransaction, and dead letters
never carry a card number, neither in the raw text nor in the reason."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_job.records import dead_letter, invalid_reason, parse_transaction
from models.contracts.transaction import InvalidTransaction, Transaction

CARD = "4111111111111111"
VALID = {
    "transaction_id": "t1", "user_id": "u1", "card_last4": "1111",
    "card_fingerprint": "ab" * 32, "amount": 12.5, "currency": "USD",
    "timestamp": "2025-07-15T10:00:00Z", "merchant_id": "m1", "location": "Paris",
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=4),
    max_leaves=12,
)  # fmt: skip


def _parse(raw: str) -> None:
    with contextlib.suppress(InvalidTransaction):
        assert isinstance(parse_transaction(raw), Transaction)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_invalid(raw: str) -> None:
    _parse(raw)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID)), json_values, max_size=12))
def test_records_with_odd_values_parse_or_are_invalid(changes: dict[str, Any]) -> None:
    _parse(json.dumps({**VALID, **changes}))  # big ints, NaN: whatever a producer may send


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.sampled_from([CARD, "4111 1111 1111 1111", int(CARD)]))
def test_a_card_number_in_any_field_never_reaches_the_dead_letter(field: str, card: Any) -> None:
    raw = json.dumps({**VALID, field: card})
    try:
        parse_transaction(raw)
        return  # e.g. a card-like transaction_id is a valid id; nothing to dead-letter
    except InvalidTransaction as error:
        letter = dead_letter(raw, invalid_reason(error), 0)
    digits = "".join(ch for ch in letter if ch.isdigit() or ch == "\n")
    assert CARD not in digits.replace(" ", "")
    assert CARD not in letter.replace(" ", "")


def test_reasons_name_the_field_and_rule_not_the_value() -> None:
    raw = json.dumps({**VALID, "amount": "4111111111111111"})
    try:
        parse_transaction(raw)
    except InvalidTransaction as error:
        reason = invalid_reason(error)
    assert reason == "amount must be a number"
    record = orjson.loads(dead_letter(raw, f"boom ({CARD}, got {CARD})", 0))
    assert CARD not in record["reason"]
    assert CARD not in record["raw"]
