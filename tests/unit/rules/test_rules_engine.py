"""The rule engine: filters, windows that fire once per breach, bounded state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.contracts.rule import MAX_WINDOW_EVENTS, Rule
from models.contracts.transaction import Transaction
from models.rules_engine import MAX_GROUPS, RuleSet, RuleWindows, describe, unknown_features

BASE = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)


def txn(
    index: int,
    seconds: float,
    *,
    amount: float = 20.0,
    merchant: str | None = None,
    card: str = "fp1",
    user: str = "u1",
    currency: str = "USD",
) -> Transaction:
    return Transaction(
        transaction_id=f"t{index}",
        user_id=user,
        card_last4="4242",
        card_fingerprint=card,
        amount=amount,
        currency=currency,
        merchant_id=merchant or f"m{index}",
        location="NYC",
        timestamp=BASE + timedelta(seconds=seconds),
    )


def rule(**fields: Any) -> Rule:
    return Rule.from_record({"id": "r", "action": {"type": "alert", "severity": "high"}, **fields})


VELOCITY = rule(
    id="card-velocity",
    aggregate={"function": "distinct_merchants", "group_by": "card", "window": "10m"},
    limit={"op": ">=", "value": 3},
)


def run(rules: RuleSet, txns: list[Transaction], windows: RuleWindows | None = None) -> list[str]:
    """Transaction ids that hit any rule, evaluated in the given order."""
    windows = windows if windows is not None else RuleWindows()
    return [
        record.transaction_id
        for record in txns
        if rules.evaluate(record, record.event_time_ms, {}, windows)
    ]


def test_a_filter_rule_hits_with_the_values_it_tested() -> None:
    rules = RuleSet([rule(id="big", filter=[{"field": "amount", "op": "ge", "value": 1000}])])
    assert rules.evaluate(txn(1, 0, amount=999), 0) == []
    [hit] = rules.evaluate(txn(2, 0, amount=5000), 0)
    assert hit.rule_id == "big" and hit.alerts and hit.severity == "high"
    assert dict(hit.values) == {"amount": 5000.0}
    reason = hit.reason()
    assert reason.code == "RULE:big" and "amount=5000" in reason.message


def test_all_conditions_must_hold_including_hour_sets_and_features() -> None:
    rules = RuleSet(
        [
            rule(
                filter=[
                    {"field": "currency", "op": "not_in", "value": ["USD", "EUR"]},
                    {"field": "hour", "op": "ge", "value": 10},
                    {"field": "features.amount_zscore", "op": "gt", "value": 3},
                ]
            )
        ]
    )
    at = txn(1, 0, currency="GBP")
    assert rules.uses_features
    assert rules.evaluate(at, at.event_time_ms, {"amount_zscore": 4.0})
    assert not rules.evaluate(at, at.event_time_ms, {"amount_zscore": 2.0})
    assert not rules.evaluate(at, at.event_time_ms, {})  # a missing feature never matches
    usd = txn(2, 0, currency="USD")
    assert not rules.evaluate(usd, usd.event_time_ms, {"amount_zscore": 4.0})
    early = txn(3, -3600, currency="GBP")  # 09:00 UTC
    assert not rules.evaluate(early, early.event_time_ms, {"amount_zscore": 4.0})


def test_disabled_rules_are_not_compiled() -> None:
    rules = RuleSet([rule(filter=[{"field": "amount", "op": "gt", "value": 1}], enabled=False)])
    assert not rules and rules.evaluate(txn(1, 0), 0) == []


def test_a_window_rule_fires_on_the_third_merchant_not_the_fourth() -> None:
    rules = RuleSet([VELOCITY])
    txns = [txn(i, 60 * i) for i in range(1, 6)]  # five merchants within 5 minutes
    assert run(rules, txns) == ["t3"]


def test_it_rearms_when_the_aggregate_falls_back_under_the_limit() -> None:
    rules = RuleSet([VELOCITY])
    first = [txn(i, 60 * i) for i in range(1, 4)]  # fires at t3 (minute 3)
    # Minute 12.5: t1 and t2 have left the window (only t3 is in it): under the limit again.
    later = [txn(4, 750), txn(5, 760)]
    assert run(rules, first + later) == ["t3", "t5"]


def test_a_repeat_merchant_does_not_count_and_cards_are_separate() -> None:
    rules = RuleSet([VELOCITY])
    txns = [
        txn(1, 0, merchant="a"),
        txn(2, 10, merchant="a"),
        txn(3, 20, merchant="b"),
        txn(4, 30, merchant="c", card="fp2"),
        txn(5, 40, merchant="c"),
    ]
    assert run(rules, txns) == ["t5"]


def test_count_sum_and_strict_limits() -> None:
    count = rule(
        id="count",
        aggregate={"function": "count", "group_by": "user", "window": "1m"},
        limit={"op": ">", "value": 2},
    )
    total = rule(
        id="total",
        aggregate={"function": "sum_amount", "group_by": "user", "window": "1h"},
        limit={"op": ">=", "value": 100},
    )
    rules = RuleSet([count, total])
    windows = RuleWindows()
    hits = []
    for index, amount in enumerate([40.0, 40.0, 30.0, 5.0]):
        record = txn(index, index, amount=amount)
        hits.append(
            [hit.rule_id for hit in rules.evaluate(record, record.event_time_ms, {}, windows)]
        )
    assert hits == [[], [], ["count", "total"], []]  # 3 > 2 and 110 >= 100, once
    [total_hit] = [
        h for h in RuleSet([total]).evaluate(txn(9, 0, amount=150), 0, {}, RuleWindows())
    ]
    assert dict(total_hit.values)["sum_amount"] == 150.0
    assert "per user in 1h" in total_hit.message


def test_shuffled_arrival_in_event_time_order_gives_the_same_hits() -> None:
    rules = RuleSet([VELOCITY])
    txns = [txn(i, 45 * i, merchant=f"m{i % 4}") for i in range(40)]
    expected = run(rules, sorted(txns, key=lambda t: t.event_time_ms))
    rng = random.Random(7)
    for _ in range(5):
        shuffled = txns[:]
        rng.shuffle(shuffled)
        # The job's reorder buffer hands each user's transactions over in event-time order.
        assert run(rules, sorted(shuffled, key=lambda t: t.event_time_ms)) == expected
    assert expected  # the pattern breaches at least once


def test_windows_survive_a_state_round_trip() -> None:
    rules = RuleSet([VELOCITY])
    windows = RuleWindows()
    run(rules, [txn(1, 0), txn(2, 10)], windows)
    restored = RuleWindows.from_state(windows.to_state())
    assert run(rules, [txn(3, 20)], restored) == ["t3"]
    assert RuleWindows.from_state("garbage").data == {}


def test_state_is_bounded_and_old_rules_are_forgotten() -> None:
    count = rule(
        id="count",
        aggregate={"function": "count", "group_by": "card", "window": "1h"},
        limit={"op": ">=", "value": 1000},
    )
    rules = RuleSet([count])
    windows = RuleWindows()
    for index in range(MAX_WINDOW_EVENTS + 50):
        record = txn(index, index)
        rules.evaluate(record, record.event_time_ms, {}, windows)
    assert len(windows) == MAX_WINDOW_EVENTS
    for index in range(MAX_GROUPS + 10):
        record = txn(index, index, card=f"card{index}")
        rules.evaluate(record, record.event_time_ms, {}, windows)
    assert len(windows.data["count@1"]) == MAX_GROUPS
    # Expired events are dropped as time moves on.
    late = txn(5000, 7200 + 5000)
    rules.evaluate(late, late.event_time_ms, {}, windows)
    assert len(windows.data["count@1"]["fp1"]) == 1
    # A new version (or removal) of the rule drops the old windows.
    changed = Rule.from_record({**count.to_record(), "version": 2})
    RuleSet([changed]).evaluate(late, late.event_time_ms, {}, windows)
    assert set(windows.data) == {"count@2"}


def test_a_window_rule_needs_windows() -> None:
    with pytest.raises(ValueError, match="windowed"):
        RuleSet([VELOCITY]).evaluate(txn(1, 0), 0)


def test_describe_and_unknown_features() -> None:
    checked = rule(filter=[{"field": "features.nope", "op": "gt", "value": 1}])
    assert unknown_features(checked, ["amount_zscore"]) == ["nope"]
    assert describe(VELOCITY) == (
        "every transaction; distinct_merchants per card in 10m >= 3 -> alert high"
    )
