"""`fraudctl submit`, `job status|cancel` and `alerts` against the running stack."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.bench_job import BARE_JOB
from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from foundation.flink_rest import FlinkRest
from foundation.kafka_topics import TopicSpec, ensure_topics
from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.alerts import alert_fields
from fraudctl.job_record import checkpoint_root, latest_checkpoint
from fraudctl.jobs import JobInfo, find_job
from fraudctl.stack import StackManager
from fraudctl.stack.flink_submit import submit_python_job
from tests.fixtures.alerts import make_alert
from tests.fixtures.job import run_tag, seed_body, wait_for_decisions

pytestmark = pytest.mark.integration


def fraudctl(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudctl.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_submit_refuses_a_second_copy(stack_env: dict[str, str], scoring_job: JobInfo) -> None:
    result = fraudctl(stack_env, "submit")
    assert result.returncode == 1
    assert "already RUNNING" in result.stderr
    assert scoring_job.job_id in result.stderr.replace("\n", "")
    assert "fraudctl job cancel" in result.stderr.replace("\n", " ")


def test_job_status_json(stack_env: dict[str, str], scoring_job: JobInfo) -> None:
    result = fraudctl(stack_env, "job", "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["job"]["state"] == "RUNNING"
    assert report["job"]["job_id"] == scoring_job.job_id
    assert report["job"]["model_version"] == scoring_job.model_version
    # Flink's REST metrics are refreshed every 10 s, so counts may still read 0 here.
    assert isinstance(report["transactions_in"], int)
    assert report["restarts"] == 0
    assert report["checkpoints_completed"] is not None


def test_alerts_json_prints_the_newest_alerts(
    stack: StackManager, stack_env: dict[str, str], scoring_job: JobInfo
) -> None:
    cfg = stack.settings.redis
    client = sync_client(cfg)
    tag = run_tag()
    for index in range(3):
        alert = make_alert(index, transaction_id=f"cli-{tag}-{index}")
        client.xadd(cfg.alerts_stream, dict(alert_fields(alert)))  # type: ignore[arg-type]
    result = fraudctl(stack_env, "alerts", "--json", "-n", "3")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["transaction_id"] for line in lines] == [f"cli-{tag}-{i}" for i in range(3)]
    table = fraudctl(stack_env, "alerts", "-n", "3")
    assert f"cli-{tag}-2" in table.stdout


def test_cancel_then_submit_resumes_every_users_history(
    stack: StackManager, stack_env: dict[str, str], scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    user = f"resume-{tag}"
    first = kafka_record(seed_body(f"{tag}-1", user, 50.0, "2025-07-17T10:00:00Z"))
    second = kafka_record(seed_body(f"{tag}-2", user, 60.0, "2025-07-17T10:01:00Z"))
    scores = TopicTail(settings, settings.kafka.scores_topic)
    producer = TransactionProducer(settings)
    try:
        producer.send(first)
        producer.flush()
        assert wait_for_decisions(scores, {first["transaction_id"]}, timeout_s=60)

        cancelled = fraudctl(stack_env, "job", "cancel")
        assert cancelled.returncode == 0, cancelled.stderr
        assert find_job(settings) is None
        submitted = fraudctl(stack_env, "submit", "--json")
        assert submitted.returncode == 0, submitted.stderr
        info = json.loads(submitted.stdout)
        assert info["state"] == "RUNNING"
        assert info["restored_from"], "the new job must start from the old job's state"

        producer.send(second)
        producer.flush()
        decided = wait_for_decisions(scores, {second["transaction_id"]}, timeout_s=120)
    finally:
        scores.close()
    features = decided[second["transaction_id"]][0]["features"]
    assert features["txn_count_1h"] == 2.0, "the user's first transaction was forgotten"


def test_a_checkpoint_the_job_cannot_use_is_refused_and_the_way_on_works(
    stack: StackManager, stack_env: dict[str, str], scoring_job: JobInfo
) -> None:
    """Another program's checkpoint (the bare keyed job's): Flink refuses to map its state.
    The refusal names it and the way on; nothing starts empty; the savepoint the cancel
    took is still what a plain `fraudctl submit` resumes from."""
    settings = stack.settings
    cancelled = fraudctl(stack_env, "job", "cancel")  # a savepoint, and the slots freed
    assert cancelled.returncode == 0, cancelled.stderr
    savepoint = latest_checkpoint(settings)
    topic = f"foreign-{run_tag()}"
    ensure_topics(settings.kafka.bootstrap, [TopicSpec(topic, settings.kafka.partitions)])
    foreign = submit_python_job(settings, BARE_JOB, args=[topic, f"g-{topic}", "another job"])
    try:
        chk = wait_for_checkpoint(settings, foreign)
    finally:
        FlinkRest.of(settings).cancel(foreign)
    try:
        refused = fraudctl(stack_env, "submit", "--from-savepoint", str(chk))
        said = " ".join((refused.stdout + refused.stderr).split())  # undo line wrapping
        assert refused.returncode != 0, said
        assert f"could not be restored from {chk}" in said
        assert "Cannot map checkpoint/savepoint state" in said
        assert f"`fraudctl submit --allow-non-restored-state --from-savepoint {chk}`" in said
        assert find_job(settings) is None, "nothing may start after a refused restore"
        assert latest_checkpoint(settings) == savepoint, "the refused job counted as a run"
    finally:
        resumed = fraudctl(stack_env, "submit", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["restored_from"] == str(savepoint)


def wait_for_checkpoint(settings: Settings, job_id: str, timeout_s: float = 120) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = (checkpoint_root(settings) / job_id).glob("chk-*")
        complete = [p for p in runs if (p / "_metadata").is_file()]
        if complete:
            return complete[0]
        time.sleep(1)
    raise AssertionError(f"job {job_id} completed no checkpoint within {timeout_s:.0f} s")
