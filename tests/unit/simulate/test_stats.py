"""Counters and percentiles behind the live display and the summary."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudctl.simulate.stats import (
    MAX_DISTINCT_REASONS,
    TIMEOUT,
    UNREACHABLE,
    LatencyHistogram,
    Outcomes,
    RecentLatency,
    achieved_rate,
    rate_error,
    ratio,
)


def test_empty_histogram_has_no_percentiles() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile(50) is None and histogram.mean_ms is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.02, max_value=500_000), min_size=1, max_size=400))
def test_histogram_percentiles_are_within_one_percent_of_exact(values: list[float]) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    for q in (50, 90, 99, 100):
        exact = float(np.percentile(values, q, method="inverted_cdf"))
        got = histogram.percentile(q)
        assert got is not None
        assert got == pytest.approx(exact, rel=0.0101)
        assert got <= max(values)
    assert histogram.count == len(values)
    assert histogram.max_ms == max(values)


def test_histogram_on_a_skewed_distribution() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(1.0, 1.2) for _ in range(50_000)]
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    assert histogram.percentile(50) == pytest.approx(float(np.median(values)), rel=0.011)
    assert histogram.percentile(99) == pytest.approx(float(np.percentile(values, 99)), rel=0.011)
    with pytest.raises(ValueError, match="between 0 and 100"):
        histogram.percentile(101)


def test_recent_latency_forgets_old_samples() -> None:
    recent = RecentLatency(window_s=5.0)
    for i in range(100):
        recent.add(1000.0, at=0.0 + i * 0.01)  # old and slow
    for i in range(1, 101):
        recent.add(float(i), at=10.0)
    p50, p99 = recent.percentiles(50, 99, now=10.0)
    assert (p50, p99) == (50.0, 99.0)
    assert recent.percentiles(50, now=100.0) == [None]


def test_outcomes_split_accepted_rejected_failed() -> None:
    outcomes = Outcomes()
    outcomes.add(202, n=95)
    outcomes.add(422, "invalid_transaction", "amount: must be greater than 0", n=3)
    outcomes.add(503, "broker_unavailable", "the broker did not confirm in time")
    outcomes.add(TIMEOUT, "timeout", "no answer")
    outcomes.add(UNREACHABLE, "unreachable", "connection refused", n=4)
    assert outcomes.total == 104
    assert outcomes.accepted == 95
    assert outcomes.rejected == 3
    assert outcomes.failed == 6
    top = outcomes.reasons()[0]
    assert (top.status, top.error, top.count) == (UNREACHABLE, "unreachable", 4)
    assert {r.error for r in outcomes.reasons()} == {
        "invalid_transaction",
        "broker_unavailable",
        "timeout",
        "unreachable",
    }
    reason_422 = next(r for r in outcomes.reasons() if r.status == 422)
    assert reason_422.message == "amount: must be greater than 0"


def test_distinct_reasons_are_capped_into_other() -> None:
    outcomes = Outcomes()
    for i in range(MAX_DISTINCT_REASONS + 10):
        outcomes.add(422, f"reason_{i}", "m")
    reasons = outcomes.reasons()
    assert len(reasons) == MAX_DISTINCT_REASONS + 1
    other = next(r for r in reasons if r.error == "other")
    assert other.count == 10
    assert sum(r.count for r in reasons) == outcomes.rejected == MAX_DISTINCT_REASONS + 10


def test_rate_arithmetic() -> None:
    assert achieved_rate(4000, 20.0) == 200.0
    assert achieved_rate(10, 0.0) == 0.0
    assert rate_error(196.0, 200.0) == pytest.approx(-0.02)
    assert rate_error(1010.0, 1000.0) == pytest.approx(0.01)
    assert ratio(1, 4) == 0.25 and ratio(1, 0) is None
