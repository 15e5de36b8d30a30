"""Score on arrival, corrections for the overtaken, late only beyond the window."""

from __future__ import annotations

import pickle
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from flink_job import ordering
from flink_job.ordering import WINDOW_CAP, UserSlot, admit, settle, watermark_time
from models.contracts.transaction import Transaction
from models.features import UserState, update_and_extract

BASE = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)
NO_WATERMARK = -(2**63)

# (transaction id, features, late, correction) per decision, in the order they were made
Decided = tuple[str, tuple[float, ...], bool, bool]


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


def arrive(slot: UserSlot, record: Transaction, watermark: int = NO_WATERMARK) -> list[Decided]:
    """What the scorer does with one arrival: admit, score each step in order, settle."""
    state, steps = admit(slot, record)
    out: list[Decided] = []
    for step in steps:
        step.before = state
        result = update_and_extract(state, step.txn)
        if result.duplicate:
            continue
        step.absorbed = True
        state = result.state
        out.append((step.txn.transaction_id, result.vector, step.late, step.correction))
    settle(slot, steps, state, watermark)
    return out


def in_order(records: list[Transaction]) -> dict[str, tuple[float, ...]]:
    state: UserState | None = None
    found = {}
    for record in sorted(records, key=lambda r: r.event_time_ms):
        result = update_and_extract(state, record)
        state = result.state
        found[record.transaction_id] = result.vector
    return found


def final(decided: list[Decided]) -> dict[str, tuple[float, ...]]:
    """The latest decision per transaction (a correction replaces the earlier one)."""
    return {txn_id: vector for txn_id, vector, _, _ in decided}


def test_in_order_arrival_is_decided_once_on_arrival() -> None:
    slot = UserSlot()
    records = [txn(i, i * 1.5) for i in range(10)]
    decided = [d for r in records for d in arrive(slot, r)]
    assert [d[0] for d in decided] == [r.transaction_id for r in records]
    assert not any(late or correction for _, _, late, correction in decided)
    assert final(decided) == in_order(records)


def test_an_overtaken_transaction_is_corrected_and_the_newcomer_is_in_order() -> None:
    slot = UserSlot()
    first, second, third = txn(1, 0), txn(2, 1), txn(3, 2)
    arrive(slot, first)
    arrive(slot, third)
    decided = arrive(slot, second)
    assert [(d[0], d[2], d[3]) for d in decided] == [("t002", False, False), ("t003", False, True)]
    assert final(decided) == {
        k: v for k, v in in_order([first, second, third]).items() if k != "t001"
    }
    assert (
        slot.features
        == update_and_extract(
            update_and_extract(update_and_extract(None, first).state, second).state, third
        ).state
    )


def test_the_watermark_closes_the_window_and_later_arrivals_are_late() -> None:
    slot = UserSlot()
    arrive(slot, txn(1, 0))
    arrive(slot, txn(3, 20), watermark=txn(0, 20).event_time_ms)  # passes both
    assert slot.window == []
    decided = arrive(slot, txn(2, 10))
    assert [(d[0], d[2], d[3]) for d in decided] == [("t002", True, False)]


def test_a_late_arrival_empties_the_window_so_no_replay_forgets_it() -> None:
    slot = UserSlot()
    arrive(slot, txn(1, 0))
    arrive(slot, txn(4, 30), watermark=txn(0, 0).event_time_ms)  # t001 left the window
    arrive(slot, txn(0, -5))  # late: absorbed into the current state only
    assert slot.window == []
    decided = arrive(slot, txn(3, 20))  # overtook t004, but t004's earlier state lacks t000
    assert [(d[0], d[2]) for d in decided] == [("t003", True)]
    assert slot.features is not None and slot.features.count == 4


def test_a_full_window_drops_its_oldest() -> None:
    slot = UserSlot()
    for i in range(WINDOW_CAP + 5):
        arrive(slot, txn(i, i * 0.1))
    assert len(slot.window) == WINDOW_CAP
    assert arrive(slot, txn(999, 0.05))[0][2]  # before the window: late


def test_a_repeat_overtaking_its_original_is_refused_not_replayed() -> None:
    slot = UserSlot()
    arrive(slot, txn(1, 0))
    arrive(slot, txn(2, 10))
    repeat = replace(txn(2, 10), timestamp=BASE + timedelta(seconds=5))
    assert arrive(slot, repeat) == []  # the feature code refuses the repeated id
    assert slot.features is not None and slot.features.count == 2


def test_slot_state_round_trip_keeps_features_but_not_the_window() -> None:
    slot = UserSlot()
    arrive(slot, txn(1, 0))
    arrive(slot, txn(2, 5))
    again = UserSlot.from_state(slot.to_state())
    assert again.features == slot.features
    assert again.newest_event_ms == txn(2, 5).event_time_ms and again.window == []
    assert arrive(again, txn(3, 3))[0][2]  # cannot be replayed after a restore: late


def test_state_of_another_version_starts_the_user_afresh() -> None:
    assert UserSlot.from_state(None).features is None
    assert UserSlot.from_state({"features": None, "pending": []}).features is None
    data = UserSlot(features=UserState()).to_state()
    assert UserSlot.from_state(data).features == UserState()
    assert UserSlot.from_state((*data[:1], -1, *data[2:])).features is None
    assert UserSlot.from_state((*data[:2], ("count",), *data[3:])).features is None


def test_the_state_image_survives_pickling_like_flink_stores_it() -> None:
    slot = UserSlot()
    for i in range(5):
        arrive(slot, txn(i, i * 90.0))
    again = UserSlot.from_state(pickle.loads(pickle.dumps(slot.to_state())))
    assert again.features == slot.features
    assert arrive(again, txn(9, 900.0)) == arrive(slot, txn(9, 900.0))


def test_the_watermark_time_is_clamped_to_arrival() -> None:
    record = txn(1, 0)
    received = record.event_time_ms - 23 * 3600 * 1000  # dated 23 h after it was received
    future = replace(record, received_at=received)
    assert watermark_time(future, 1_000) == received + 1_000
    assert watermark_time(record, 1_000) == record.event_time_ms  # no received_at
    past = replace(record, received_at=record.event_time_ms + 60_000)
    assert watermark_time(past, 1_000) == record.event_time_ms


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
def test_shuffles_within_the_bound_end_with_the_in_order_features(
    rnd: random.Random, n: int
) -> None:
    seconds, clock = [], 0.0
    for _ in range(n):
        clock += rnd.choice([0.3, 0.7, 1.5, 60.0])
        seconds.append(clock)
    records = [txn(i, s) for i, s in enumerate(seconds)]
    slot = UserSlot()
    seen_max, decided = NO_WATERMARK, []
    for record in shuffled_within_bound(records, rnd):
        seen_max = max(seen_max, record.event_time_ms)
        decided.extend(arrive(slot, record, watermark=seen_max - 5_000))
    assert final(decided) == in_order(records)
    assert not any(late for _, _, late, _ in decided)
    # every transaction's first decision is the newcomer's, each later one a correction
    firsts = [d for d in decided if not d[3]]
    assert sorted(d[0] for d in firsts) == sorted(r.transaction_id for r in records)


def test_without_corrections_a_shuffle_would_change_features() -> None:
    """The property above is not vacuous: first decisions alone differ from in order."""
    records = [txn(i, s) for i, s in enumerate([0, 60, 60.5, 61, 61.5, 120])]
    slot = UserSlot()
    order = [records[0], records[3], records[1], records[4], records[2], records[5]]
    decided = [d for r in order for d in arrive(slot, r)]
    firsts = {d[0]: d[1] for d in decided if not d[3]}
    assert firsts != in_order(records)
    assert final(decided) == in_order(records)


def test_steps_default_to_a_plain_first_decision() -> None:
    step = ordering.Step(txn(1, 0))
    assert not (step.late or step.correction or step.absorbed) and step.before is None
