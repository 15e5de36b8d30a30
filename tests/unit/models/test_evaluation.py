"""Threshold choice and metrics on hand-checkable data."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import choose_threshold, evaluate

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
LABELS = ["card_testing", "amount_spike", None, "card_testing", None, None, "amount_spike"]


def test_metrics_at_a_threshold() -> None:
    result = evaluate(SCORES, LABELS, threshold=0.6)
    assert (result.flagged, result.true_positives, result.false_positives) == (4, 3, 1)
    assert result.precision == 0.75 and result.recall == 0.75
    assert result.recall_by_pattern == {"amount_spike": 0.5, "card_testing": 1.0}
    assert result.frauds_by_pattern == {"amount_spike": 2, "card_testing": 2}
    assert 0 < result.pr_auc <= 1


def test_threshold_takes_the_most_recall_at_the_target_precision() -> None:
    assert choose_threshold(SCORES, LABELS, target_precision=0.75) == 0.6
    assert choose_threshold(SCORES, LABELS, target_precision=1.0) == 0.8


def test_ties_are_never_split() -> None:
    scores = np.array([0.9, 0.7, 0.7, 0.1])
    labels = ["x", "x", None, None]
    # at 0.7 both tied rows are flagged: precision 2/3, so 0.7 is allowed only below that;
    # cutting inside the tie would wrongly claim precision 1.0 for 0.7
    assert choose_threshold(scores, labels, target_precision=0.6) == 0.7
    assert choose_threshold(scores, labels, target_precision=0.7) == 0.9


def test_unreachable_target_falls_back_to_best_f1() -> None:
    scores = np.array([0.9, 0.8, 0.7])
    labels = [None, "x", "x"]
    assert choose_threshold(scores, labels, target_precision=0.99) == 0.7


def test_no_fraud_in_validation_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no fraud"):
        choose_threshold(np.array([0.5, 0.6]), [None, None], 0.8)
