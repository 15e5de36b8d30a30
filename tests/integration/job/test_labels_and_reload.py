"""Labels change the next decision's risk features; a new registry version is picked up live."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from flink_job.model_switch import ACTIVE_MODELS_KEY
from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.jobs import JobInfo, cancel_scoring_job, ensure_job_running, job_status, submit_job
from fraudctl.stack import StackManager
from models.contracts.label import Label
from models.generator import TrafficGenerator
from tests.fixtures.job import (
    private_registry,
    publish_renamed_copy,
    run_tag,
    seed_body,
    wait_for_decisions,
    warm_up,
)

pytestmark = pytest.mark.integration
MERCHANT_FRAUD = "merchant_fraud_log_count_30d"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def produce_labels(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for key, value in values:
        producer.produce(settings.kafka.labels_topic, value=value, key=key)
    assert producer.flush(30) == 0


def test_a_fraud_label_raises_the_merchant_risk_of_its_next_transaction(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    user, merchant = f"lab-u-{tag}", f"lab-m-{tag}"
    restarts = job_status(settings).restarts
    scores = TopicTail(settings, settings.kafka.scores_topic)
    dlq = TopicTail(settings, settings.kafka.dlq_topic)
    producer = TransactionProducer(settings)

    def pay(index: int) -> dict[str, Any]:
        body = seed_body(f"lab-{tag}-{index}", user, 25.0, now_iso(), merchant_id=merchant)
        producer.send(kafka_record(body))
        producer.flush()
        txn_id = body["transaction_id"]
        return wait_for_decisions(scores, {txn_id}, timeout_s=60)[txn_id][0]

    try:
        first = pay(0)
        assert first["merchant_id"] == merchant and first["features"][MERCHANT_FRAUD] == 0.0
        fraud = Label(first["transaction_id"], "fraud", "analyst", int(time.time() * 1000),
                      user_id=user, merchant_id=merchant)  # fmt: skip
        unresolved = Label(f"lab-{tag}-elsewhere", "fraud", "chargeback", fraud.labelled_at)
        produce_labels(
            settings,
            [
                (fraud.key, fraud.to_json()),
                (b"x", f"not a label {tag}".encode()),
                (unresolved.key, unresolved.to_json()),
            ],
        )
        # The label and the next transaction take different paths: pay until it shows.
        deadline = time.monotonic() + 60
        index, after = 1, pay(1)
        while after["features"][MERCHANT_FRAUD] == 0.0 and time.monotonic() < deadline:
            time.sleep(0.5)
            index += 1
            after = pay(index)
        letters = dlq.collect(
            lambda got: len(got) >= 2,
            timeout_s=30,
            keep=lambda r: r.get("stage") == "label" and tag in r.get("raw", ""),
        )
    finally:
        scores.close()
        dlq.close()

    assert after["features"][MERCHANT_FRAUD] > 0.0, "the fraud label never reached the scorer"
    assert after["features"]["merchant_fraud_share_30d"] == pytest.approx(0.5)
    assert after["features"]["card_fraud_log_count_30d"] > 0.0  # the labelled user's card
    assert after["anomaly_score"] is not None
    by_kind = {("invalid" if "invalid label" in r["reason"] else "unresolved"): r for r in letters}
    assert "not valid JSON" in by_kind["invalid"]["reason"]
    assert "unresolved label" in by_kind["unresolved"]["reason"]
    assert by_kind["unresolved"]["transaction_id"] == unresolved.transaction_id
    status = job_status(settings)
    assert status.job.state == "RUNNING" and status.restarts == restarts


class Traffic(threading.Thread):
    """Generated transactions at a steady rate in the background."""

    def __init__(self, settings: Settings, records: list[dict[str, Any]], rate: float) -> None:
        super().__init__(daemon=True)
        self.producer = TransactionProducer(settings)
        self.records = records
        self.interval = 1.0 / rate
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            for index, record in enumerate(self.records):
                pause = started + index * self.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self.producer.send(record)
                self.sent += 1
            self.producer.flush(60)
        except BaseException as error:  # reported by the test
            self.error = error


def generated(tag: str, count: int) -> list[dict[str, Any]]:
    records = []
    for body, _ in TrafficGenerator(seed=5, n_users=200, fraud_ratio=0.02).next_batch(count):
        record = kafka_record(body, received_at=0)
        record["user_id"] = f"{tag}-{record['user_id']}"
        record["transaction_id"] = f"{tag}-{record['transaction_id']}"
        records.append(record)
    return records


def test_a_new_registry_version_is_scored_with_live_without_a_restart(
    stack: StackManager, scoring_job: JobInfo, tmp_path: Path
) -> None:
    base = stack.settings
    root = tmp_path / "registry"
    first = private_registry(base.model.artifacts_dir, root)
    model = base.model.model_copy(update={"artifacts_dir": root})
    settings = base.model_copy(update={"model": model})
    cancel_scoring_job(base)  # savepoint: the private-registry job resumes the same state
    try:
        job_id = submit_job(settings).job_id
        warm_up(settings)
        restarts = job_status(settings).restarts
        tag = f"reload-{run_tag()}"
        records = generated(tag, 600)
        wanted = {record["transaction_id"] for record in records}
        tail = TopicTail(settings, settings.kafka.scores_topic)
        traffic = Traffic(settings, records, rate=25)
        try:
            traffic.start()
            while traffic.sent < 150:
                time.sleep(0.05)
            second = publish_renamed_copy(root, tag.replace("reload-", "r"))
            published_ms = int(time.time() * 1000)
            traffic.join(timeout=120)
            assert traffic.error is None, traffic.error
            decided = wait_for_decisions(tail, wanted, timeout_s=120)
            for record in tail.poll(3.0):  # any late duplicate
                if record.get("transaction_id") in wanted:
                    decided.setdefault(record["transaction_id"], []).append(record)
        finally:
            tail.close()
        status = job_status(settings)
        active = sync_client(settings.redis).hgetall(ACTIVE_MODELS_KEY)
    finally:
        cancel_scoring_job(settings)
        ensure_job_running(base)

    assert second != first
    missing = wanted - set(decided)
    assert not missing, f"{len(missing)} transactions were skipped, e.g. {sorted(missing)[:3]}"
    twice = {txn: len(rows) for txn, rows in decided.items() if len(rows) > 1}
    assert not twice, f"scored more than once: {dict(list(twice.items())[:3])}"
    rows = sorted((r[0] for r in decided.values()), key=lambda r: int(r["scored_at"]))
    versions = Counter(r["model_version"] for r in rows)
    assert set(versions) == {first, second}, versions
    first_new = min(int(r["scored_at"]) for r in rows if r["model_version"] == second)
    assert first_new - published_ms < 30_000, "the new version took longer than 30 s"
    # Each scoring subtask switches on its own clock, so the switch is checked per user (a
    # user is always scored by one subtask): once a user's decision carries the new version,
    # none of that user's later decisions carries the old one; and every subtask has
    # switched within 30 s of the publication.
    by_user: dict[str, list[str]] = {}
    for r in rows:
        by_user.setdefault(str(r["user_id"]), []).append(str(r["model_version"]))
    for user, seen in by_user.items():
        if second in seen:
            after = seen[seen.index(second) :]
            assert set(after) == {second}, f"{user}: a decision after its switch used the old model"
    last_old = max((int(r["scored_at"]) for r in rows if r["model_version"] != second), default=0)
    assert last_old - published_ms < 30_000, "a subtask kept the old version for over 30 s"
    assert status.job.job_id == job_id and status.restarts == restarts
    assert {value.decode() for value in active.values()} == {second}
