"""Failures mid-stream: a killed TaskManager and a Redis outage lose and duplicate nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from flink_job.topic_clients import TopicTail, TransactionProducer
from foundation.flink_rest import FlinkRest
from foundation.settings import Settings
from fraudctl.jobs import JobInfo, job_status
from fraudctl.stack import StackManager
from tests.fixtures.job import (
    AlertLog,
    LabelledTraffic,
    labelled_traffic,
    run_tag,
    wait_for_decisions,
)
from tests.fixtures.stack import crash

pytestmark = pytest.mark.integration


class PacedProducer(threading.Thread):
    """Sends the records at a steady rate in the background, like live traffic."""

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

    def wait_sent(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.sent < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.sent >= count, f"only {self.sent} of {count} records were sent"


def run_with_failure(
    stack: StackManager,
    traffic: LabelledTraffic,
    rate: float,
    fail_after: int,
    fail: Callable[[], None],
    recover: Callable[[], None],
    tag: str,
) -> tuple[dict[str, list[dict[str, Any]]], AlertLog]:
    settings = stack.settings
    alerts = AlertLog(settings)
    tail = TopicTail(settings, settings.kafka.scores_topic)
    sender = PacedProducer(settings, traffic.records, rate)
    try:
        sender.start()
        sender.wait_sent(fail_after)
        fail()
        recover()
        sender.join(timeout=120)
        assert sender.error is None, sender.error
        decisions = wait_for_decisions(tail, traffic.transaction_ids, timeout_s=240)
    finally:
        tail.close()
    missing = traffic.transaction_ids - set(decisions)
    assert not missing, f"{len(missing)} transactions were never scored, e.g. {sorted(missing)[:3]}"
    return decisions, alerts


def assert_alerts_exactly_once(alerts: AlertLog, traffic: LabelledTraffic, tag: str) -> None:
    deadline = time.monotonic() + 30
    counts = alerts.counts(f"{tag}-")
    while set(counts) != traffic.expected_alerts and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = alerts.counts(f"{tag}-")
    missing = traffic.expected_alerts - set(counts)
    unexpected = set(counts) - traffic.expected_alerts
    duplicated = {txn: n for txn, n in counts.items() if n > 1}
    assert not missing, f"{len(missing)} expected alerts are missing, e.g. {sorted(missing)[:3]}"
    assert not unexpected, f"alerts nobody expected: {sorted(unexpected)[:3]}"
    assert not duplicated, f"duplicated alerts: {dict(list(duplicated.items())[:3])}"
    frauds_alerted = sum(1 for txn in counts if traffic.labels.get(txn))
    assert frauds_alerted > 0, "no injected fraud was alerted: the scenario proves nothing"


def test_taskmanager_killed_mid_stream_loses_and_duplicates_no_alert(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = f"tmkill-{run_tag()}"
    traffic = labelled_traffic(settings, tag, 5_000, seed=21)
    assert len(traffic.expected_alerts) >= 20, "the traffic must contain alerts to check"
    before = job_status(settings)
    restarts_before = before.restarts or 0

    def kill_taskmanager() -> None:
        crash(stack.process("flink-taskmanager"))

    def bring_back() -> None:
        time.sleep(3)  # the stream goes on while the TaskManager is gone
        stack.up()
        FlinkRest.of(settings).wait_for_state(before.job.job_id, "RUNNING", timeout_s=180)

    decisions, alerts = run_with_failure(
        stack, traffic, rate=400, fail_after=1_500, fail=kill_taskmanager,
        recover=bring_back, tag=tag,
    )  # fmt: skip
    after = job_status(settings)
    assert (after.restarts or 0) > restarts_before, (
        f"the job never restarted: restarts {before.restarts} -> {after.restarts}, "
        f"job {before.job.job_id} -> {after.job.job_id}, uptime {after.uptime_s} s"
    )
    assert_alerts_exactly_once(alerts, traffic, tag)
    flagged_in_log = {txn for txn, rows in decisions.items() if rows[0]["flagged"]}
    assert flagged_in_log == traffic.expected_alerts


def test_redis_down_for_30_s_mid_stream_loses_and_duplicates_no_alert(
    stack: StackManager, scoring_job: JobInfo
) -> None:
    settings = stack.settings
    tag = f"redis-{run_tag()}"
    traffic = labelled_traffic(settings, tag, 4_000, seed=31)
    assert len(traffic.expected_alerts) >= 20, "the traffic must contain alerts to check"

    def stop_redis() -> None:
        stack.stop("redis")

    def restart_redis_after_30_s() -> None:
        time.sleep(30)
        stack.start("redis")

    _decisions, alerts = run_with_failure(
        stack, traffic, rate=100, fail_after=800, fail=stop_redis,
        recover=restart_redis_after_30_s, tag=tag,
    )  # fmt: skip
    assert job_status(settings).job.state == "RUNNING"
    assert_alerts_exactly_once(alerts, traffic, tag)
