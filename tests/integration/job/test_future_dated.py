"""A future-dated record cannot make later decisions late (watermark clamped to arrival)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from fraudctl.jobs import JobInfo, job_status
from fraudctl.simulate.demo import demo_transactions
from fraudctl.stack import StackManager
from tests.fixtures.job import AlertLog, expected_alerts, run_tag, seed_body, wait_for_decisions

pytestmark = pytest.mark.integration


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_record_23_hours_ahead_then_the_seed_scenario_is_not_late_and_alerts(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    now = datetime.now(UTC).replace(microsecond=0)
    # Straight to Kafka (the gateway refuses this skew), for users on every partition.
    future = [
        kafka_record(
            seed_body(
                f"{tag}-future-{i}", f"{tag}-future-{i}", 20.0, _iso(now + timedelta(hours=23))
            )
        )
        for i in range(8)
    ]
    scores = TopicTail(settings, settings.kafka.scores_topic)
    alerts = AlertLog(settings)
    producer = TransactionProducer(settings)
    try:
        for record in future:
            producer.send(record)
        producer.flush()
        time.sleep(1.0)  # the future records' watermark reaches the scorer
        seed, pair = seed_and_pair(tag, datetime.now(UTC))
        fraud_id = seed[1]["transaction_id"]
        wanted = {r["transaction_id"] for r in future + seed + pair}
        for record in seed:
            producer.send(record)
        producer.send(pair[1])
        producer.flush()
        time.sleep(0.5)
        producer.send(pair[0])
        producer.flush()
        decided = wait_for_decisions(scores, wanted, timeout_s=60)
        decided_pair = scores.collect(lambda got: False, timeout_s=2)
        alert = alerts.wait_for(fraud_id, timeout_s=30)
    finally:
        scores.close()
    for record in decided_pair:
        if record.get("transaction_id") in wanted:
            decided.setdefault(record["transaction_id"], []).append(record)
    missing = sorted(wanted - set(decided))
    assert not missing, f"never scored: {missing}; {job_status(settings)}"
    for record in seed + pair:
        assert not any(d["late"] for d in decided[record["transaction_id"]]), record
    assert decided[fraud_id][0]["flagged"]
    assert alert is not None, "the seed's fraud alert did not fire"
    earlier, later = (decided[r["transaction_id"]] for r in pair)
    assert len(earlier) == 1 and not earlier[0].get("correction")
    assert [bool(d.get("correction")) for d in later] == [False, True]
    assert fraud_id in expected_alerts(settings, seed), "premise: the model flags the seed"


def seed_and_pair(tag: str, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The seed scenario (a normal payment, then the fraud a minute later) at `now`, and a
    pair of one user 1 s apart, to be sent later one first (within the bound)."""
    seed = [
        kafka_record(body)
        for body, _ in demo_transactions(tag, now, user_id=f"user-test-123-{tag}")
    ]
    pair = [
        kafka_record(seed_body(f"{tag}-pair-{i}", f"{tag}-pair", 30.0 + i, _iso(moment)))
        for i, moment in enumerate([now - timedelta(seconds=1), now])
    ]
    return seed, pair
