"""Topic `transaction-scores`: what the job writes is what the simulator and backtest read."""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Any

import orjson
import pytest

from flink_job.records import decision_record, feature_map
from foundation.settings import Settings
from fraudctl.simulate.labels_and_verdicts import DecisionFollower
from models.contracts.decision import DecisionRecord, InvalidDecision, parse_decision
from models.contracts.reason import Reason
from models.contracts.transaction import Transaction
from models.detector import Decision
from models.features import FEATURE_NAMES

TXN = Transaction.from_record(
    {
        "transaction_id": "txn_fraud_002",
        "user_id": "user-test-123",
        "card_last4": "4242",
        "card_fingerprint": "f" * 64,
        "amount": 5000.0,
        "currency": "USD",
        "merchant_id": "merchant_b",
        "location": "Online",
        "timestamp": "2025-07-15T10:01:00Z",
        "received_at": 1_752_573_660_123,
    }
)
VECTOR = tuple(float(i) / 7 for i in range(len(FEATURE_NAMES)))
FLAGGED = Decision(0.7123456789, 0.55, True, (Reason("AMOUNT_SPIKE", "100x average"),), "m-1")
# What the job wrote before the optional fields existed: readers must keep accepting it.
LEGACY_KEYS = {
    "transaction_id", "user_id", "timestamp", "event_time_ms", "amount", "currency", "score",
    "threshold", "flagged", "reasons", "features", "model_version", "late", "received_at",
    "scored_at",
}  # fmt: skip


def test_job_decision_parses_back_field_for_field() -> None:
    raw = decision_record(
        TXN, FLAGGED, VECTOR, 1_752_573_660_200, late=True, anomaly_score=0.4,
        extra_features={"label_fraud_rate_card": 0.25},
    )  # fmt: skip
    parsed = parse_decision(raw)
    # `correction` is written on corrections only (see test_a_correction_round_trips).
    assert set(orjson.loads(raw)) == {field.name for field in fields(DecisionRecord)} - {
        "correction"
    }
    assert set(orjson.loads(raw)) >= LEGACY_KEYS
    assert parsed == DecisionRecord(
        transaction_id="txn_fraud_002",
        user_id="user-test-123",
        timestamp="2025-07-15T10:01:00Z",
        event_time_ms=TXN.event_time_ms,
        amount=5000.0,
        currency="USD",
        score=0.712346,
        threshold=0.55,
        flagged=True,
        reasons=(Reason("AMOUNT_SPIKE", "100x average"),),
        features={**feature_map(VECTOR), "label_fraud_rate_card": 0.25},
        model_version="m-1",
        late=True,
        received_at=1_752_573_660_123,
        scored_at=1_752_573_660_200,
        merchant_id="merchant_b",
        card_fingerprint="f" * 64,
        anomaly_score=0.4,
    )
    assert orjson.loads(orjson.dumps(parsed.to_dict())) == orjson.loads(raw)


def test_the_anomaly_score_defaults_to_the_decisions_own() -> None:
    decision = Decision(0.9, 0.5, True, (Reason("X", "y"),), "m-2", anomaly_score=0.33)
    assert parse_decision(decision_record(TXN, decision, VECTOR, 1)).anomaly_score == 0.33
    calm = Decision(0.1, 0.5, False, (), "m-2")
    assert parse_decision(decision_record(TXN, calm, VECTOR, 1)).anomaly_score is None


def test_records_written_before_the_optional_fields_still_parse() -> None:
    legacy = {
        key: value
        for key, value in orjson.loads(decision_record(TXN, FLAGGED, VECTOR, 5)).items()
        if key in LEGACY_KEYS
    }
    parsed = parse_decision(legacy)
    assert parsed.merchant_id is None and parsed.card_fingerprint is None
    assert parsed.anomaly_score is None and parsed.flagged


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"transaction_id": ""}, "transaction_id must not be empty"),
        ({"flagged": "yes"}, "flagged must be a bool"),
        ({"score": None}, "score must be a finite number"),
        ({"scored_at": True}, "scored_at must be a int"),
        ({"reasons": [{"message": "no code"}]}, "reasons: a reason needs"),
        ({"features": {"amount": "big"}}, "features must map names to numbers"),
        ({"anomaly_score": "high"}, "anomaly_score must be a finite number"),
    ],
)
def test_a_bad_decision_says_which_field(change: dict[str, Any], words: str) -> None:
    good = orjson.loads(decision_record(TXN, FLAGGED, VECTOR, 5))
    with pytest.raises(InvalidDecision, match=words):
        parse_decision({**good, **change})
    with pytest.raises(InvalidDecision, match="not valid JSON"):
        parse_decision(b"{nope")


class _Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


class _OneBatch:
    """A consumer that hands out one batch, then stops the follower's loop."""

    def __init__(self, values: list[bytes], stop: threading.Event) -> None:
        self.values, self.stop = values, stop

    def consume(self, num_messages: int, timeout: float) -> list[_Message]:
        batch, self.values = self.values, []
        if not batch:
            self.stop.set()
        return [_Message(value) for value in batch]


def test_the_simulator_follows_the_jobs_decisions() -> None:
    other = Transaction.from_record({**TXN.to_record(), "transaction_id": "not_this_run"})
    values = [
        decision_record(TXN, FLAGGED, VECTOR, 7).encode(),
        decision_record(other, FLAGGED, VECTOR, 7).encode(),
        b'{"transaction_id": "txn_broken"}',
    ]
    follower = DecisionFollower(Settings(), belongs=lambda txn: txn.startswith("txn_"))
    follower.tail._consumer = _OneBatch(values, follower.tail._stop)
    follower.tail._loop()
    [decision] = follower.drain()
    assert decision.transaction_id == "txn_fraud_002" and decision.flagged
    assert decision.score == 0.712346 and decision.threshold == 0.55
    assert follower.invalid == 1


def test_a_correction_round_trips() -> None:
    raw = orjson.loads(decision_record(TXN, FLAGGED, VECTOR, 1))
    assert parse_decision(raw).correction is False
    corrected = parse_decision({**raw, "correction": True})
    assert corrected.correction is True
    assert corrected.to_dict()["correction"] is True
