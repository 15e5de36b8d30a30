"""The labelled traffic generator: contract, determinism, patterns."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import datetime

import pytest

from models.contracts.card import luhn_check_digit, luhn_valid
from models.contracts.transaction import Transaction
from models.generator import TrafficGenerator, generate_dataset, normalise_body
from models.patterns import (
    PATTERN_NAMES,
    AccountTakeover,
    AmountSpike,
    CardNotPresent,
    CardTesting,
    ImpossibleTravel,
    Skimming,
    SlowBurn,
)
from models.population import Place, PopulationConfig, distance_km

GATEWAY_FIELDS = {
    "transaction_id",
    "user_id",
    "card_number",
    "amount",
    "timestamp",
    "merchant_id",
    "location",
    "currency",
    "latitude",
    "longitude",
}
REQUIRED = GATEWAY_FIELDS - {"currency", "latitude", "longitude"}


@pytest.fixture(scope="module")
def stream() -> list[tuple[dict[str, object], str | None]]:
    return TrafficGenerator(seed=11, n_users=150, fraud_ratio=0.05).next_batch(6000)


def test_bodies_follow_the_gateway_input_contract(
    stream: list[tuple[dict[str, object], str | None]],
) -> None:
    for body, label in stream:
        assert REQUIRED <= body.keys() <= GATEWAY_FIELDS
        assert label is None or isinstance(label, str)
        assert luhn_valid(str(body["card_number"]))
        assert isinstance(body["amount"], float) and body["amount"] > 0
        assert ("latitude" in body) == ("longitude" in body)
        stamp = datetime.fromisoformat(str(body["timestamp"]))
        assert stamp.tzinfo is not None


def test_ground_truth_never_travels_in_the_body(
    stream: list[tuple[dict[str, object], str | None]],
) -> None:
    for body, label in stream:
        if label is not None:
            assert label not in {str(v) for v in body.values()}
            assert not {"label", "pattern", "fraud", "is_fraud"} & body.keys()


def test_event_time_order_and_unique_ids(
    stream: list[tuple[dict[str, object], str | None]],
) -> None:
    times = [datetime.fromisoformat(str(body["timestamp"])) for body, _ in stream]
    assert times == sorted(times)
    ids = [body["transaction_id"] for body, _ in stream]
    assert len(set(ids)) == len(ids)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first = TrafficGenerator(seed=3, n_users=40, fraud_ratio=0.1).next_batch(800)
    again = TrafficGenerator(seed=3, n_users=40, fraud_ratio=0.1).next_batch(800)
    other = TrafficGenerator(seed=4, n_users=40, fraud_ratio=0.1).next_batch(800)
    assert first == again
    assert first != other


def test_batches_are_one_continuous_stream() -> None:
    whole = TrafficGenerator(seed=5, n_users=30).next_batch(300)
    parts = TrafficGenerator(seed=5, n_users=30)
    pieces = parts.next_batch(1) + parts.next_batch(120) + parts.next_batch(179)
    assert pieces == whole


def test_every_pattern_is_injected_with_its_shape() -> None:
    dataset = generate_dataset(seed=21, n_users=250, days=8, fraud_ratio=0.06)
    by_label: dict[str, list[Transaction]] = defaultdict(list)
    for record in dataset.records:
        by_label[record.label or "genuine"].append(record.transaction)
    assert set(by_label) == {"genuine", *PATTERN_NAMES}
    assert 0.02 < dataset.fraud_count / len(dataset.records) < 0.1

    probes = by_label["card_testing"]
    assert all(t.amount <= CardTesting().amount[1] and t.location == "Online" for t in probes)
    assert all(t.has_coordinates for t in by_label["impossible_travel"])
    assert all(t.location == "Online" for t in by_label["account_takeover"])
    genuine_typical = sorted(t.amount for t in by_label["genuine"])[len(by_label["genuine"]) // 2]
    spikes = sorted(t.amount for t in by_label["amount_spike"])
    assert spikes[len(spikes) // 2] > 5 * genuine_typical


def test_card_testing_comes_in_quick_bursts() -> None:
    gen = TrafficGenerator(seed=8, n_users=60, fraud_ratio=0.2, patterns=(CardTesting(),))
    times: dict[str, list[float]] = defaultdict(list)
    for body, label in gen.next_batch(3000):
        if label == "card_testing":
            times[str(body["user_id"])].append(
                datetime.fromisoformat(str(body["timestamp"])).timestamp()
            )
    assert times
    gaps = [b - a for series in times.values() for a, b in itertools.pairwise(series)]
    assert sum(gap <= 21 for gap in gaps) / len(gaps) > 0.8


def test_impossible_travel_is_far_and_soon() -> None:
    pattern = ImpossibleTravel(transactions=(1, 1))
    gen = TrafficGenerator(seed=9, n_users=80, fraud_ratio=0.05, patterns=(pattern,))
    last_located: dict[str, tuple[float, float, float]] = {}
    checked = 0
    for body, label in gen.next_batch(6000):
        user = str(body["user_id"])
        when = datetime.fromisoformat(str(body["timestamp"])).timestamp()
        if "latitude" not in body:
            continue
        here = (float(body["latitude"]), float(body["longitude"]))
        if label == "impossible_travel":
            lat, lon, then = last_located[user]
            km = distance_km(Place("", lat, lon), Place("", *here))
            assert km > pattern.min_distance_km - 50
            assert (when - then) / 60 <= pattern.delay_minutes[1] + 1
            checked += 1
        else:
            last_located[user] = (*here, when)
    assert checked >= 5


def test_no_fraud_when_the_ratio_is_zero() -> None:
    labels = [
        label for _, label in TrafficGenerator(seed=1, n_users=50, fraud_ratio=0.0).next_batch(2000)
    ]
    assert labels == [None] * 2000


def test_dataset_is_normalised_without_the_card_number() -> None:
    dataset = generate_dataset(seed=2, n_users=20, days=2, fraud_ratio=0.0)
    assert dataset.records
    first = dataset.records[0].transaction
    assert len(first.card_last4) == 4 and len(first.card_fingerprint) == 64
    assert "card_number" not in first.to_record()


def test_normalise_body_keeps_only_last4_and_a_keyed_hash() -> None:
    body = {
        "transaction_id": "t1",
        "user_id": "u1",
        "card_number": "4242-4242-4242-4242",
        "amount": 5.0,
        "timestamp": "2025-07-15T10:00:00Z",
        "merchant_id": "m",
        "location": "Online",
    }
    txn = normalise_body(body)
    assert txn.card_last4 == "4242"
    assert "4242424242424242" not in str(txn.to_record())
    assert normalise_body(body, card_key=b"other").card_fingerprint != txn.card_fingerprint


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert luhn_check_digit("7992739871") == 3


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: TrafficGenerator(seed=1, n_users=0), "n_users"),
        (lambda: TrafficGenerator(seed=1, fraud_ratio=1.0), "fraud_ratio"),
        (lambda: TrafficGenerator(seed=1, fraud_ratio=0.1, patterns=()), "pattern"),
        (lambda: AmountSpike(weight=-1), "AmountSpike.weight = -1"),
        (lambda: CardTesting(amount=(3.0, 1.0)), "CardTesting.amount"),
        (lambda: ImpossibleTravel(transactions=(0, 2)), "at least 1"),
        (lambda: AccountTakeover(min_hours_from_habit=13), "min_hours_from_habit"),
        (lambda: PopulationConfig(trip_prob=2.0), "trip_prob"),
        (lambda: generate_dataset(seed=1, days=0), "days"),
    ],
)
def test_bad_parameters_say_what_is_wrong(make: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make()  # type: ignore[operator]


def test_fraud_ratio_is_roughly_honoured() -> None:
    dataset = generate_dataset(seed=31, n_users=300, days=10, fraud_ratio=0.02)
    share = dataset.fraud_count / len(dataset.records)
    assert 0.01 < share < 0.03
    assert math.isfinite(share)


def test_hard_patterns_have_their_shape() -> None:
    """Skimming victims first visit the shared skimmer (genuine), then are hit days later at
    the ring's few merchants; card-not-present is 2-5x the usual amount; slow burn spreads."""
    patterns = (Skimming(), CardNotPresent(), SlowBurn())
    gen = TrafficGenerator(seed=31, n_users=300, fraud_ratio=0.08, patterns=patterns)
    end = gen.start_ms + 20 * 86_400_000
    seen: dict[str, list[tuple[float, str, str, float]]] = defaultdict(list)
    for body, label in gen:
        if gen.now_ms >= end:
            break
        when = datetime.fromisoformat(str(body["timestamp"])).timestamp()
        seen[label or "genuine"].append(
            (when, str(body["user_id"]), str(body["merchant_id"]), float(body["amount"]))
        )
    assert {"skimming", "card_not_present", "slow_burn"} <= set(seen)
    skim_merchants = {m for _, _, m, _ in seen["skimming"]}
    skim_users = {u for _, u, _, _ in seen["skimming"]}
    assert len(skim_merchants) < len(skim_users)  # rings reuse their cash-out merchants
    favoured = {m.merchant_id for m in gen._world.fraud_merchants()}
    cnp = [m for _, _, m, _ in seen["card_not_present"]]
    assert sum(m in favoured for m in cnp) / len(cnp) > 0.5
    per_user: dict[str, list[float]] = defaultdict(list)
    for when, user, _, _ in seen["slow_burn"]:
        per_user[user].append(when)
    spans = [max(t) - min(t) for t in per_user.values() if len(t) > 2]
    assert spans and sorted(spans)[len(spans) // 2] > 2 * 86_400


def test_generator_is_deterministic_with_hard_patterns() -> None:
    first = TrafficGenerator(seed=3, n_users=60, fraud_ratio=0.2).next_batch(3000)
    again = TrafficGenerator(seed=3, n_users=60, fraud_ratio=0.2).next_batch(3000)
    assert first == again
    assert len({label for _, label in first}) > 3
