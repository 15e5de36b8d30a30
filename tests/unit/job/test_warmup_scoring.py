"""The scorer on a warm-up transaction: the whole path runs, and nothing of it is kept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pyflink.common import Row

from flink_job import ordering
from flink_job.functions import ScoreTransactions
from flink_job.model import ModelPackage
from flink_job.model_switch import ModelSwitch
from flink_job.records import to_wire
from flink_job.rule_state import UserWindows
from models.contracts.transaction import WARMUP_USER_PREFIX, Transaction
from models.label_risk import LabelRiskBook
from models.rules_engine import RuleSet
from tests.fixtures.job import repo_package
from tests.unit.rules.test_rules_engine import rule, txn

# Alerts on every transaction and keeps a window per user: both outputs and both states.
EVERY_ONE = rule(
    aggregate={"function": "count", "group_by": "user", "window": "1m"},
    limit={"op": ">=", "value": 1},
)


class ValueState:
    """Keyed ValueState of one key, recording the calls the scorer makes."""

    def __init__(self) -> None:
        self.data: Any = None
        self.calls: list[str] = []

    def value(self) -> Any:
        self.calls.append("value")
        return self.data

    def update(self, data: Any) -> None:
        self.calls.append("update")
        self.data = data

    def clear(self) -> None:
        self.calls.append("clear")
        self.data = None


class Timers:
    def current_watermark(self) -> int:
        return ordering.NO_EVENT


class Context:
    def timer_service(self) -> Timers:
        return Timers()


@pytest.fixture(scope="module")
def package() -> ModelPackage:
    return repo_package()


def scorer(package: ModelPackage) -> ScoreTransactions:
    """A scorer as open() leaves it, on fake keyed state, with one alerting window rule."""
    function = ScoreTransactions(package, state_ttl_s=3600)
    function.slots = ValueState()
    function.rule_windows = UserWindows(ValueState())
    function.switch = ModelSwitch(None, package.detector, None)
    function.switch.start(0)
    function.labels.book = LabelRiskBook()
    function.rules.rules = {EVERY_ONE.id: EVERY_ONE}
    function.rules.ruleset = RuleSet([EVERY_ONE])
    return function


def run(function: ScoreTransactions, transaction: Transaction) -> list[Any]:
    return list(function.process_element(to_wire(transaction), Context()) or ())


def test_a_payment_is_decided_alerted_and_remembered(package: ModelPackage) -> None:
    """The baseline the warm-up is compared with: the same scorer keeps all of it."""
    function = scorer(package)
    out = run(function, replace(txn(1, 0), received_at=1))
    assert [type(item) for item in out] == [tuple, Row]  # the alert, then the decision
    assert function.slots.data is not None
    assert function.rule_windows is not None and function.rule_windows.state.data is not None


def test_a_warmup_transaction_runs_the_path_and_leaves_nothing(package: ModelPackage) -> None:
    function = scorer(package)
    warm = replace(txn(1, 0), user_id=f"{WARMUP_USER_PREFIX}0", received_at=1)
    assert run(function, warm) == []  # the payment above gave an alert and a decision
    slots = function.slots
    windows = function.rule_windows
    assert windows is not None
    assert slots.calls == ["value", "update", "clear"] and slots.data is None
    assert windows.state.calls[-1] == "clear" and "update" in windows.state.calls
    assert windows.state.data is None
    assert function.cache.get(warm.user_id, 1) is None


def test_a_warmup_transaction_never_moves_the_watermark() -> None:
    warm = replace(txn(1, 0), user_id=f"{WARMUP_USER_PREFIX}0", received_at=10**12)
    assert ordering.watermark_time(warm, 1_000) == 0
    assert ordering.watermark_time(replace(warm, user_id="user-0"), 1_000) > 0
