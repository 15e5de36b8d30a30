"""Reason codes an operator can read."""

from __future__ import annotations

import math

import pytest

from models.contracts.reason import Reason
from models.features import FEATURE_NAMES, Evidence
from models.reasons import explain


def vector(**values: float) -> list[float]:
    base = dict.fromkeys(FEATURE_NAMES, 0.0)
    base.update(log_amount=math.log1p(50.0), log_seconds_since_prev=9.0)
    base.update(txn_count_1m=1.0, txn_count_1h=1.0)
    base.update(values)
    return [base[name] for name in FEATURE_NAMES]


def evidence(**values: object) -> Evidence:
    base: dict[str, object] = {
        "history_count": 20,
        "typical_amount": 50.0,
        "merchant_is_new": False,
        "hour_utc": 3,
        "travel_km": 0.0,
        "travel_minutes": 0.0,
        "speed_kmh": 0.0,
    }
    base.update(values)
    return Evidence(**base)  # type: ignore[arg-type]


def test_amount_spike_says_how_many_times() -> None:
    reasons = explain(vector(amount_log_ratio=math.log(100.0), amount_zscore=6.0))
    assert reasons == [Reason("AMOUNT_SPIKE", "100x this user's average")]
    assert str(reasons[0]) == "AMOUNT_SPIKE: 100x this user's average"
    with_typical = explain(vector(amount_log_ratio=math.log(4.0), amount_zscore=3.0), evidence())
    assert with_typical[0].message == "4.0x this user's average (50.00)"


def test_velocity() -> None:
    assert explain(vector(txn_count_1m=12.0, txn_count_1h=12.0)) == [
        Reason("VELOCITY", "12 transactions in 60 s")
    ]
    assert explain(vector(txn_count_1h=9.0))[0].message == "9 transactions in 1 h"


def test_impossible_travel_with_and_without_evidence() -> None:
    features = vector(log_excess_speed_kmh=math.log1p(23_000.0))
    found = explain(features, evidence(travel_km=4000.0, travel_minutes=10.0, speed_kmh=24_000.0))
    assert found == [Reason("IMPOSSIBLE_TRAVEL", "4,000 km in 10 min")]
    assert explain(features)[0].message == "implied speed 24,000 km/h"


def test_new_merchant_at_an_odd_hour() -> None:
    found = explain(vector(merchant_novelty=1.0, hour_deviation=5.0), evidence())
    assert found[0].code == "NEW_MERCHANT_ODD_HOUR"
    assert "03:00 UTC" in found[0].message


def test_small_probe_amount() -> None:
    found = explain(vector(log_amount=math.log1p(1.0), amount_log_ratio=math.log(0.02)))
    assert found[0].code == "SMALL_AMOUNT_PROBE"
    assert found[0].message == "1.00 is 50x below this user's average"


def test_strongest_first_and_limited() -> None:
    features = vector(
        amount_log_ratio=math.log(10.0),
        amount_zscore=3.0,
        txn_count_1m=15.0,
        merchant_novelty=1.0,
        hour_deviation=3.0,
        log_excess_speed_kmh=5.0,
    )
    codes = [r.code for r in explain(features)]
    assert codes[0] == "VELOCITY" and len(codes) == 3
    assert len(explain(features, limit=5)) == 4


def test_nothing_unusual_gives_no_reason() -> None:
    assert explain(vector()) == []


def test_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        explain([1.0, 2.0])


def test_reason_serialises() -> None:
    assert Reason("VELOCITY", "3 transactions in 60 s").to_dict() == {
        "code": "VELOCITY",
        "message": "3 transactions in 60 s",
    }
