"""The supervisor's decisions, against a fake stack manager (no services needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.errors import HealthCheckFailed
from fraudctl.stack.manager import COMPONENT_NAMES
from fraudctl.stack.supervision import JOB, JobCheck, read_state
from fraudctl.stack.supervisor import Supervisor


@dataclass
class FakeProcess:
    log_file: Path
    running: bool = True

    def is_running(self) -> bool:
        return self.running

    def log_since_start(self) -> str:
        return ""

    def stop(self, timeout_s: float = 20.0) -> bool:
        self.running = False
        return True

    def kill_orphans(self) -> int:
        return 0


@dataclass
class FakeComponent:
    manager: FakeManager
    name: str

    def probe(self, _log: str) -> str | None:
        self.manager.probes.append(self.name)
        return self.manager.probe_failures.get(self.name)


@dataclass
class FakeManager:
    root: Path
    procs: dict[str, FakeProcess] = field(default_factory=dict)
    probe_failures: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    extra_taskmanagers: int = 0

    def __post_init__(self) -> None:
        self.paths = StackPaths(self.root)
        for name in self.names():
            self.procs[name] = FakeProcess(self.root / "logs" / f"{name}.log")

    def names(self) -> list[str]:
        extra = [f"flink-taskmanager-{i + 2}" for i in range(self.extra_taskmanagers)]
        names = list(COMPONENT_NAMES)
        at = names.index("flink-taskmanager") + 1
        return names[:at] + extra + names[at:]

    def process(self, name: str) -> FakeProcess:
        return self.procs[name]

    def component(self, name: str) -> FakeComponent:
        return FakeComponent(self, name)

    def start(self, name: str) -> bool:
        self.started.append(name)
        if name in self.broken:
            raise HealthCheckFailed(f"{name} exited during start-up.\nsome log\nthe cause")
        self.procs[name].running = True
        self.probe_failures.pop(name, None)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervisor(manager: FakeManager, clock: Clock | None = None, **kwargs: Any) -> Supervisor:
    return Supervisor(manager, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]


def test_a_dead_component_is_restarted_and_counted(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    manager.procs["gateway"].running = False
    sup = supervisor(manager)
    sup.check_once()
    assert manager.started == ["gateway"]
    state = read_state(manager.paths)
    assert state.get("gateway").restarts == 1
    assert state.get("gateway").state == "ok"
    assert state.get("gateway").last_restart_at is not None
    log = manager.procs["gateway"].log_file.read_text()
    assert "fraudctl supervisor" in log and "gateway is down" in log
    sup.check_once()
    assert manager.started == ["gateway"], "a healthy component is left alone"


def test_dependencies_come_back_first_and_dependents_wait(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    for name in ("gateway", "kafka"):
        manager.procs[name].running = False
    manager.broken.add("kafka")
    sup = supervisor(manager)
    sup.check_once()
    assert manager.started == ["kafka"], "the gateway waits while Kafka is down"
    assert read_state(manager.paths).get("gateway").state == "down"
    manager.broken.clear()
    sup.clock.now += 60  # type: ignore[attr-defined]
    sup.check_once()
    assert manager.started == ["kafka", "kafka", "gateway"]


def test_probe_failures_need_several_rounds_and_not_while_a_dependency_is_down(
    tmp_path: Path,
) -> None:
    manager = FakeManager(tmp_path)
    manager.probe_failures["dashboard"] = "/healthz not answering"
    sup = supervisor(manager, probe_limit=3)
    sup.check_once()
    sup.clock.now += 5  # type: ignore[attr-defined]
    sup.check_once()
    assert manager.started == []
    sup.clock.now += 5  # type: ignore[attr-defined]
    sup.check_once()
    assert manager.started == ["dashboard"]
    manager.procs["redis"].running = False
    manager.broken.add("redis")
    manager.probe_failures["dashboard"] = "redis is down"
    for _ in range(5):
        sup.clock.now += 60  # type: ignore[attr-defined]
        sup.check_once()
    assert "dashboard" not in manager.started[1:], "dashboard is not blamed for Redis"


def test_pids_are_checked_every_round_probes_every_probe_interval(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    sup = supervisor(manager, probe_every_s=5.0)
    sup.check_once()
    assert sorted(manager.probes) == sorted(COMPONENT_NAMES)
    manager.probes.clear()
    for _ in range(4):  # four more rounds, a second apart: no probe is due
        sup.clock.now += 1  # type: ignore[attr-defined]
        sup.check_once()
    assert manager.probes == []
    manager.procs["gateway"].running = False  # but a dead process is seen at once
    sup.clock.now += 0.5  # type: ignore[attr-defined]
    sup.check_once()
    assert manager.started == ["gateway"]
    sup.clock.now += 0.5  # type: ignore[attr-defined]
    sup.check_once()
    assert "gateway" not in manager.probes, "just restarted (and awaited healthy): not yet"
    assert sorted(manager.probes) == sorted(set(COMPONENT_NAMES) - {"gateway"})


def test_every_taskmanager_is_watched(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path, extra_taskmanagers=2)
    manager.procs["flink-taskmanager-3"].running = False
    sup = supervisor(manager)
    sup.check_once()
    assert manager.started == ["flink-taskmanager-3"]
    assert read_state(manager.paths).get("flink-taskmanager-3").restarts == 1


def test_repeated_failures_back_off_then_give_up_loudly(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    manager.procs["redis"].running = False
    manager.broken.add("redis")
    clock = Clock()
    sup = supervisor(manager, clock, max_failures=3, first_backoff_s=1, max_backoff_s=30)
    sup.check_once()
    sup.check_once()  # within the 1 s backoff: no new try
    assert manager.started == ["redis"]
    for _ in range(10):
        clock.now += 31
        sup.check_once()
    assert manager.started == ["redis"] * 3
    item = read_state(manager.paths).get("redis")
    assert item.state == "failed"
    assert "the cause" in item.detail
    assert "GIVING UP on redis" in manager.procs["redis"].log_file.read_text()
    # `fraudctl up` (the operator's answer) brings a new supervisor with a clean slate
    fresh = supervisor(manager).state.get("redis")
    assert fresh.state == "ok" and fresh.failures == 0


def test_the_job_is_resumed_only_when_flink_is_up(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    checks: list[str] = []

    def keeper() -> JobCheck:
        checks.append("checked")
        return JobCheck("restarting", "resumed as abc from chk-3", resumed=True)

    manager.procs["flink-jobmanager"].running = False
    manager.broken.add("flink-jobmanager")
    sup = supervisor(manager, job_keeper=keeper)
    sup.check_once()
    assert checks == [], "no job check while the JobManager is down"
    manager.broken.clear()
    sup.clock.now += 60  # type: ignore[attr-defined]
    sup.check_once()
    assert checks == ["checked"]
    job = read_state(manager.paths).get(JOB)
    assert job.restarts == 1 and job.state == "restarting"


def test_a_taskmanager_that_never_registers_is_restarted(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    clock = Clock()
    sup = supervisor(
        manager,
        clock,
        job_keeper=lambda: JobCheck("down", "waiting for task slots (0 of 2 registered)"),
        slot_patience_s=45,
    )
    sup.check_once()
    clock.now += 30
    sup.check_once()
    assert manager.started == []
    clock.now += 20
    sup.check_once()
    assert manager.started == ["flink-taskmanager"]


def test_a_failed_restore_is_reported_not_retried(tmp_path: Path) -> None:
    manager = FakeManager(tmp_path)
    calls: list[int] = []

    def keeper() -> JobCheck:
        calls.append(1)
        return JobCheck("failed", "could not be restored; `fraudctl submit --from-scratch`")

    sup = supervisor(manager, job_keeper=keeper)
    sup.check_once()
    sup.check_once()
    assert calls == [1]
    assert read_state(manager.paths).get(JOB).state == "failed"
    assert "GIVING UP on the scoring job" in (
        manager.procs["flink-jobmanager"].log_file.read_text()
    )


@pytest.mark.parametrize("broken", ["", "{", '{"items": {"redis": 3}}'])
def test_an_unreadable_state_file_reads_as_no_supervision(tmp_path: Path, broken: str) -> None:
    paths = StackPaths(tmp_path)
    paths.run.mkdir(parents=True)
    (paths.run / "supervisor-state.json").write_text(broken)
    assert read_state(paths).items == {}
