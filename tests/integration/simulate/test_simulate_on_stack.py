"""`fraudctl simulate` and `fraudctl demo` on the real stack (Kafka, Redis, Flink, gateway).

Records are counted on the `transactions` topic by its end offsets before and after a
run; labels are read back from the `transaction-labels` topic; precision/recall come from
real alerts written by the scoring job (`tests.fixtures.job.scoring_job` submits it and
warms it up).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from foundation.redis_client import sync_client
from foundation.settings import REPO_ROOT, Settings
from fraudctl.alerts.quality import detection_quality
from fraudctl.jobs import JobInfo
from fraudctl.stack import StackManager
from models.contracts.alert import parse_alert_fields
from tests.fixtures.job import warm_up

pytestmark = pytest.mark.integration

KAFKA_FIELDS = {
    "transaction_id", "user_id", "card_last4", "card_fingerprint", "amount", "currency",
    "timestamp", "merchant_id", "location", "received_at", "latitude", "longitude",
}  # fmt: skip


def fraudctl(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudctl.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(summary, dict)
    return summary


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": "simulate-integration",
            "enable.auto.commit": False,
        }
    )


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    topic = topic or settings.kafka.transactions_topic
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def records_between(
    settings: Settings, before: dict[int, int], after: dict[int, int], topic: str | None = None
) -> list[dict[str, Any]]:
    topic = topic or settings.kafka.transactions_topic
    consumer = _consumer(settings)
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in before.items()])
    wanted = sum(after[p] - before[p] for p in before)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(records) < wanted and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is None and message.offset() < after[message.partition()]:
                    records.append(json.loads(message.value()))
    finally:
        consumer.close()
    return records


def run_labels(settings: Settings, run_id: str, before: dict[int, int]) -> dict[str, str]:
    """The run's labels (`fraud`/`legit`) as posted to the labels topic since `before`."""
    topic = settings.kafka.labels_topic
    records = records_between(settings, before, end_offsets(settings, topic), topic)
    return {
        r["transaction_id"]: r["label"]
        for r in records
        if r["transaction_id"].endswith(f"-{run_id}")
    }


def run_alerts(settings: Settings, run_id: str) -> set[str]:
    client = sync_client(settings.redis)
    try:
        entries = client.xrange(settings.redis.alerts_stream)
    finally:
        client.close()
    alerted = {parse_alert_fields(fields).transaction_id for _, fields in entries}
    return {txn for txn in alerted if txn.endswith(f"-{run_id}")}


def test_rate_200_for_20_s_puts_4000_records_on_transactions(
    stack: StackManager, stack_env: dict[str, str], scoring_job: JobInfo
) -> None:
    settings = stack.settings
    # The simulator's pacing is measured on a settled stack: the test before may have
    # killed a TaskManager, and a job still catching up would share the two cores.
    warm_up(settings)
    before = end_offsets(settings)
    labels_before = end_offsets(settings, settings.kafka.labels_topic)
    result = fraudctl(stack_env, "simulate", "--rate", "200", "--duration", "20", "--seed", "42",
                      "--fraud-ratio", "0.02", "--json")  # fmt: skip
    after = end_offsets(settings)
    summary = summary_of(result)
    shown = json.dumps(summary, indent=1)  # pytest would cut the dict (and its errors) short
    written = sum(after.values()) - sum(before.values())
    assert written == pytest.approx(4000, rel=0.02), shown
    assert summary["accepted"] == written, shown
    assert summary["sent"] == 4000 and summary["stopped_by"] == "duration", shown
    assert summary["achieved_rate"] == pytest.approx(200, rel=0.02), shown
    problems = {key: summary[key] for key in ("failed", "not_sent", "behind")}
    assert problems == {"failed": 0, "not_sent": 0, "behind": 0}, shown
    for error in summary["errors"]:  # a refusal is shown with the gateway's reason
        assert error["status"] == 422 and error["message"]

    labels = run_labels(settings, summary["run_id"], labels_before)
    assert len(labels) == summary["labels_recorded"] == summary["accepted"]
    assert set(labels.values()) <= {"fraud", "legit"}
    frauds = {txn for txn, label in labels.items() if label == "fraud"}
    assert len(frauds) == summary["frauds_injected"] > 0

    records = records_between(settings, before, after)
    assert {r["transaction_id"] for r in records} == set(labels)
    for record in records:  # ground truth and card numbers stay out of the pipeline
        assert set(record) <= KAFKA_FIELDS, set(record) - KAFKA_FIELDS
        assert "card_number" not in record


def test_summary_quality_comes_from_real_alerts(
    stack: StackManager, stack_env: dict[str, str], scoring_job: JobInfo
) -> None:
    settings = stack.settings
    labels_before = end_offsets(settings, settings.kafka.labels_topic)
    result = fraudctl(stack_env, "simulate", "--rate", "200", "--duration", "20", "--seed", "7",
                      "--fraud-ratio", "0.05", "--json", timeout=300)  # fmt: skip
    summary = summary_of(result)
    shown = ("accepted", "scored", "frauds_injected", "alerts_seen", "quality", "by_pattern")
    print(json.dumps({key: summary[key] for key in shown}, indent=1))  # in the log on failure
    assert summary["frauds_injected"] > 0
    assert summary["scored"] is not None and summary["scored"] > 0, "no decisions: job not reading?"
    assert summary["alerts_seen"] > 0
    q = summary["quality"]
    assert q["recall"] is not None and q["recall"] > 0
    assert q["precision"] is not None

    # The same join, done here from the labels topic and the alert stream: the summary's
    # numbers are real.
    labels = run_labels(settings, summary["run_id"], labels_before)
    alerted = run_alerts(settings, summary["run_id"])
    expected = detection_quality(alerted, labels)
    if summary["scored"] == summary["accepted"]:  # the job had finished: exact
        assert (q["true_positives"], q["false_positives"], q["false_negatives"]) == (
            expected.true_positives,
            expected.false_positives,
            expected.false_negatives,
        )
    else:  # alerts may still have come in after the summary: never fewer
        assert expected.true_positives >= q["true_positives"] > 0


def test_demo_shows_the_seed_alert(stack_env: dict[str, str], scoring_job: JobInfo) -> None:
    result = fraudctl(stack_env, "demo", "--no-prompt", "--user", f"user-demo-{time.time_ns()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FRAUD ALERT" in result.stdout
    assert "txn_fraud_002-" in result.stdout
    assert "gateway → alert" in result.stdout


def test_gateway_restart_mid_run_is_backed_off_and_resumed(
    stack: StackManager, stack_env: dict[str, str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fraudctl.cli", "simulate", "--rate", "100", "--duration", "30",
         "--json"],
        env=stack_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        time.sleep(4)
        stack.stop("gateway")
        time.sleep(4)
        stack.start("gateway")
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["not_sent"] > 100  # skipped while down, not queued up
    assert summary["by_status"].get("unreachable", 0) < 50  # no retry storm
    assert summary["accepted"] > 600  # 4 s before the outage and some after it
    assert summary["sent"] + summary["not_sent"] == 3000
    assert any("unavailable" in note for note in summary["notes"]), err
