"""LabelRiskBook: no leakage, windows, repeated and overturned labels, bounds, state."""

from __future__ import annotations

import math
import random

import pytest

from models.label_risk import (
    DAY_MS,
    HOUR_MS,
    LABEL_FEATURE_NAMES,
    MAX_TIMES_PER_KEY,
    NO_HISTORY_LOG_HOURS,
    NO_LABEL_FEATURES,
    WINDOW_MS,
    LabelRiskBook,
)
from models.supervised import TrainingLabel

T0 = 1_750_000_000_000
F = {name: i for i, name in enumerate(LABEL_FEATURE_NAMES)}


def label(
    txn: str,
    verdict: str = "fraud",
    at: int = T0,
    merchant: str | None = "m1",
    user: str | None = "u1",
    card: str | None = "c1",
) -> TrainingLabel:
    return TrainingLabel(txn, verdict, at, user, merchant, card)


def test_empty_book_gives_the_no_label_features() -> None:
    book = LabelRiskBook()
    assert book.features("m1", "u1", "c1", T0) == NO_LABEL_FEATURES
    assert len(NO_LABEL_FEATURES) == len(LABEL_FEATURE_NAMES)


def test_a_label_counts_only_from_when_it_arrived() -> None:
    book = LabelRiskBook()
    assert book.add(label("t1", at=T0 + HOUR_MS))
    before = book.features("m1", "u1", "c1", T0 + HOUR_MS - 1)
    assert before == NO_LABEL_FEATURES  # no leakage: labelled_at > at_ms is invisible
    after = book.features("m1", "u1", "c1", T0 + HOUR_MS)
    assert after[F["merchant_fraud_share_1d"]] == pytest.approx(0.5)
    assert after[F["merchant_fraud_log_count_30d"]] == pytest.approx(math.log(2))
    assert after[F["card_fraud_log_count_7d"]] == pytest.approx(math.log(2))
    assert after[F["card_log_hours_since_fraud"]] == 0.0


def test_windows_share_and_recency() -> None:
    book = LabelRiskBook()
    book.add(label("f1", at=T0))
    for i in range(3):
        book.add(label(f"l{i}", "legit", at=T0 + i, card=f"other{i}", user=f"ou{i}"))
    now = T0 + 3 * DAY_MS
    got = book.features("m1", "u9", "c9", now)
    assert got[F["merchant_fraud_share_1d"]] == 0.0  # the fraud is 3 days old
    assert got[F["merchant_fraud_share_7d"]] == pytest.approx(1 / 5)
    assert got[F["merchant_log_hours_since_fraud"]] == pytest.approx(math.log1p(72))
    assert got[F["card_fraud_log_count_30d"]] == 0.0  # another card
    late = book.features("m1", "u1", "c1", T0 + WINDOW_MS + 1)
    assert late[F["merchant_fraud_log_count_30d"]] == 0.0
    assert late[F["card_log_hours_since_fraud"]] == NO_HISTORY_LOG_HOURS


def test_card_risk_falls_back_to_the_user() -> None:
    book = LabelRiskBook()
    book.add(label("t1", card=None, merchant=None))
    got = book.features("m2", "u1", "c-new", T0 + 1)
    assert got[F["card_fraud_log_count_30d"]] == pytest.approx(math.log(2))
    assert got[F["merchant_fraud_log_count_30d"]] == 0.0


def test_unresolved_labels_are_counted_not_used() -> None:
    book = LabelRiskBook()
    assert not book.add(label("t1", merchant=None, user=None, card=None))
    assert book.summary()["unresolved"] == 1 and len(book) == 0


def test_repeats_are_ignored_and_a_changed_verdict_replaces() -> None:
    book = LabelRiskBook()
    book.add(label("t1", "legit"))
    book.add(label("t1", "legit", at=T0 + 5))
    got = book.features("m1", "u1", "c1", T0 + 10)
    assert got[F["merchant_fraud_share_1d"]] == 0.0 and book.summary()["labels"] == 1
    book.add(label("t1", "fraud", at=T0 + 20))  # a chargeback overturns the analyst
    got = book.features("m1", "u1", "c1", T0 + 30)
    assert got[F["merchant_fraud_share_1d"]] == pytest.approx(0.5)
    assert got[F["card_fraud_log_count_7d"]] == pytest.approx(math.log(2))


def test_expire_and_caps_bound_the_state() -> None:
    book = LabelRiskBook()
    for i in range(MAX_TIMES_PER_KEY + 50):
        book.add(label(f"t{i}", "legit", at=T0 + i))
    assert book.features("m1", "u1", "c1", T0 + DAY_MS)[F["merchant_fraud_share_1d"]] == 0.0
    assert len(book._keys["m:m1"].legit) == MAX_TIMES_PER_KEY
    book.expire(T0 + WINDOW_MS + MAX_TIMES_PER_KEY + 100)
    assert book.summary() == {
        "labels": 0,
        "fraud_labels": 0,
        "merchants": 0,
        "cards_and_users": 0,
        "unresolved": 0,
    }


def test_state_round_trip_is_exact_and_deterministic() -> None:
    rng = random.Random(3)
    labels = [
        label(
            f"t{i}",
            "fraud" if rng.random() < 0.2 else "legit",
            T0 + i * 60_000,
            f"m{rng.randrange(5)}",
            f"u{rng.randrange(9)}",
            rng.choice([None, f"c{rng.randrange(9)}"]),
        )
        for i in range(300)
    ]
    one, two = LabelRiskBook(), LabelRiskBook()
    for item in labels:
        one.add(item)
        two.add(item)
    assert one.to_state() == two.to_state()
    again = LabelRiskBook.from_state(one.to_state())
    for m in range(5):
        for u in range(9):
            at = T0 + rng.randrange(400) * 60_000
            args = (f"m{m}", f"u{u}", f"c{u}", at)
            assert again.features(*args) == one.features(*args)
    assert again.to_state() == one.to_state()


def test_bad_state_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="label-risk state is unreadable"):
        LabelRiskBook.from_state(b"not a state")
    good = LabelRiskBook()
    good.add(label("t1"))
    import zlib

    raw = zlib.decompress(good.to_state())
    with pytest.raises(ValueError, match="unreadable"):
        LabelRiskBook.from_state(zlib.compress(raw[:-3]))
