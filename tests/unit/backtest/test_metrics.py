"""Backtest metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudctl.backtest.metrics import (
    DAY_MS,
    Scored,
    card_precision_at_k,
    compute_metrics,
    day_of,
)

DAY0 = 1_751_328_000_000  # 2025-07-01T00:00:00Z


def row(
    txn: str,
    score: float,
    fraud: bool,
    *,
    card: str = "c",
    day: int = 0,
    flagged: bool = False,
    anomaly: float | None = None,
    pattern: str | None = None,
) -> Scored:
    return Scored(
        transaction_id=txn,
        event_ms=DAY0 + day * DAY_MS + 3_600_000,
        fraud=fraud,
        score=score,
        flagged=flagged,
        card=card,
        anomaly_score=anomaly,
        pattern=pattern,
        model_version="v1",
    )


def test_ranking_metrics_match_sklearn_on_random_data() -> None:
    rng = random.Random(3)
    rows = [
        row(f"t{i}", rng.random(), rng.random() < 0.2, anomaly=rng.random(), card=f"c{i % 40}")
        for i in range(500)
    ]
    metrics = compute_metrics(rows, k=10)
    truth = [int(r.fraud) for r in rows]
    assert metrics.roc_auc == pytest.approx(roc_auc_score(truth, [r.score for r in rows]))
    assert metrics.average_precision == pytest.approx(
        average_precision_score(truth, [r.score for r in rows])
    )
    assert metrics.iforest_average_precision == pytest.approx(
        average_precision_score(truth, [r.anomaly_score for r in rows])
    )
    assert metrics.iforest_scored == 500


def test_hand_computed_small_case() -> None:
    rows = [
        row("a", 0.9, True, flagged=True, card="c1", pattern="card_testing"),
        row("b", 0.8, False, flagged=True, card="c2"),
        row("c", 0.7, True, flagged=False, card="c3", pattern="card_testing"),
        row("d", 0.1, False, flagged=False, card="c4"),
        row("e", 0.6, True, flagged=True, card="c5", pattern="amount_spike"),
    ]
    metrics = compute_metrics(rows, k=2)
    # ranking by score: a(F) b(L) c(F) e(F) d(L): AP = (1/1 + 2/3 + 3/4) / 3
    assert metrics.average_precision == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    # ROC-AUC: fraud/legit pairs ranked right: a>b,a>d, c<b,c>d, e<b,e>d -> 4 of 6
    assert metrics.roc_auc == pytest.approx(4 / 6)
    assert (metrics.alerts, metrics.true_alerts, metrics.frauds) == (3, 2, 3)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.card_precision_at_k == pytest.approx(1 / 2)  # top-2 cards c1 (F), c2 (L)
    assert metrics.recall_by_pattern == {
        "amount_spike": {"frauds": 1, "caught": 1, "recall": 1.0},
        "card_testing": {"frauds": 2, "caught": 1, "recall": 0.5},
    }
    assert metrics.alerts_per_day == {"2025-07-01": 3}
    assert metrics.iforest_average_precision is None  # no anomaly scores in these rows


def test_card_precision_uses_the_max_score_per_card_and_day() -> None:
    rows = [
        # day 0: card x has a low fraud and a high legit -> card score 0.95, fraud card
        row("1", 0.2, True, card="x"),
        row("2", 0.95, False, card="x"),
        row("3", 0.9, False, card="y"),
        row("4", 0.5, True, card="z"),
        # day 1: only card y, fraud
        row("5", 0.3, True, card="y", day=1),
    ]
    assert card_precision_at_k(rows[:4], 1) == 1.0  # x
    assert card_precision_at_k(rows[:4], 2) == 0.5  # x, y
    assert card_precision_at_k(rows[:4], 3) == pytest.approx(2 / 3)
    metrics = compute_metrics(rows, k=2)
    per_day = [day.card_precision_at_k for day in metrics.days]
    assert per_day == [0.5, 1.0]  # day 1 has one card: the share of the cards it has
    assert metrics.card_precision_at_k == pytest.approx(0.75)
    assert [day.day for day in metrics.days] == ["2025-07-01", "2025-07-02"]


def test_card_ties_do_not_depend_on_row_order() -> None:
    rows = [row("1", 0.5, True, card="b"), row("2", 0.5, False, card="a")]
    assert card_precision_at_k(rows, 1) == card_precision_at_k(rows[::-1], 1) == 0.0


def test_one_class_gives_no_ranking_metrics_and_no_alerts_gives_no_precision() -> None:
    metrics = compute_metrics([row("1", 0.3, False), row("2", 0.4, False)], k=5)
    assert metrics.roc_auc is None and metrics.average_precision is None
    assert metrics.precision is None
    assert metrics.recall is None  # no frauds
    with pytest.raises(ValueError, match="k must be"):
        card_precision_at_k([], 0)


def test_json_payload_has_the_required_keys() -> None:
    payload = compute_metrics([row("1", 0.9, True, flagged=True), row("2", 0.1, False)]).to_dict()
    for key in ("roc_auc", "average_precision", "precision", "recall", "card_precision_at_k"):
        assert key in payload
    assert payload["alerts_per_day"] == {"2025-07-01": 1}
    assert day_of(DAY0 - 1) == "2025-06-30"
