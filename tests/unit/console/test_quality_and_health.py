from __future__ import annotations

import pytest

from fraudctl.alerts import RateMeter, detection_quality, is_fraud_label


@pytest.mark.parametrize(
    ("label", "fraud"),
    [("card_testing", True), ("confirmed_fraud", True), ("false_positive", False),
     ("legit", False), ("Normal", False), ("", False)],
)  # fmt: skip
def test_fraud_labels(label: str, fraud: bool) -> None:
    assert is_fraud_label(label) is fraud


def test_detection_quality_joins_alerts_with_labels() -> None:
    labels = {"a": "amount_spike", "b": "false_positive", "c": "velocity", "d": "legit"}
    quality = detection_quality(["a", "b", "x"], labels)
    assert (quality.true_positives, quality.false_positives, quality.false_negatives) == (1, 1, 1)
    assert quality.precision == 0.5
    assert quality.recall == 0.5


def test_detection_quality_unknown_without_labels() -> None:
    quality = detection_quality(["a"], {})
    assert quality.precision is None and quality.recall is None


def test_rate_meter() -> None:
    meter = RateMeter()
    assert meter.sample(10.0, 1000) is None
    assert meter.sample(12.0, 1400) == 200.0
    assert meter.sample(13.0, None) is None  # topic unreadable: start over
    assert meter.sample(14.0, 1500) is None
    assert meter.sample(15.0, 10) is None  # offsets went back (topic recreated)
