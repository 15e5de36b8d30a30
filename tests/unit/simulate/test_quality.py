"""This run's precision/recall: the incremental join equals the console's batch join."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudctl.alerts.labels import is_fraud_label
from fraudctl.alerts.quality import detection_quality
from fraudctl.simulate.quality import LEGIT_LABEL, RunQuality, label_of
from models.patterns import PATTERN_NAMES


def test_labels_mean_what_the_console_thinks_they_mean() -> None:
    assert not is_fraud_label(LEGIT_LABEL)
    assert label_of(None) == LEGIT_LABEL
    for name in PATTERN_NAMES:
        assert is_fraud_label(label_of(name))


def test_counts_by_hand() -> None:
    q = RunQuality()
    for i in range(10):
        q.sent(f"f{i}", "card_testing" if i < 6 else "amount_spike")
    for i in range(90):
        q.sent(f"g{i}", None)
    for txn in ["f0", "f1", "f2", "f6", "g5", "g6", "f0"]:  # f0 twice: one alert counts once
        q.alert(txn)
    final = q.final()
    assert (final.true_positives, final.false_positives, final.false_negatives) == (4, 2, 6)
    assert final.precision == 4 / 6 and final.recall == 4 / 10
    by = {row.pattern: row for row in q.by_pattern()}
    assert (by["card_testing"].injected, by["card_testing"].alerted) == (6, 3)
    assert by["amount_spike"].recall == 1 / 4
    assert q.alerts_seen == 6


def test_live_view_waits_for_the_job_before_calling_a_miss() -> None:
    q = RunQuality()
    for txn in ("a", "b", "c"):
        q.sent(txn, "amount_spike")
    q.sent("n", None)
    q.decision("a", flagged=True)
    q.decision("b", flagged=False)  # a miss
    q.decision("n", flagged=False)
    assert q.alerts_pending == 1  # a: flagged, no alert yet
    live = q.live()
    assert (live.true_positives, live.false_positives, live.false_negatives) == (0, 0, 1)
    q.alert("a")
    assert q.alerts_pending == 0
    assert q.live().recall == 0.5  # c is still in the pipeline: not a miss yet
    assert q.final().recall == 1 / 3  # at the end it is


def test_refused_transactions_are_not_ground_truth() -> None:
    q = RunQuality()
    q.sent("f", "card_testing")
    q.sent("g", None)
    q.alert("g")
    q.withdraw("f", "card_testing")
    q.withdraw("g", None)
    q.alert("f")  # an alert for something the gateway refused is ignored
    final = q.final()
    assert (final.true_positives, final.false_positives, final.false_negatives) == (0, 0, 0)
    assert q.frauds_sent == 0 and q.legit_sent == 0 and q.by_pattern() == []


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=60),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_incremental_join_equals_the_console_join(seed: int, n: int, alert_share: float) -> None:
    """Any order of sends, alerts, duplicates and refusals gives the same numbers as
    fraudctl.alerts.quality.detection_quality over the labels that were recorded."""
    rng = random.Random(seed)
    truth = {f"t{i}": rng.choice([None, None, None, *PATTERN_NAMES]) for i in range(n)}
    refused = {t for t in truth if rng.random() < 0.15}
    alerted = [t for t in truth if rng.random() < alert_share]
    alerted += rng.sample(alerted, k=len(alerted) // 3)  # replays
    q = RunQuality()
    for txn, pattern in truth.items():  # a transaction is registered as it leaves
        q.sent(txn, pattern)
    later = [("alert", t) for t in alerted] + [("refuse", t) for t in refused]
    rng.shuffle(later)  # alerts and the gateway's refusals come back in any order
    for kind, txn in later:
        if kind == "alert":
            q.alert(txn)
        else:
            q.withdraw(txn, truth[txn])
    labels = {t: label_of(p) for t, p in truth.items() if t not in refused}
    expected = detection_quality(alerted, labels)
    got = q.final()
    assert (got.true_positives, got.false_positives, got.false_negatives) == (
        expected.true_positives,
        expected.false_positives,
        expected.false_negatives,
    )
