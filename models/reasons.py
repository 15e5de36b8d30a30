"""Human-readable reasons for an alert, derived from the features an operator can check.

The model says *how* unusual a transaction is; these rules say *why*, in the words of
the fraud patterns: `AMOUNT_SPIKE: 100x this user's average`, `VELOCITY: 12 transactions
in 60 s`, `IMPOSSIBLE_TRAVEL: 4,000 km in 10 min`, `NEW_MERCHANT_ODD_HOUR: ...`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from models.contracts.reason import Reason as Reason
from models.features import FEATURE_NAMES, MAX_PLAUSIBLE_KMH, Evidence

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}

AMOUNT_SPIKE_RATIO = 3.0
AMOUNT_SPIKE_Z = 2.5
PROBE_RATIO = 0.1
VELOCITY_MINUTE = 3
VELOCITY_HOUR = 8
ODD_HOUR_DEVIATION = 2.5
NEW_MERCHANT_NOVELTY = 0.8


FALLBACK = Reason(
    "UNUSUAL_PATTERN", "an unusual combination of amount, timing and merchant for this user"
)

Rule = Callable[[Sequence[float], Evidence | None], tuple[float, Reason] | None]


def explain(
    features: Sequence[float], evidence: Evidence | None = None, limit: int = 3
) -> list[Reason]:
    """The strongest reasons first (at most `limit`); [] when nothing stands out."""
    if len(features) != len(FEATURE_NAMES):
        raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {len(features)}")
    found = [hit for rule in _RULES if (hit := rule(features, evidence)) is not None]
    found.sort(key=lambda hit: -hit[0])
    return [reason for _strength, reason in found[:limit]]


def _value(features: Sequence[float], name: str) -> float:
    return float(features[_INDEX[name]])


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _amount_spike(
    features: Sequence[float], evidence: Evidence | None
) -> tuple[float, Reason] | None:
    ratio = math.exp(_value(features, "amount_log_ratio"))
    zscore = _value(features, "amount_zscore")
    if ratio < AMOUNT_SPIKE_RATIO or zscore < AMOUNT_SPIKE_Z:
        return None
    message = f"{_times(ratio)} this user's average"
    if evidence is not None and evidence.typical_amount is not None:
        message += f" ({evidence.typical_amount:,.2f})"
    return zscore / AMOUNT_SPIKE_Z, Reason("AMOUNT_SPIKE", message)


def _small_probe(
    features: Sequence[float], evidence: Evidence | None
) -> tuple[float, Reason] | None:
    ratio = math.exp(_value(features, "amount_log_ratio"))
    if ratio > PROBE_RATIO:
        return None
    amount = math.expm1(_value(features, "log_amount"))
    return (
        PROBE_RATIO / ratio / 2.0,
        Reason(
            "SMALL_AMOUNT_PROBE", f"{amount:,.2f} is {_times(1 / ratio)} below this user's average"
        ),
    )


def _velocity(features: Sequence[float], evidence: Evidence | None) -> tuple[float, Reason] | None:
    minute = int(_value(features, "txn_count_1m"))
    hour = int(_value(features, "txn_count_1h"))
    if minute >= VELOCITY_MINUTE:
        return minute / VELOCITY_MINUTE * 1.5, Reason("VELOCITY", f"{minute} transactions in 60 s")
    if hour >= VELOCITY_HOUR:
        return hour / VELOCITY_HOUR, Reason("VELOCITY", f"{hour} transactions in 1 h")
    return None


def _travel(features: Sequence[float], evidence: Evidence | None) -> tuple[float, Reason] | None:
    excess = _value(features, "log_excess_speed_kmh")
    if excess <= 0.0:
        return None
    if evidence is not None and evidence.travel_km > 0:
        minutes = evidence.travel_minutes
        span = f"{minutes:,.0f} min" if minutes < 120 else f"{minutes / 60:,.1f} h"
        message = f"{evidence.travel_km:,.0f} km in {span}"
    else:
        message = f"implied speed {math.expm1(excess) + MAX_PLAUSIBLE_KMH:,.0f} km/h"
    return 3.0 + excess / 10.0, Reason("IMPOSSIBLE_TRAVEL", message)


def _merchant_and_hour(
    features: Sequence[float], evidence: Evidence | None
) -> tuple[float, Reason] | None:
    new = _value(features, "merchant_novelty") >= NEW_MERCHANT_NOVELTY
    odd = _value(features, "hour_deviation") >= ODD_HOUR_DEVIATION
    when = f" ({evidence.hour_utc:02d}:00 UTC)" if evidence is not None else ""
    strength = _value(features, "hour_deviation") / ODD_HOUR_DEVIATION
    if new and odd:
        return (
            1.0 + strength,
            Reason(
                "NEW_MERCHANT_ODD_HOUR",
                f"first purchase at this merchant, at an unusual hour{when}",
            ),
        )
    if odd:
        return strength * 0.8, Reason("ODD_HOUR", f"unusual hour for this user{when}")
    if new:
        return 0.5, Reason("NEW_MERCHANT", "first purchase at this merchant")
    return None


_RULES: tuple[Rule, ...] = (_amount_spike, _small_probe, _velocity, _travel, _merchant_and_hour)
