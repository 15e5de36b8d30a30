"""Bad records, event-time order and the decision log, on the running scoring job."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flink_job.records import feature_map
from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from foundation.settings import JobSettings
from fraudctl.jobs import JobInfo, job_status
from fraudctl.stack import StackManager
from models.contracts.transaction import Transaction
from models.features import FEATURE_NAMES, UserState, update_and_extract
from tests.fixtures.job import run_tag, seed_body, wait_for_decisions

pytestmark = pytest.mark.integration


def test_bad_records_go_to_the_dlq_with_a_reason_and_the_job_keeps_scoring(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    restarts = job_status(settings).restarts
    dlq = TopicTail(settings, settings.kafka.dlq_topic)
    scores = TopicTail(settings, settings.kafka.scores_topic)
    producer = TransactionProducer(settings)
    not_json = f"not json at all {tag} card 4111 1111 1111 1111".encode()
    missing = {"transaction_id": f"missing-{tag}", "user_id": f"u-{tag}", "amount": 10.0}
    valid = kafka_record(seed_body(f"valid-{tag}", f"u-{tag}", 20.0, "2025-07-16T10:00:00Z"))
    try:
        producer.send_raw(not_json, key=b"whoever")
        producer.send_raw(json.dumps(missing).encode(), key=f"u-{tag}".encode())
        producer.send(valid)
        producer.flush()
        letters = dlq.collect(
            lambda got: len(got) >= 2, timeout_s=60, keep=lambda r: tag in r.get("raw", "")
        )
        decided = wait_for_decisions(scores, {valid["transaction_id"]}, timeout_s=60)
    finally:
        dlq.close()
        scores.close()

    assert len(letters) == 2
    by_kind = {("missing" if "missing-" in r["raw"] else "not_json"): r for r in letters}
    assert "not valid JSON" in by_kind["not_json"]["reason"]
    assert "4111 1111 1111 1111" not in by_kind["not_json"]["raw"]
    assert "card number removed" in by_kind["not_json"]["raw"]
    assert "missing" in by_kind["missing"]["reason"]
    assert by_kind["missing"]["stage"] == "parse"
    assert valid["transaction_id"] in decided
    status = job_status(settings)
    assert status.job.state == "RUNNING"
    assert status.restarts == restarts, "a bad record made the job restart"


def test_a_repeated_transaction_id_is_not_scored_twice(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    record = kafka_record(seed_body(f"dup-{tag}", f"u-{tag}", 20.0, "2025-07-16T11:00:00Z"))
    dlq = TopicTail(settings, settings.kafka.dlq_topic)
    scores = TopicTail(settings, settings.kafka.scores_topic)
    producer = TransactionProducer(settings)
    try:
        producer.send(record)
        producer.flush()
        wait_for_decisions(scores, {record["transaction_id"]}, timeout_s=60)
        producer.send(record)
        producer.flush()
        letters = dlq.collect(
            lambda got: bool(got),
            timeout_s=60,
            keep=lambda r: r.get("transaction_id") == record["transaction_id"],
        )
        later = scores.poll(1.0)
    finally:
        dlq.close()
        scores.close()
    assert letters and letters[0]["stage"] == "score"
    assert "already scored" in letters[0]["reason"]
    assert not [r for r in later if r["transaction_id"] == record["transaction_id"]]


def history(user: str, tag: str, start: datetime) -> list[dict[str, Any]]:
    """A user's transactions: spaced purchases and two rapid bursts, in event-time order."""
    rng = random.Random(5)
    moments: list[float] = []
    clock = 0.0
    for block in range(6):
        for _ in range(4):
            clock += rng.uniform(60, 900)
            moments.append(clock)
        if block in (2, 4):  # a burst: 8 charges within 3.5 s
            clock += 120
            moments.extend(clock + step * 0.5 for step in range(8))
            clock += 4
    merchants = ["grocer", "cafe", "books", "fuel", "online-shop"]
    records = []
    for index, offset in enumerate(moments):
        when = start + timedelta(seconds=offset)
        body = seed_body(
            f"{tag}-{user}-{index:03d}",
            f"{tag}-{user}",
            round(rng.uniform(5, 120) if index % 9 else rng.uniform(400, 900), 2),
            when.isoformat().replace("+00:00", "Z"),
            merchant_id=rng.choice(merchants),
            latitude=40.7 + rng.uniform(-0.05, 0.05),
            longitude=-74.0 + rng.uniform(-0.05, 0.05),
        )
        records.append(kafka_record(body, received_at=0))
    return records


def shuffled_within(records: list[dict[str, Any]], bound_ms: int) -> list[dict[str, Any]]:
    """A random order in which no record comes after one `bound_ms` or more younger."""
    rng = random.Random(9)
    times = [Transaction.from_record(r).event_time_ms for r in records]
    groups: list[list[int]] = []
    for index, ms in enumerate(times):
        if groups and ms - times[groups[-1][0]] < bound_ms - 500:
            groups[-1].append(index)
        else:
            groups.append([index])
    order: list[int] = []
    for group in groups:
        rng.shuffle(group)
        order.extend(group)
    shuffled = [records[i] for i in order]
    seen_max = -1
    for record in shuffled:  # the premise of the test: within the bound
        ms = Transaction.from_record(record).event_time_ms
        assert seen_max - ms < bound_ms
        seen_max = max(seen_max, ms)
    assert order != sorted(order), "the shuffle must actually reorder something"
    return shuffled


def offline_features(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """In event-time order through the shared feature code: what the job must reproduce."""
    state: UserState | None = None
    features = {}
    for record in records:
        txn = Transaction.from_record(record)
        result = update_and_extract(state, txn)
        state = result.state
        features[txn.transaction_id.rsplit("-", 1)[-1]] = feature_map(result.vector)
    return features


def test_shuffled_history_within_the_bound_gives_the_in_order_features(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = run_tag()
    bound = settings.job.out_of_orderness_ms
    # Far ahead of any other test's event time, so no watermark has passed these yet.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    shuffled_user = history("shuffled", tag, start)
    # The same history one day later (same hours of the day), sent in order, as a control.
    in_order_user = history("inorder", tag, start + timedelta(days=1))
    wanted = {r["transaction_id"] for r in shuffled_user + in_order_user}
    scores = TopicTail(settings, settings.kafka.scores_topic)
    producer = TransactionProducer(settings)
    try:
        for record in shuffled_within(shuffled_user, bound):
            producer.send(record)
        producer.flush()
        for record in in_order_user:
            producer.send(record)
        producer.flush()
        decided = wait_for_decisions(scores, wanted, timeout_s=90)
        # Corrections of overtaken transactions follow their newcomer at once: collect them.
        for record in scores.collect(lambda got: False, timeout_s=3, keep=lambda r: True):
            if record.get("transaction_id") in wanted:
                decided.setdefault(record["transaction_id"], []).append(record)
    finally:
        scores.close()
    missing = sorted(wanted - set(decided))
    assert not missing, f"{len(missing)} never scored: {missing[:5]}; {job_status(settings)}"

    def job_features(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        """The user features of each final decision (a correction replaces the first);
        the label-risk ones are not per user."""
        found = {}
        for r in records:
            logged = decided[r["transaction_id"]][-1]["features"]
            found[r["transaction_id"].rsplit("-", 1)[-1]] = {
                name: logged[name] for name in FEATURE_NAMES
            }
        return found

    expected = offline_features(shuffled_user)
    assert job_features(shuffled_user) == expected
    assert job_features(in_order_user) == expected
    assert not any(d["late"] for r in shuffled_user for d in decided[r["transaction_id"]])
    # In order: one decision each, made on arrival. Shuffled: a first decision, then only
    # corrections (the shuffle overtook some, so there are some).
    assert all(len(decided[r["transaction_id"]]) == 1 for r in in_order_user)
    assert not any(d.get("correction") for r in in_order_user for d in decided[r["transaction_id"]])
    for r in shuffled_user:
        first, *later = decided[r["transaction_id"]]
        assert not first.get("correction") and all(d.get("correction") for d in later)
    assert any(len(decided[r["transaction_id"]]) > 1 for r in shuffled_user)


def test_the_job_writers_linger_as_configured(scoring_job: JobInfo, stack: StackManager) -> None:
    """`job.log_linger_ms` reaches the Kafka writers of the decision log and the DLQ: each
    producer logs its configuration in the TaskManager's log when it starts."""
    wanted = stack.settings.job.log_linger_ms
    assert wanted != JobSettings().log_linger_ms, "the session stack sets its own value"
    lingers: list[str] = []
    for log in stack.paths.logs.glob("flink-taskmanager*.log"):
        text = log.read_text(errors="replace")
        lingers += re.findall(r"^\s*linger\.ms = (\d+)\s*$", text, re.MULTILINE)
    assert lingers, "no Kafka producer configuration in the TaskManagers' logs"
    assert set(lingers) == {str(wanted)}
