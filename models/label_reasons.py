"""Reasons from confirmed labels: the merchant or the card already had fraud.

The label-risk features (`models.label_risk`) say how much fraud was confirmed, and how
recently, at this merchant and on this card; these rules say it in words an analyst can
check, e.g. `CARD_FLAGGED: 2 confirmed frauds on this card in 30 days`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.label_risk import LABEL_FEATURE_NAMES
from models.reasons import Reason

_INDEX = {name: i for i, name in enumerate(LABEL_FEATURE_NAMES)}
MERCHANT_MIN_FRAUDS = 2  # one confirmed fraud at a busy merchant is not yet a pattern
MERCHANT_MIN_SHARE = 0.05


def explain_label_risk(label_features: Sequence[float]) -> list[Reason]:
    """CARD_FLAGGED and/or MERCHANT_RISK, strongest first; [] when no label stands out."""
    if len(label_features) != len(LABEL_FEATURE_NAMES):
        raise ValueError(
            f"expected {len(LABEL_FEATURE_NAMES)} label features, got {len(label_features)}"
        )
    found: list[Reason] = []
    card_frauds = _count(label_features[_INDEX["card_fraud_log_count_30d"]])
    if card_frauds:
        hours = math.expm1(label_features[_INDEX["card_log_hours_since_fraud"]])
        found.append(
            Reason(
                "CARD_FLAGGED",
                f"{_frauds(card_frauds)} confirmed on this card in 30 days, the last {_ago(hours)}",
            )
        )
    merchant_frauds = _count(label_features[_INDEX["merchant_fraud_log_count_30d"]])
    share = label_features[_INDEX["merchant_fraud_share_30d"]]
    if merchant_frauds >= MERCHANT_MIN_FRAUDS and share >= MERCHANT_MIN_SHARE:
        week = _count(label_features[_INDEX["merchant_fraud_log_count_7d"]])
        found.append(
            Reason(
                "MERCHANT_RISK",
                f"{_frauds(merchant_frauds)} confirmed at this merchant in 30 days "
                f"({week} in 7 days, {share:.0%} of its labels)",
            )
        )
    return found


def _count(log_count: float) -> int:
    return round(math.expm1(log_count))


def _frauds(count: int) -> str:
    return "1 fraud" if count == 1 else f"{count} frauds"


def _ago(hours: float) -> str:
    if hours < 1:
        return "less than an hour ago"
    if hours < 48:
        return f"{hours:.0f} h ago"
    return f"{hours / 24:.0f} days ago"
