"""The feature code: event-time semantics, duplicates, bounds, serialisation."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from models import features as F
from models.contracts.transaction import Transaction
from models.features import FEATURE_NAMES, UserState, update_and_extract
from tests.unit.models.conftest import BASE_TIME, MakeTxn

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def feed(
    txns: list[Transaction], state: UserState | None = None
) -> tuple[UserState, list[tuple[float, ...]]]:
    vectors = []
    for txn in txns:
        result = update_and_extract(state, txn)
        state = result.state
        vectors.append(result.vector)
    assert state is not None
    return state, vectors


def test_vector_matches_feature_names(make_txn: MakeTxn) -> None:
    result = update_and_extract(None, make_txn())
    assert len(result.vector) == len(FEATURE_NAMES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.vector)


def test_first_transaction_does_not_look_like_a_burst(make_txn: MakeTxn) -> None:
    result = update_and_extract(None, make_txn(amount=50.0))
    v = result.vector
    assert v[IDX["log_seconds_since_prev"]] == math.log1p(F.GAP_CAP_S)
    assert v[IDX["txn_count_1m"]] == 1.0 and v[IDX["txn_count_1h"]] == 1.0
    assert v[IDX["amount_log_ratio"]] == 0.0 and v[IDX["amount_zscore"]] == 0.0
    assert v[IDX["merchant_novelty"]] == 0.0 and v[IDX["hour_deviation"]] == 0.0
    assert v[IDX["log_amount"]] == math.log1p(50.0)
    assert not result.duplicate and result.state.count == 1


def test_gaps_and_windows_in_event_time(make_txn: MakeTxn) -> None:
    _, vectors = feed([make_txn(at=t) for t in (0, 10, 30, 65, 1800, 3700)])
    gaps = [round(math.expm1(v[IDX["log_seconds_since_prev"]]), 6) for v in vectors]
    assert gaps[1:] == [10.0, 20.0, 35.0, 1735.0, 1900.0]
    assert [v[IDX["txn_count_1m"]] for v in vectors] == [1, 2, 3, 3, 1, 1]
    # the hour window is (t - 3600 s, t]: at 3700 s only 1800 s and itself are inside
    assert [v[IDX["txn_count_1h"]] for v in vectors] == [1, 2, 3, 4, 5, 2]


def test_seed_scenario_features(make_txn: MakeTxn) -> None:
    state, vectors = feed(
        [make_txn(amount=50.0), make_txn(at=60, amount=5000.0, merchant_id="merchant_b")]
    )
    spike = vectors[1]
    assert math.isclose(math.exp(spike[IDX["amount_log_ratio"]]), 100.0)
    assert spike[IDX["amount_zscore"]] > 4.0
    assert spike[IDX["txn_count_1m"]] == 1.0  # the window is (t - 60 s, t]
    assert spike[IDX["txn_count_1h"]] == 2.0
    assert state.count == 2


def test_amount_below_habit_has_no_positive_zscore(make_txn: MakeTxn) -> None:
    state, _ = feed([make_txn(at=i * 3600, amount=100.0 + i) for i in range(10)])
    small = update_and_extract(state, make_txn(at=40_000, amount=1.0)).vector
    assert small[IDX["amount_zscore"]] == 0.0
    assert small[IDX["amount_log_ratio"]] < -4.0


def test_duplicate_is_recognised_and_changes_nothing(make_txn: MakeTxn) -> None:
    first = make_txn(transaction_id="txn_same")
    state, _ = feed([make_txn(at=-100), first])
    before = state.to_dict()
    again = update_and_extract(state, make_txn(at=5, transaction_id="txn_same", amount=999.0))
    assert again.duplicate
    assert again.state is state and state.to_dict() == before
    assert state.count == 2


def test_update_never_mutates_the_given_state(make_txn: MakeTxn) -> None:
    state, _ = feed([make_txn(at=i * 60, latitude=40.7, longitude=-74.0) for i in range(5)])
    before = json.dumps(state.to_dict(), sort_keys=True)
    update_and_extract(state, make_txn(at=1000, merchant_id="new", latitude=51.5, longitude=-0.1))
    assert json.dumps(state.to_dict(), sort_keys=True) == before


def test_late_record_gets_a_non_negative_gap_and_correct_windows(make_txn: MakeTxn) -> None:
    state, _ = feed([make_txn(at=0), make_txn(at=100), make_txn(at=200)])
    late = update_and_extract(state, make_txn(at=150)).vector
    assert math.expm1(late[IDX["log_seconds_since_prev"]]) == 50.0
    assert late[IDX["txn_count_1m"]] == 2.0  # 100 s and itself; 200 s is in its future
    older = update_and_extract(state, make_txn(at=-10_000)).vector
    assert older[IDX["log_seconds_since_prev"]] == math.log1p(F.GAP_CAP_S)


def test_merchant_seen_only_later_is_new_for_a_late_record(make_txn: MakeTxn) -> None:
    history = [make_txn(at=i * 600, merchant_id=f"m{i % 3}") for i in range(8)]
    state, _ = feed([*history, make_txn(at=10_000, merchant_id="fresh")])
    late = update_and_extract(state, make_txn(at=9_000, merchant_id="fresh")).vector
    assert late[IDX["merchant_novelty"]] == 1.0
    after = update_and_extract(state, make_txn(at=11_000, merchant_id="fresh")).vector
    assert after[IDX["merchant_novelty"]] == 0.0


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=7200), min_size=2, max_size=40),
    seed=st.integers(min_value=0, max_value=10_000),
    lateness=st.integers(min_value=0, max_value=8),
)
def test_out_of_order_within_a_bound_gives_the_same_state(
    offsets: list[int], seed: int, lateness: int
) -> None:
    """Shuffling arrival within a lateness bound: no negative gap, same windows and counts."""
    in_order = sorted(offsets)
    txns = [_txn(f"t{i}", at) for i, at in enumerate(in_order)]
    rng = random.Random(seed)
    arrival = sorted(range(len(txns)), key=lambda i: i + rng.uniform(0, lateness))
    shuffled = [txns[i] for i in arrival]
    expected, _ = feed(txns)
    got, vectors = feed(shuffled)
    assert all(v[IDX["log_seconds_since_prev"]] >= 0.0 for v in vectors)
    assert all(v[IDX["txn_count_1m"]] >= 1.0 for v in vectors)
    assert got.count == expected.count == len(txns)
    assert got.recent_ms == expected.recent_ms
    assert got.last_ms == expected.last_ms
    assert got.merchants == expected.merchants
    assert sorted(got.recent_ids) == sorted(expected.recent_ids)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30))
def test_replaying_duplicates_never_double_counts(picks: list[int]) -> None:
    pool = [_txn(f"t{i}", i * 30) for i in range(6)]
    state: UserState | None = None
    for i in picks:
        state = update_and_extract(state, pool[i]).state
    assert state is not None
    assert state.count == len(set(picks))
    assert len(state.recent_ms) == len(set(picks))


def test_state_stays_bounded(make_txn: MakeTxn) -> None:
    txns = [
        make_txn(at=i * 2, merchant_id=f"m{i}", latitude=10.0 + i % 7, longitude=20.0)
        for i in range(3000)
    ]
    state, _ = feed(txns)
    assert len(state.recent_ms) <= F.MAX_RECENT
    assert len(state.merchants) == F.MAX_MERCHANTS
    assert len(state.places) == F.MAX_PLACES
    assert len(state.recent_ids) == F.MAX_IDS
    assert len(json.dumps(state.to_dict())) < 40_000


def test_state_json_round_trip(make_txn: MakeTxn) -> None:
    state, _ = feed([make_txn(at=i * 90, latitude=1.0, longitude=2.0) for i in range(12)])
    restored = UserState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    nxt = make_txn(at=5000, amount=77.0)
    assert update_and_extract(restored, nxt).vector == update_and_extract(state, nxt).vector


def test_state_from_another_version_or_malformed_is_refused() -> None:
    data = UserState().to_dict()
    try:
        UserState.from_dict({**data, "version": 0})
    except ValueError as error:
        assert "feature-set version 0" in str(error)
    else:
        raise AssertionError("old state accepted")
    broken = {**data}
    del broken["recent_ms"]
    try:
        UserState.from_dict(broken)
    except ValueError as error:
        assert "malformed" in str(error)
    else:
        raise AssertionError("malformed state accepted")


def test_impossible_travel_and_the_way_home(make_txn: MakeTxn) -> None:
    home = {"latitude": 40.71, "longitude": -74.0}
    state, _ = feed([make_txn(at=i * 3600, **home) for i in range(4)])
    far = update_and_extract(state, make_txn(at=3 * 3600 + 600, latitude=34.05, longitude=-118.24))
    assert far.vector[IDX["log_excess_speed_kmh"]] > 0
    assert 3900 < far.evidence.travel_km < 4000 and math.isclose(far.evidence.travel_minutes, 10.0)
    back = update_and_extract(far.state, make_txn(at=3 * 3600 + 1800, **home))
    assert back.vector[IDX["log_excess_speed_kmh"]] == 0.0  # measured from home, not from LA
    again = update_and_extract(
        far.state, make_txn(at=3 * 3600 + 1200, latitude=34.06, longitude=-118.25)
    )
    assert again.vector[IDX["log_excess_speed_kmh"]] > 0  # still impossible from home


def test_a_real_flight_is_not_impossible(make_txn: MakeTxn) -> None:
    state, _ = feed([make_txn(at=0, latitude=40.71, longitude=-74.0)])
    london = update_and_extract(state, make_txn(at=9 * 3600, latitude=51.5, longitude=-0.12))
    assert london.vector[IDX["log_excess_speed_kmh"]] == 0.0
    assert 5500 < london.evidence.travel_km < 5600


def test_card_testing_burst_counts(make_txn: MakeTxn) -> None:
    _, vectors = feed([make_txn(at=i * 4, amount=1.0) for i in range(12)])
    assert vectors[-1][IDX["txn_count_1m"]] == 12.0


def test_odd_hour_for_a_habitual_user(make_txn: MakeTxn) -> None:
    habit = [make_txn(at=day * 86_400 + 4 * 3600 + (day % 3) * 900) for day in range(20)]  # ~14:00
    state, _ = feed(habit)
    usual = update_and_extract(state, make_txn(at=21 * 86_400 + 4 * 3600)).vector
    night = update_and_extract(state, make_txn(at=21 * 86_400 + 16 * 3600)).vector  # ~02:00
    assert usual[IDX["hour_deviation"]] < 1.0
    assert night[IDX["hour_deviation"]] > 5.0


def test_new_merchant_counts_once_history_exists(make_txn: MakeTxn) -> None:
    _, vectors = feed([make_txn(at=i * 600, merchant_id=f"m{i}") for i in range(8)])
    novelty = [v[IDX["merchant_novelty"]] for v in vectors]
    assert novelty == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0]


def _txn(txn_id: str, at: int) -> Transaction:
    return Transaction(
        transaction_id=txn_id,
        user_id="u",
        card_last4="0000",
        card_fingerprint="x",
        amount=10.0 + at % 17,
        currency="USD",
        merchant_id=f"m{at % 4}",
        location="Somewhere",
        timestamp=BASE_TIME + timedelta(seconds=at),
    )
