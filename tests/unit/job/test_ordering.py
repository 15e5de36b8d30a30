"""The per-user reorder buffer: exact event-time order within the bound, fast otherwise."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from flink_job import ordering
from flink_job.ordering import UserSlot, next_deadline, release_due, release_until
from models.features import UserState, update_and_extract
from models.transaction import Transaction

BASE = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)
NO_WATERMARK = -(2**63)
HOLD, CAP = 20, 200


def txn(index: int, seconds: float, user: str = "u1") -> Transaction:
    return Transaction(
        transaction_id=f"t{index:03d}",
        user_id=user,
        card_last4="4242",
        card_fingerprint="fp",
        amount=10.0 + index,
        currency="USD",
        merchant_id=f"m{index % 3}",
        location="NYC",
        timestamp=BASE + timedelta(seconds=seconds),
    )


def admit(
    slot: UserSlot, record: Transaction, arrival_ms: int, watermark: int
) -> list[ordering.Released]:
    return ordering.admit(slot, record, arrival_ms, watermark)


def ids(released: list[ordering.Released]) -> list[str]:
    return [item.txn.transaction_id for item in released]


def test_a_live_transaction_waits_for_the_hold_then_is_released() -> None:
    slot = UserSlot()
    assert admit(slot, txn(1, 0), arrival_ms=1_000, watermark=NO_WATERMARK) == []
    assert next_deadline(slot, HOLD, CAP) == 1_020
    assert release_due(slot, 1_010, HOLD, CAP) == []
    released = release_due(slot, 1_020, HOLD, CAP)
    assert ids(released) == ["t001"] and not released[0].late
    assert next_deadline(slot, HOLD, CAP) is None


def test_records_arriving_within_the_hold_are_released_in_event_time_order() -> None:
    slot = UserSlot()
    for arrival, (index, seconds) in enumerate([(3, 3.0), (1, 1.0), (2, 2.0)]):
        admit(slot, txn(index, seconds), arrival_ms=1_000 + arrival, watermark=NO_WATERMARK)
    assert ids(release_due(slot, 1_022, HOLD, CAP)) == ["t001", "t002", "t003"]


def test_a_steady_trickle_is_released_by_the_cap() -> None:
    slot = UserSlot()
    now = 1_000
    for index in range(30):
        admit(slot, txn(index, index), arrival_ms=now, watermark=NO_WATERMARK)
        now += HOLD - 5  # never quiet for a whole hold
        if release_due(slot, now, HOLD, CAP):
            break
    assert now - 1_000 >= CAP
    assert now - 1_000 < CAP + HOLD


def test_the_watermark_releases_what_it_has_passed_at_once() -> None:
    slot = UserSlot()
    admit(slot, txn(1, 1), arrival_ms=0, watermark=NO_WATERMARK)
    admit(slot, txn(3, 30), arrival_ms=1, watermark=NO_WATERMARK)
    watermark = txn(2, 10).event_time_ms
    released = admit(slot, txn(2, 10), arrival_ms=2, watermark=watermark)
    assert ids(released) == ["t001", "t002"]
    assert [item.late for item in released] == [False, True]
    assert ids(release_until(slot, txn(3, 30).event_time_ms)) == ["t003"]


def test_a_record_behind_the_watermark_is_scored_at_once_and_marked_late() -> None:
    slot = UserSlot()
    released = admit(slot, txn(1, 0), arrival_ms=0, watermark=txn(0, 5).event_time_ms)
    assert ids(released) == ["t001"] and released[0].late
    assert slot.pending == []


def test_a_record_older_than_one_already_scored_is_late() -> None:
    slot = UserSlot()
    admit(slot, txn(2, 20), arrival_ms=0, watermark=NO_WATERMARK)
    release_due(slot, 100, HOLD, CAP)
    released = admit(slot, txn(1, 10), arrival_ms=200, watermark=NO_WATERMARK)
    assert ids(released) == ["t001"] and released[0].late


def test_partial_release_keeps_the_oldest_waiting_arrival_for_the_cap() -> None:
    slot = UserSlot()
    admit(slot, txn(1, 1), arrival_ms=100, watermark=NO_WATERMARK)
    admit(slot, txn(5, 50), arrival_ms=150, watermark=NO_WATERMARK)
    admit(slot, txn(9, 90), arrival_ms=170, watermark=NO_WATERMARK)
    release_until(slot, txn(1, 1).event_time_ms)
    assert slot.first_pending_ms == 150


def test_slot_survives_a_round_trip_through_flink_state() -> None:
    slot = UserSlot()
    result = update_and_extract(None, txn(0, 0))
    slot.features = result.state
    admit(slot, txn(1, 1), arrival_ms=5, watermark=NO_WATERMARK)
    again = UserSlot.from_state(slot.to_state())
    assert again.features == slot.features
    assert ids(release_due(again, 100, HOLD, CAP)) == ["t001"]
    assert again.last_released_event_ms == txn(1, 1).event_time_ms


def test_state_from_another_feature_version_starts_the_user_afresh() -> None:
    data = UserSlot(features=UserState()).to_state()
    data["features"]["version"] = -1
    assert UserSlot.from_state(data).features is None
    assert UserSlot.from_state(None).pending == []


def score_all(order: list[Transaction], gaps_ms: list[int]) -> list[tuple[str, tuple[float, ...]]]:
    """Feed transactions with the given arrival gaps through the buffer + feature code."""
    slot = UserSlot()
    now, watermark, seen_max = 0, NO_WATERMARK, NO_WATERMARK
    out: list[tuple[str, tuple[float, ...]]] = []

    def score(released: list[ordering.Released]) -> None:
        for item in released:
            result = update_and_extract(slot.features, item.txn)
            slot.features = result.state
            out.append((item.txn.transaction_id, result.vector))

    for record, gap in zip(order, gaps_ms, strict=True):
        now += gap
        score(release_due(slot, now, HOLD, CAP))
        seen_max = max(seen_max, record.event_time_ms)
        score(admit(slot, record, now, watermark))
        watermark = seen_max - 5_000
    score(release_due(slot, now + CAP, HOLD, CAP))
    return out


def shuffled_within_bound(records: list[Transaction], rnd: random.Random) -> list[Transaction]:
    """Shuffle inside groups spanning less than the 5 s bound; groups stay in order."""
    groups: list[list[Transaction]] = []
    for record in records:
        if groups and record.event_time_ms - groups[-1][0].event_time_ms < 4_500:
            groups[-1].append(record)
        else:
            groups.append([record])
    for group in groups:
        rnd.shuffle(group)
    return [record for group in groups for record in group]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=3, max_value=25))
def test_shuffles_within_the_bound_give_the_in_order_features(rnd: random.Random, n: int) -> None:
    seconds, clock = [], 0.0
    for _ in range(n):
        clock += rnd.choice([0.3, 0.7, 1.5, 60.0])
        seconds.append(clock)
    records = [txn(i, s) for i, s in enumerate(seconds)]
    order = shuffled_within_bound(records, rnd)
    in_order = score_all(records, [HOLD + 1] * n)  # one by one, nothing to reorder
    burst = score_all(order, [rnd.randint(0, HOLD - 1) for _ in order])
    assert burst == in_order


def test_without_the_hold_a_shuffle_would_change_features() -> None:
    """The property above is not vacuous: scoring on arrival gives other features."""
    records = [txn(i, s) for i, s in enumerate([0, 60, 60.5, 61, 61.5, 120])]
    order = [records[0], records[3], records[1], records[4], records[2], records[5]]
    on_arrival = score_all(order, [HOLD + 1] * len(order))
    assert sorted(on_arrival) != sorted(score_all(records, [HOLD + 1] * len(records)))


def test_state_of_an_older_job_version_does_not_break_the_user() -> None:
    data = UserSlot(features=UserState()).to_state()
    data["pending"] = [(1, 2, 3, "a raw string from an older version")]
    slot = UserSlot.from_state(data)
    assert slot.features == UserState() and slot.pending == []


def test_without_a_hold_transactions_are_scored_on_arrival() -> None:
    slot = UserSlot()
    first = ordering.pass_through(slot, txn(2, 20), watermark=NO_WATERMARK)
    second = ordering.pass_through(slot, txn(1, 10), watermark=NO_WATERMARK)
    third = ordering.pass_through(slot, txn(3, 5), watermark=txn(0, 30).event_time_ms)
    assert [ids(r) for r in (first, second, third)] == [["t002"], ["t001"], ["t003"]]
    assert [r[0].late for r in (first, second, third)] == [False, True, True]
