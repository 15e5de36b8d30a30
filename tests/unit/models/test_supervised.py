"""Supervised training: leakage-free replay, time slices, portable export equal to sklearn."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.detector import Detector
from models.generator import generate_dataset
from models.label_risk import DAY_MS, LABEL_FEATURE_NAMES, NO_LABEL_FEATURES
from models.scorer import ModelFormatError
from models.supervised import (
    SupervisedConfig,
    fit_classifier,
    replay_labelled,
    time_slices,
    train_supervised,
)
from models.supervised_scorer import SUPERVISED_FEATURE_NAMES, SupervisedScorer
from models.training import ModelCard
from tests.unit.models.conftest import classifier_inputs

F = {name: i for i, name in enumerate(LABEL_FEATURE_NAMES)}


def test_replay_feeds_labels_only_after_the_delay() -> None:
    data = generate_dataset(seed=5, n_users=60, days=4, fraud_ratio=0.1)
    pairs = [(r.transaction, r.label) for r in data.records]
    rows = replay_labelled(pairs, label_delay_ms=DAY_MS)
    start = rows.times.min()
    first_day = rows.times < start + DAY_MS
    assert first_day.any() and (rows.label[first_day] == np.array(NO_LABEL_FEATURES)).all()
    assert (rows.label[~first_day, F["merchant_fraud_share_7d"]] > 0).any()
    assert rows.labels_fed["fraud"] > 0 and rows.labels_fed["legit"] > 0
    immediate = replay_labelled(pairs, label_delay_ms=0)
    assert (immediate.label != rows.label).any()
    none = replay_labelled(pairs, label_delay_ms=DAY_MS, legit_label_share=0.0)
    assert none.labels_fed["legit"] == 0


def test_replay_refuses_unordered_records() -> None:
    data = generate_dataset(seed=5, n_users=20, days=1, fraud_ratio=0.0)
    pairs = [(r.transaction, r.label) for r in data.records][::-1]
    with pytest.raises(ValueError, match="event-time order"):
        replay_labelled(pairs, DAY_MS)


def test_time_slices_are_ordered_and_disjoint() -> None:
    times = np.array([5, 1, 4, 2, 3, 9, 7, 8, 6, 0], dtype=np.int64)
    train, check, test = time_slices(times, SupervisedConfig(train_share=0.5, validation_share=0.3))
    assert times[train].max() < times[check].min() and times[check].max() < times[test].min()
    assert len(train) + len(check) + len(test) == len(times)
    with pytest.raises(ValueError, match="test slice"):
        SupervisedConfig(train_share=0.7, validation_share=0.3)


def test_portable_classifier_equals_sklearn(small_model: tuple[Path, ModelCard]) -> None:
    directory, card = small_model
    detector = Detector.load(directory)
    assert detector.supervised is not None
    classifier, rows, matrix = classifier_inputs(directory, seed=99)
    expected = classifier.predict_proba(matrix)[:, 1]
    scorer = detector.supervised
    got = np.array([scorer.probability(row.tolist()) for row in matrix])
    assert np.max(np.abs(got - expected)) <= 1e-9
    walked = np.array([scorer.probability_reference(row.tolist()) for row in matrix[:200]])
    assert np.max(np.abs(walked - expected[:200])) <= 1e-9
    decisions = [
        detector.decide(rows.user[i].tolist(), None, rows.label[i].tolist())
        for i in range(len(rows))
    ]
    assert [d.score for d in decisions] == pytest.approx(list(expected), abs=1e-9)
    assert all(d.flagged == (d.score >= card.supervised["threshold"]) for d in decisions)  # type: ignore[index]


def test_scorer_refuses_other_features(small_model: tuple[Path, ModelCard]) -> None:
    directory, _ = small_model
    arrays = dict(np.load(directory / "supervised.npz", allow_pickle=False))
    arrays["feature_names"] = np.array(["x", *SUPERVISED_FEATURE_NAMES[1:]])
    with pytest.raises(ModelFormatError, match="retrain"):
        SupervisedScorer(arrays)
    scorer = SupervisedScorer.load(directory / "supervised.npz")
    with pytest.raises(ValueError, match="finite"):
        scorer.probability([float("nan")] * len(SUPERVISED_FEATURE_NAMES))
    with pytest.raises(ValueError, match="expected"):
        scorer.probability([0.0])


def test_label_risk_reasons_on_flagged_decisions(small_model: tuple[Path, ModelCard]) -> None:
    detector = Detector.load(small_model[0])
    detector.threshold = 0.0
    risky = list(NO_LABEL_FEATURES)
    risky[F["card_fraud_log_count_30d"]] = np.log1p(2)
    risky[F["card_log_hours_since_fraud"]] = np.log1p(5)
    risky[F["merchant_fraud_log_count_30d"]] = np.log1p(4)
    risky[F["merchant_fraud_log_count_7d"]] = np.log1p(3)
    risky[F["merchant_fraud_share_30d"]] = 0.4
    decision = detector.decide([4.0, 0, 0, 8.0, 1, 1, 0, 0, 0], None, risky)
    codes = [reason.code for reason in decision.reasons]
    assert codes[:2] == ["CARD_FLAGGED", "MERCHANT_RISK"]
    assert "2 frauds confirmed on this card" in decision.reasons[0].message
    assert decision.anomaly_score is not None and decision.model_version.startswith("gbt-")


def test_exported_model_is_refit_on_every_row_with_the_chosen_threshold() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    features = rng.normal(size=(n, len(SUPERVISED_FEATURE_NAMES)))
    fraud = features[:, 0] + 0.5 * rng.normal(size=n) > 2.0
    tags: list[str | None] = ["spike" if f else None for f in fraud]
    times = np.arange(n, dtype=np.int64) * 60_000
    small = SupervisedConfig(max_iter=20)
    refit = train_supervised(features, fraud, tags, times, "if-x", small)
    sliced = train_supervised(
        features, fraud, tags, times, "if-x", replace(small, refit_on_all=False)
    )
    assert refit.threshold == sliced.threshold  # chosen on the same validation slice
    assert refit.report["validation"] == sliced.report["validation"]
    assert refit.model_version != sliced.model_version and "refit" in refit.report
    assert refit.report["model_version"] == refit.model_version
    assert refit.classifier.n_iter_ == 20
    # the exported model is the one fitted on every row (validation and test slices too)
    everything = fit_classifier(features, fraud, small)
    assert np.array_equal(
        refit.classifier.predict_proba(features), everything.predict_proba(features)
    )
