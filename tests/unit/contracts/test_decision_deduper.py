"""DecisionDeduper: the decision log's readers keep the first decision per transaction id;
standing_decisions: the decision that stands per transaction (a correction replaces it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.contracts.decision import DecisionDeduper, DecisionRecord, standing_decisions


def test_first_then_repeats_are_counted() -> None:
    dedupe = DecisionDeduper()
    ids = ["a", "b", "a", "c", "b", "a"]
    kept = [txn for txn in ids if dedupe.first(txn)]
    assert kept == ["a", "b", "c"]
    assert dedupe.duplicates == 3
    assert "a" in dedupe and "z" not in dedupe


def test_memory_is_bounded_to_two_generations() -> None:
    dedupe = DecisionDeduper(capacity=3)
    for txn in ["1", "2", "3", "4", "5", "6", "7"]:
        assert dedupe.first(txn)
    # "7" started a third generation: the oldest ("1".."3") is forgotten, "4".."6" is kept.
    assert "1" not in dedupe
    assert all(txn in dedupe for txn in ["4", "5", "6", "7"])
    assert not dedupe.first("5")
    assert dedupe.first("1")  # forgotten: a replay never reaches back this far


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DecisionDeduper(capacity=0)


def _decision(txn: str, score: float, *, correction: bool = False) -> DecisionRecord:
    return DecisionRecord(
        transaction_id=txn, user_id="u", timestamp="2026-11-29T00:00:00Z", event_time_ms=0,
        amount=10.0, currency="EUR", score=score, threshold=0.5, flagged=score >= 0.5,
        reasons=(), features={}, model_version="m", late=False, received_at=None,
        scored_at=1, correction=correction,
    )  # fmt: skip


def test_the_standing_decision_is_the_last_correction_else_the_first() -> None:
    first_a = _decision("a", 0.1)
    replayed_a = replace(first_a, scored_at=2)  # a replay's repeat: same verdict
    corrected_a = _decision("a", 0.9, correction=True)
    first_b = _decision("b", 0.2)
    recorrected_a = _decision("a", 0.3, correction=True)
    log = [first_a, first_b, replayed_a, corrected_a, recorrected_a, replace(first_b, scored_at=3)]
    standing = standing_decisions(log)
    assert [d.transaction_id for d in standing] == ["a", "b"]
    assert standing[0] is recorrected_a and standing[1] is first_b
    assert standing_decisions([]) == []
