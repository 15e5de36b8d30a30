"""Window rules in the job's score-on-arrival order (ordering.py): after the corrections,
the hits are those of in-order processing, and every breach alerts exactly once."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flink_job import ordering
from flink_job.rule_state import RULE_TAG, RuleMirror, UserWindows, evaluate_rules
from models.contracts.rule import Rule
from models.contracts.transaction import Transaction
from models.features import FEATURE_NAMES
from tests.unit.rules.test_rule_state import FakeState
from tests.unit.rules.test_rules_engine import txn

VELOCITY = Rule.from_record(
    {
        "id": "velocity",
        "aggregate": {"function": "distinct_merchants", "group_by": "card", "window": "10m"},
        "limit": {"op": ">=", "value": 3},
        "action": {"type": "alert", "severity": "critical"},
    }
)
COUNT = Rule.from_record(
    {
        "id": "count",
        "aggregate": {"function": "count", "group_by": "user", "window": "1m"},
        "limit": {"op": ">=", "value": 3},
        "action": {"type": "alert", "severity": "high"},
    }
)


class FakeValue:
    def __init__(self) -> None:
        self.data: Any = None

    def value(self) -> Any:
        return self.data

    def update(self, data: Any) -> None:
        self.data = data


def run(rule: Rule, arrivals: list[Transaction]) -> tuple[dict[str, list[str]], list[str]]:
    """Score `arrivals` as the job does: (final hits per transaction, alerted ids)."""
    mirror = RuleMirror()
    mirror.apply(RULE_TAG + rule.to_json().decode(), FakeState())
    windows = UserWindows(FakeValue())
    slot = ordering.UserSlot()
    vector = [0.0] * len(FEATURE_NAMES)
    final: dict[str, list[str]] = {}
    alerted: list[str] = []
    for payment in arrivals:
        _start, steps = ordering.admit(slot, payment)
        for step in steps:
            step.absorbed = True
            hits = evaluate_rules(mirror, windows, step.txn, vector, {}, step.correction)
            final[step.txn.transaction_id] = [hit.rule_id for hit in hits]
            if any(hit.alerts for hit in hits) and step.txn.transaction_id not in alerted:
                alerted.append(step.txn.transaction_id)  # the alert sink dedupes by id
        ordering.settle(slot, steps, None, ordering.NO_EVENT)
    return final, alerted


@pytest.mark.parametrize("rule", [VELOCITY, COUNT], ids=["distinct", "count"])
def test_every_arrival_order_gives_the_in_order_hits_and_one_alert(rule: Rule) -> None:
    payments = [txn(i, i) for i in range(5)]
    for order in itertools.permutations(payments):
        final, alerted = run(rule, list(order))
        hit = sorted(tid for tid, rules in final.items() if rules)
        assert hit == ["t2"], [p.transaction_id for p in order]
        assert len(alerted) == 1, ([p.transaction_id for p in order], alerted)


def test_a_second_breach_after_the_window_slid_alerts_again() -> None:
    # 3 merchants, then 3 more 20 minutes later: two breaches, also when shuffled.
    payments = [txn(i, i + (1200 if i >= 3 else 0)) for i in range(6)]
    order = [payments[i] for i in (1, 0, 2, 5, 3, 4)]
    final, alerted = run(VELOCITY, order)
    assert sorted(tid for tid, rules in final.items() if rules) == ["t2", "t5"]
    assert len(alerted) == 2


def test_a_moved_breach_keeps_its_reason_without_alerting_again() -> None:
    payments = [txn(i, i) for i in range(4)]
    order = [payments[i] for i in (0, 1, 3, 2)]  # t3 crosses on arrival, then t2 arrives
    mirror = RuleMirror()
    mirror.apply(RULE_TAG + VELOCITY.to_json().decode(), FakeState())
    windows = UserWindows(FakeValue())
    vector = [0.0] * len(FEATURE_NAMES)
    first = [evaluate_rules(mirror, windows, p, vector, {}) for p in order[:3]]
    assert [h.action for h in first[2]] == ["alert"]  # t3, in real time
    moved = evaluate_rules(mirror, windows, order[3], vector, {})  # t2, overtaken
    assert [h.action for h in moved] == ["tag"] and "already alerted" in moved[0].message
