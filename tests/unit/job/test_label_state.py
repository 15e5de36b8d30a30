"""Labels in the scoring operator: parsing, dead-letter reasons, the book in broadcast state."""

from __future__ import annotations

from typing import Any

import pytest

from flink_job.label_state import (
    BOOK_KEY,
    TAIL_PREFIX,
    LabelMirror,
    parse_label,
    tail_key,
    unresolved_reason,
    usable,
)
from models.contracts.label import InvalidLabel, Label
from models.label_risk import NO_LABEL_FEATURES, LabelRiskBook

DAY = 86_400_000
T0 = 1_750_000_000_000


class FakeBroadcastState:
    """A dict with the get/put/remove/items of Flink's BroadcastState."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.puts = 0

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.puts += 1
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)

    def items(self) -> Any:
        return iter(list(self.data.items()))


def label(n: int, verdict: str = "fraud", merchant: str | None = "m1", **extra: Any) -> Label:
    return Label(
        transaction_id=f"t{n}",
        label=verdict,  # type: ignore[arg-type]
        source="analyst",
        labelled_at=T0 + n * 60_000,
        user_id=extra.get("user_id", f"u{n % 7}"),
        merchant_id=merchant,
        card_fingerprint=extra.get("card"),
    )


def test_parse_label_refuses_bad_records_with_the_field() -> None:
    with pytest.raises(InvalidLabel) as caught:
        parse_label('{"transaction_id": "t1", "label": "maybe", "source": "analyst"}')
    assert "label" in str(caught.value) and "labelled_at" in str(caught.value)
    good = label(1).to_json().decode()
    assert parse_label(good) == label(1)


def test_unresolved_reason_names_what_is_missing() -> None:
    assert unresolved_reason(label(1)) is None
    no_merchant = label(2, merchant=None)
    reason = unresolved_reason(no_merchant)
    assert reason is not None and "merchant_id" in reason and "'t2'" in reason
    assert "card/user risk is still counted" in reason and usable(no_merchant)
    bare = Label("t3", "fraud", "chargeback", T0)
    reason = unresolved_reason(bare)
    assert reason is not None and "no user_id and no merchant_id" in reason
    assert "changes no risk feature" in reason and not usable(bare)


def test_the_mirror_answers_like_the_book_and_restores_to_the_same_features() -> None:
    state = FakeBroadcastState()
    mirror = LabelMirror(min_compact_tail=1_000)
    mirror.restore(state)
    reference = LabelRiskBook()
    labels = [label(n, "fraud" if n % 3 else "legit") for n in range(50)]
    for item in labels:
        assert mirror.add(item, state)
        reference.add(item)
    at = T0 + DAY
    assert mirror.book is not None
    assert mirror.book.features("m1", "u1", "c", at) == reference.features("m1", "u1", "c", at)
    assert BOOK_KEY not in state.data  # no compaction yet: only the tail was written
    assert sum(key.startswith(TAIL_PREFIX) for key in state.data) == 50

    restored = LabelMirror()
    book = restored.restore(state)
    assert book.features("m1", "u1", "c", at) == reference.features("m1", "u1", "c", at)
    assert restored.tail == 50


def test_compaction_folds_the_tail_into_one_image_and_keeps_every_label() -> None:
    state = FakeBroadcastState()
    mirror = LabelMirror(min_compact_tail=10)
    reference = LabelRiskBook()
    for n in range(25):
        mirror.add(label(n), state)
        reference.add(label(n))
    tails = sorted(key for key in state.data if key.startswith(TAIL_PREFIX))
    assert BOOK_KEY in state.data
    assert tails == [tail_key(0), tail_key(1), tail_key(2), tail_key(3), tail_key(4)]
    restored = LabelMirror().restore(state)
    at = T0 + DAY
    assert restored.features("m1", "u2", "c", at) == reference.features("m1", "u2", "c", at)
    assert len(restored) == 25


def test_a_label_naming_nothing_is_not_stored() -> None:
    state = FakeBroadcastState()
    mirror = LabelMirror()
    assert not mirror.add(Label("t9", "fraud", "chargeback", T0), state)
    assert state.data == {}


def test_an_unreadable_book_image_starts_empty_but_keeps_the_tail() -> None:
    state = FakeBroadcastState()
    state.put(BOOK_KEY, b"not a book")
    state.put(tail_key(0), label(1).to_json().decode())
    state.put(tail_key(1), "written by another contract")
    mirror = LabelMirror()
    book = mirror.restore(state)
    assert mirror.restore_problem is not None
    assert len(book) == 1 and mirror.tail == 2
    assert book.features("nobody", "u0", "c", T0) == NO_LABEL_FEATURES
