"""`fraudctl up`'s warm-up on the real job: scored, and nothing of it leaves the job."""

from __future__ import annotations

import pytest

from flink_job.topic_clients import TopicTail, kafka_record, produce_transactions
from fraudctl.jobs import JobInfo
from fraudctl.stack import StackManager
from fraudctl.warmup import warm_up_job
from models.contracts.transaction import WARMUP_USER_PREFIX
from tests.fixtures.job import AlertLog, run_tag, seed_body

pytestmark = pytest.mark.integration


def _warmup(record: dict[str, object]) -> bool:
    user = str(record.get("user_id", ""))
    raw = str(record.get("raw", ""))
    return user.startswith(WARMUP_USER_PREFIX) or WARMUP_USER_PREFIX in raw


def test_the_warmup_is_scored_and_leaves_no_decision_alert_or_dead_letter(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    job = stack.settings.job.model_copy(update={"warmup_transactions": 3_000})
    settings = stack.settings.model_copy(update={"job": job})
    scores = TopicTail(settings, settings.kafka.scores_topic)
    dead = TopicTail(settings, settings.kafka.dlq_topic)
    alerts = AlertLog(settings)
    try:
        result = warm_up_job(settings)
        assert result.complete, result.describe()
        assert result.transactions == 3_000
        # A payment after it: once its decision is out, every warm-up record was scored.
        tag = run_tag()
        marker = seed_body(f"{tag}-after-warmup", f"{tag}-user", 42.0, "2025-07-15T09:00:00Z")
        produce_transactions(settings, [kafka_record(marker)])
        marker_id = marker["transaction_id"]
        logged = scores.collect(
            lambda got: any(r.get("transaction_id") == marker_id for r in got), timeout_s=60
        )
        assert any(r.get("transaction_id") == marker_id for r in logged)
        letters = dead.collect(lambda _got: False, timeout_s=2)
    finally:
        scores.close()
        dead.close()
    assert not [r for r in logged if _warmup(r)]
    assert not [r for r in letters if _warmup(r)]
    # ~2 % of the generated traffic is fraud: scored as payments, these would have alerted.
    assert not alerts.counts(WARMUP_USER_PREFIX)
