"""The stack heals itself: kill -9 of each component under traffic, no human action after.

Traffic (generated, frauds included, ids tagged) goes through the gateway's batch
endpoint in order, each batch retried until the gateway accepts it. Each component in
turn is killed with its whole process group; within 60 s the stack must be healthy and
the scoring job RUNNING again. At the end every accepted transaction has exactly one
decision as the readers see them (the simulator's follower, which dedupes), every
expected alert is in Redis exactly once, and `fraudctl down` leaves no process behind.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import psutil
import pytest

from flink_job.topic_clients import kafka_record
from foundation.flink_rest import FlinkRest
from foundation.settings import Settings, gateway_auth_headers
from fraudctl.jobs import find_job
from fraudctl.simulate.labels_and_verdicts import DecisionFollower
from fraudctl.stack import COMPONENT_NAMES, StackManager
from fraudctl.stack.supervision import read_state
from models.generator import TrafficGenerator
from tests.fixtures.job import AlertLog, expected_alerts, run_tag
from tests.fixtures.stack import crash

pytestmark = pytest.mark.integration

KILL_ORDER = (
    "gateway",
    "dashboard",
    "redis",
    "kafka",
    "flink-taskmanager",
    "flink-jobmanager",
)
HEAL_WITHIN_S = 60.0
RATE = 100  # transactions per second
BATCH = 10


class GatewayTraffic(threading.Thread):
    """Sends tagged generated transactions in order; a batch is retried until accepted."""

    def __init__(self, settings: Settings, tag: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{settings.gateway.url}/transactions"
        self.headers = gateway_auth_headers(settings)
        self.generator = TrafficGenerator(seed=23, n_users=200, fraud_ratio=0.05)
        self.tag = tag
        self.accepted: list[dict[str, Any]] = []  # bodies, in the order they were accepted
        self.rejected: list[tuple[str, int]] = []
        self.retries = 0
        self.stop = threading.Event()

    def _batch(self) -> list[dict[str, Any]]:
        bodies = []
        for body, _label in self.generator.next_batch(BATCH):
            bodies.append(
                {
                    **body,
                    "transaction_id": f"{self.tag}-{body['transaction_id']}",
                    "user_id": f"{self.tag}-{body['user_id']}",
                }
            )
        return bodies

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            started = time.monotonic()
            sent = 0
            while not self.stop.is_set():
                pending = self._batch()
                while pending and not self.stop.is_set():
                    pending = self._send(client, pending)
                    if pending:
                        self.retries += 1
                        time.sleep(0.5)
                sent += BATCH
                pause = started + sent / RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    def _send(self, client: httpx.Client, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What is left to send: the first body not accepted and everything after it, so
        each user's transactions arrive in order."""
        try:
            response = client.post(self.url, json=bodies, headers=self.headers)
            results = response.json().get("results")
        except (httpx.HTTPError, ValueError, AttributeError):
            return bodies
        if not isinstance(results, list) or len(results) != len(bodies):
            return bodies
        for index, (body, result) in enumerate(zip(bodies, results, strict=True)):
            status = result.get("status")
            if status == 202:
                self.accepted.append(body)
            elif status in (429, 500, 502, 503, 504):
                return bodies[index:]
            else:
                self.rejected.append((body["transaction_id"], int(status or 0)))
        return []


def healthy(manager: StackManager) -> str | None:
    """None when every component is healthy and the job RUNNING with all its tasks."""
    bad = [f"{row.name}: {row.state}" for row in manager.status() if row.state != "healthy"]
    if bad:
        return ", ".join(bad)
    try:
        job = find_job(manager.settings)
    except Exception as error:  # the JobManager may still be coming up
        return f"job: {error}"
    if job is None:
        return "no scoring job"
    detail = FlinkRest.of(manager.settings).job_detail(job.job_id)
    tasks = [vertex.get("status") for vertex in detail.get("vertices", [])]
    if job.state != "RUNNING" or any(task != "RUNNING" for task in tasks):
        return f"job {job.state}, tasks {tasks}"
    return None


def wait_healed(manager: StackManager, since: float) -> float:
    reason: str | None = "not checked"
    while time.monotonic() - since < HEAL_WITHIN_S:
        reason = healthy(manager)
        if reason is None:
            return time.monotonic() - since
        time.sleep(1.0)
    supervisor_log = manager.supervisor_process().tail(30)
    raise AssertionError(
        f"not healed {HEAL_WITHIN_S:.0f} s after the kill: {reason}\n{supervisor_log}"
    )


def stack_processes(manager: StackManager) -> list[psutil.Process]:
    """Every live process of the stack: components, the supervisor and their children."""
    found = []
    procs = [manager.process(name) for name in COMPONENT_NAMES]
    for managed in [*procs, manager.supervisor_process()]:
        proc = managed.process()
        if proc is not None:
            found += [proc, *proc.children(recursive=True)]
    return found


def test_every_component_heals_and_nothing_is_lost_or_doubled(
    supervised_stack: StackManager,
) -> None:
    manager = supervised_stack
    settings = manager.settings
    assert manager.supervisor_process().is_running(), "`up` left no supervisor running"
    assert healthy(manager) is None
    tag = run_tag()
    follower = DecisionFollower(settings, belongs=lambda txn_id: txn_id.startswith(f"{tag}-"))
    follower.start()
    assert follower.available, follower.error
    alerts = AlertLog(settings)
    traffic = GatewayTraffic(settings, tag)
    traffic.start()
    healed: dict[str, float] = {}
    try:
        time.sleep(8)  # some checkpoints with state before the first kill
        for name in KILL_ORDER:
            crash(manager.process(name))
            healed[name] = wait_healed(manager, time.monotonic())
            time.sleep(3)
    finally:
        traffic.stop.set()
        traffic.join(timeout=30)

    accepted_ids = {body["transaction_id"] for body in traffic.accepted}
    assert len(accepted_ids) == len(traffic.accepted) > 1000, "too little traffic got through"
    assert not traffic.rejected, f"valid transactions were refused: {traffic.rejected[:5]}"
    decided: Counter[str] = Counter()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and set(decided) < accepted_ids:
        decided.update(decision.transaction_id for decision in follower.drain())
        time.sleep(0.5)
    time.sleep(5)  # late repeats from a replay would show up now
    decided.update(decision.transaction_id for decision in follower.drain())
    follower.close()

    missing = accepted_ids - set(decided)
    assert not missing, f"{len(missing)} accepted transactions have no decision"
    assert set(decided) == accepted_ids
    doubled = {txn: n for txn, n in decided.items() if n > 1}
    assert not doubled, f"readers saw {len(doubled)} transactions decided twice"
    wanted = expected_alerts(settings, [kafka_record(b, received_at=0) for b in traffic.accepted])
    counts = alerts.counts(f"{tag}-")
    assert wanted, "the traffic held no transaction the model flags"
    assert set(counts) == wanted, (
        f"alerts missing: {sorted(wanted - set(counts))[:5]}, "
        f"unexpected: {sorted(set(counts) - wanted)[:5]}"
    )
    assert all(n == 1 for n in counts.values()), "an alert was written twice"
    supervision = read_state(manager.paths)
    restarts = {name: supervision.get(name).restarts for name in KILL_ORDER}
    assert all(n >= 1 for n in restarts.values()), (
        f"restarts by the supervisor {restarts}, healed after (s) {healed}; its log:\n"
        f"{manager.supervisor_process().tail(40)}"
    )
    assert supervision.get("scoring-job").restarts >= 1  # resumed after the JobManager
    print(
        f"healed (s): {healed}; accepted {len(accepted_ids)}, duplicates dropped by the "
        f"reader {follower.dedupe.duplicates}, alerts {len(counts)}, send retries "
        f"{traffic.retries}"
    )

    processes = stack_processes(manager)
    assert processes
    manager.down()
    _gone, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"left behind after down: {[p.pid for p in alive]}"
    root = str(manager.paths.root)
    strays = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(root in part for part in proc.info["cmdline"] or []):
            strays.append(proc.info["pid"])
    assert not strays, f"processes still naming the state dir: {strays}"
