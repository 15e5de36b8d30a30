from __future__ import annotations

import json

import pytest

from fraudctl.alerts import AlertParseError, alert_fields, parse_alert_fields, parse_alert_json
from tests.fixtures.alerts import make_alert


def test_parses_the_contract() -> None:
    alert = parse_alert_fields(alert_fields(make_alert(0)))
    assert alert.transaction_id == "txn_00000"
    assert alert.reasons[0].code == "AMOUNT_SPIKE"
    assert str(alert.reasons[0]) == "AMOUNT_SPIKE: 100x this user's average"
    assert alert.top_reason == "AMOUNT_SPIKE"
    assert alert.features["amount_ratio"] == 100.0
    assert alert.latency_ms == 35


def test_bytes_fields_and_extra_keys_are_accepted() -> None:
    raw = json.dumps({**make_alert(1), "added_later": 1}).encode()
    assert parse_alert_fields({b"alert": raw}).user_id == "u-7f3a91"


def test_missing_field_is_named() -> None:
    payload = make_alert(0)
    del payload["user_id"]
    with pytest.raises(AlertParseError, match="user_id: Field required"):
        parse_alert_json(json.dumps(payload))


def test_non_finite_amount_is_refused() -> None:
    with pytest.raises(AlertParseError, match="amount"):
        parse_alert_json(json.dumps(make_alert(0, amount=float("nan"))))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"alert": "{oops"}, "not valid JSON"),
        ({"alert": "[1, 2]"}, "must be a JSON object, got list"),
        ({"payload": "{}"}, "no 'alert' field \\(fields: payload\\)"),
    ],
)
def test_bad_entries_say_what_is_wrong(fields: dict[str, str], message: str) -> None:
    with pytest.raises(AlertParseError, match=message):
        parse_alert_fields(fields)


def test_latency_unknown_without_both_times() -> None:
    assert parse_alert_json(json.dumps(make_alert(0, received_at=None))).latency_ms is None
