"""The seed scenario through the feature code, the portable scorer and the reasons."""

from __future__ import annotations

from pathlib import Path

from models.detector import Detector
from models.features import UserState
from models.training import ModelCard
from tests.unit.models.conftest import MakeTxn


def test_seed_scenario_on_the_default_model(default_model: Path, make_txn: MakeTxn) -> None:
    """A new user's 50.00 is not flagged; their 5000.00 a minute later is, for its amount."""
    detector = Detector.load(default_model)
    first, result = detector.process(None, make_txn(transaction_id="txn_normal_001", amount=50.0))
    assert first is not None and not first.flagged and first.reasons == ()
    second, _ = detector.process(
        result.state,
        make_txn(
            at=60,
            transaction_id="txn_fraud_002",
            amount=5000.0,
            merchant_id="merchant_b",
            location="Online",
        ),
    )
    assert second is not None and second.flagged
    assert second.score >= second.threshold > first.score
    assert second.reasons[0].code == "AMOUNT_SPIKE"
    assert str(second.reasons[0]).startswith("AMOUNT_SPIKE: 100x this user's average")


def test_duplicates_get_no_decision(small_model: tuple[Path, ModelCard], make_txn: MakeTxn) -> None:
    detector = Detector.load(small_model[0])
    txn = make_txn()
    _, result = detector.process(UserState(), txn)
    decision, again = detector.process(result.state, txn)
    assert decision is None and again.duplicate and again.state is result.state


def test_decision_serialises(small_model: tuple[Path, ModelCard], make_txn: MakeTxn) -> None:
    directory, card = small_model
    detector = Detector.load(directory)
    decision, _ = detector.process(None, make_txn())
    assert decision is not None
    data = decision.to_dict()
    assert set(data) == {
        "score",
        "threshold",
        "flagged",
        "reasons",
        "model_version",
        "anomaly_score",
    }
    assert data["model_version"] == card.model_version
    assert data["threshold"] == card.supervised["threshold"]  # type: ignore[index]
    assert 0.0 <= data["anomaly_score"] <= 1.0


def test_flagged_decisions_always_have_a_reason(small_model: tuple[Path, ModelCard]) -> None:
    detector = Detector.load(small_model[0])
    plain = [0.0] * len(detector.feature_names)
    decision = detector.decide(plain)
    forced = Detector(detector.scorer, detector.supervised)
    forced.threshold = 0.0  # everything is flagged now
    assert forced.decide(plain).reasons, decision
    alone = Detector(detector.scorer)
    alone.threshold = 0.0
    assert alone.decide(plain).reasons
