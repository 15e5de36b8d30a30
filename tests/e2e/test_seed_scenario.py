"""The seed README's two curl transactions, through the real gateway, Kafka, Flink and Redis."""

from __future__ import annotations

import time

import httpx
import pytest

from flink_job.topic_clients import TopicTail
from fraudctl.jobs import JobInfo
from fraudctl.stack import StackManager
from tests.fixtures.job import AlertLog, seed_body, wait_for_decisions

pytestmark = pytest.mark.e2e

NORMAL = seed_body("txn_normal_001", "user-test-123", 50.00, "2025-07-15T10:00:00Z")
FRAUD = seed_body(
    "txn_fraud_002", "user-test-123", 5000.00, "2025-07-15T10:01:00Z",
    merchant_id="merchant_b", location="Online",
)  # fmt: skip


def test_seed_fraud_alerts_once_within_2_s_and_normal_does_not(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    alerts = AlertLog(settings)
    decisions = TopicTail(settings, settings.kafka.scores_topic)
    gateway = f"{settings.gateway.url}/transaction"
    try:
        assert httpx.post(gateway, json=NORMAL, timeout=10).status_code == 202
        # the normal one is the user's history: let it be scored before the spike arrives
        wait_for_decisions(decisions, {"txn_normal_001"}, timeout_s=30)
        posted = time.monotonic()
        response = httpx.post(gateway, json=FRAUD, timeout=10)
        assert response.status_code == 202, response.text
        alert = alerts.wait_for("txn_fraud_002", timeout_s=2.0)
        elapsed = time.monotonic() - posted
        assert alert is not None, "no alert for txn_fraud_002 within 2 s"
        assert elapsed <= 2.0
        logged = wait_for_decisions(decisions, {"txn_fraud_002"}, timeout_s=30)
    finally:
        decisions.close()

    time.sleep(1.0)  # anything else the job would write for these two has arrived by now
    entries = alerts.entries()
    fraud_alerts = [a for _, a, _ in entries if a["transaction_id"] == "txn_fraud_002"]
    assert len(fraud_alerts) == 1
    assert not [a for _, a, _ in entries if a["transaction_id"] == "txn_normal_001"]

    raw = next(raw for _, a, raw in entries if a["transaction_id"] == "txn_fraud_002")
    for card in ("4242-4242-4242-4242", "4242424242424242", "4242 4242 4242 4242"):
        assert card not in raw
    assert alert["card_last4"] == "4242"
    assert alert["user_id"] == "user-test-123"
    assert alert["amount"] == 5000.0
    assert alert["reasons"], "an alert must say why"
    assert any("AMOUNT" in reason["code"] for reason in alert["reasons"]), alert["reasons"]
    assert alert["score"] >= alert["threshold"]
    assert alert["received_at"] <= alert["detected_at"]
    assert logged["txn_fraud_002"][0]["flagged"] is True
