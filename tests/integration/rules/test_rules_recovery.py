"""A windowed rule across a TaskManager crash: its window state comes back from the
checkpoint and the breach alerts exactly once, even when the breach is replayed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from foundation.flink_rest import FlinkRest
from fraudctl.jobs import JobInfo, job_status
from fraudctl.stack import StackManager
from tests.fixtures.job import run_tag, seed_body, wait_for_decisions
from tests.fixtures.stack import crash
from tests.integration.rules.test_rules_live import (
    PROPAGATION_S,
    fraudctl,
    iso,
    rule_alert_counts,
)

pytestmark = pytest.mark.integration


def wait_for_checkpoint_after(
    rest: FlinkRest, job_id: str, after_ms: int, timeout_s: float
) -> None:
    """Until a checkpoint triggered after `after_ms` has completed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = rest.get(f"/jobs/{job_id}/checkpoints")
        latest = (body.get("latest") or {}).get("completed") or {}
        if int(latest.get("trigger_timestamp") or 0) > after_ms:
            return
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint completed within {timeout_s:.0f} s")


def test_a_window_breach_alerts_exactly_once_across_a_taskmanager_kill(
    stack: StackManager, scoring_job: JobInfo, stack_env: dict[str, str]
) -> None:
    settings = stack.settings
    rest = FlinkRest.of(settings)
    tag = run_tag()
    rule_id, user = f"velkill-{tag}", f"velkill-u-{tag}"
    rule = {
        "id": rule_id,
        "filter": [{"field": "user_id", "op": "eq", "value": user}],
        "aggregate": {"function": "distinct_merchants", "group_by": "card", "window": "10m"},
        "limit": {"op": ">=", "value": 3},
        "action": {"type": "alert", "severity": "critical"},
    }
    since_ms = int(time.time() * 1000)
    added = fraudctl(stack_env, "rules", "add", "--inline", orjson.dumps(rule).decode())
    assert added.returncode == 0, added.stderr
    time.sleep(PROPAGATION_S)
    before = job_status(settings)
    base = datetime.now(UTC) - timedelta(seconds=30)
    bodies = [
        seed_body(
            f"velkill-{tag}-{i}", user, 30.0, iso(base + timedelta(seconds=i)), merchant_id=f"m{i}"
        )
        for i in range(5)
    ]
    ids = [body["transaction_id"] for body in bodies]
    producer = TransactionProducer(settings)
    scores = TopicTail(settings, settings.kafka.scores_topic)
    try:
        # Two merchants seen and checkpointed: the window state now lives in the checkpoint.
        for body in bodies[:2]:
            producer.send(kafka_record(body))
        producer.flush()
        assert len(wait_for_decisions(scores, set(ids[:2]), 60)) == 2
        wait_for_checkpoint_after(rest, before.job.job_id, int(time.time() * 1000), 60)
        # The breach, then the crash right away: it is scored (and maybe alerted) before
        # or after the kill, and replayed from the checkpoint either way.
        producer.send(kafka_record(bodies[2]))
        producer.flush()
        time.sleep(0.3)
        killed = stack.process("flink-taskmanager").record()
        crash(stack.process("flink-taskmanager"))
        time.sleep(2)
        stack.up()
        rest.wait_for_state(before.job.job_id, "RUNNING", timeout_s=180)
        for body in bodies[3:]:  # more merchants in the same window: no second breach
            producer.send(kafka_record(body))
        producer.flush()
        decisions = wait_for_decisions(scores, set(ids[2:]), 120)
    finally:
        scores.close()
    assert set(decisions) == set(ids[2:]), "a transaction was not scored after the restart"
    deadline = time.monotonic() + 10
    counts = rule_alert_counts(settings, rule_id, since_ms)
    while not counts and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = rule_alert_counts(settings, rule_id, since_ms)
    assert counts == Counter({ids[2]: 1}), f"expected one alert for the breach, got {counts}"
    after = job_status(settings)
    assert after.job.job_id == before.job.job_id and after.job.state == "RUNNING"
    # The job's restart counter is read from metrics that a task restart may reset, so the
    # kill itself is what is checked: a new TaskManager process runs the job now.
    restarted = stack.process("flink-taskmanager").record()
    assert killed is not None and restarted is not None and restarted.pid != killed.pid
