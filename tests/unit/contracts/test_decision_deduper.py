"""DecisionDeduper: the decision log's readers keep the first decision per transaction id."""

from __future__ import annotations

import pytest

from models.contracts.decision import DecisionDeduper


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
