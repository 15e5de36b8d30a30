"""The local stack manager: starts, health-checks, reports on and stops each component.

Every component is its own process with a pid file and a log file under one state
directory. `up` is idempotent: it starts only what is not running and recovers from stale
pid files; `down` stops in reverse order. Nothing here prints: callers get events.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from foundation.flink_rest import FlinkJob, FlinkRest, FlinkUnreachable
from foundation.settings import Settings, settings_env
from fraudctl.stack.components.base import Component, StackPaths, python_executable
from fraudctl.stack.components.flink import (
    JobManagerComponent,
    TaskManagerComponent,
    taskmanager_index,
    taskmanager_names,
)
from fraudctl.stack.components.kafka import KafkaComponent
from fraudctl.stack.components.redis import RedisComponent
from fraudctl.stack.components.web import DashboardComponent, GatewayComponent
from fraudctl.stack.errors import HealthCheckFailed, PortInUse, UnknownComponent
from fraudctl.stack.hardening import secure_stack
from fraudctl.stack.jars import Jars, ensure_jars
from fraudctl.stack.prereqs import check_java, check_redis_server
from fraudctl.stack.process import ManagedProcess, port_owner
from fraudctl.stack.supervision import JOB, SUPERVISOR, Supervised, read_state

COMPONENT_NAMES = (
    "redis",
    "kafka",
    "flink-jobmanager",
    "flink-taskmanager",
    "gateway",
    "dashboard",
)
# Components in one wave do not depend on each other and start concurrently; each wave
# waits for the previous one to be healthy (TaskManager needs the JobManager, the gateway
# needs Kafka, the dashboard needs Redis).
START_WAVES = (
    ("redis", "kafka", "flink-jobmanager"),
    ("flink-taskmanager", "gateway", "dashboard"),
)
ALIASES = {"jobmanager": "flink-jobmanager", "taskmanager": "flink-taskmanager"}

State = Literal["healthy", "unhealthy", "stopped", "stale", "restarting", "failed"]
Phase = Literal["checking", "starting", "waiting", "healthy", "already-running", "stopped"]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: State
    pid: int | None
    url: str | None
    rss_bytes: int
    detail: str | None
    restarts: int = 0  # by the supervisor, since the stack's state dir was made
    last_restart_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class StackEvent:
    """Progress of `up`/`down`, for the CLI's live display."""

    component: str
    phase: Phase
    detail: str = ""


EventSink = Callable[[StackEvent], None]


def _ignore(_event: StackEvent) -> None:
    return None


def _wave_of(name: str) -> str:
    """Every TaskManager starts in the wave of the first one."""
    return "flink-taskmanager" if taskmanager_index(name) is not None else name


class StackManager:
    """Owns the processes of one state directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StackPaths(settings.state_dir.expanduser())
        self._jars: Jars | None = None

    # -- components -------------------------------------------------------------------
    def names(self) -> list[str]:
        """COMPONENT_NAMES with every TaskManager: as many as settings.flink.taskmanagers,
        and any further one still running from an `up` with a larger count."""
        wanted = self.settings.flink.taskmanagers
        extra = [
            path.stem
            for path in sorted(self.paths.run.glob("flink-taskmanager-*.pid"))
            if (taskmanager_index(path.stem) or 0) >= wanted
        ]
        names = list(COMPONENT_NAMES)
        at = names.index("flink-taskmanager")
        names[at : at + 1] = [*taskmanager_names(wanted), *extra]
        return names

    def canonical(self, name: str) -> str:
        name = ALIASES.get(name, name)
        names = self.names()
        if name not in names:
            raise UnknownComponent(
                f"there is no component {name!r}; choose one of: {', '.join(names)}"
            )
        return name

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(self.canonical(name), self.paths.run, self.paths.logs)

    def jars(self) -> Jars:
        if self._jars is None:
            self._jars = ensure_jars(self.settings.jars_dir.expanduser())
        return self._jars

    def component(self, name: str) -> Component:
        name = self.canonical(name)
        if name == "redis":
            return RedisComponent(self.settings, self.paths)
        if name == "gateway":
            return GatewayComponent(self.settings, self.paths)
        if name == "dashboard":
            return DashboardComponent(self.settings, self.paths)
        jars = self.jars()
        if name == "kafka":
            return KafkaComponent(self.settings, self.paths, jars=jars)
        if name == "flink-jobmanager":
            return JobManagerComponent(self.settings, self.paths, jars=jars)
        index = taskmanager_index(name) or 0
        return TaskManagerComponent(self.settings, self.paths, jars=jars, index=index)

    # -- lifecycle ----------------------------------------------------------------------
    def check_prerequisites(self) -> None:
        check_java()
        check_redis_server(self.settings.redis.server_binary)
        self.jars()

    def up(self, on_event: EventSink = _ignore, only: list[str] | None = None) -> None:
        """Start what is not running, in dependency order, and wait until each is healthy."""
        self.check_prerequisites()
        secure_stack(self.settings)  # secrets generated on first up, refused exposure
        names = [self.canonical(n) for n in only] if only else self.names()
        lock = threading.Lock()

        def locked_event(event: StackEvent) -> None:
            with lock:
                on_event(event)

        for wave in START_WAVES:
            todo = [name for name in names if _wave_of(name) in wave]
            if not todo:
                continue
            with ThreadPoolExecutor(max_workers=len(todo)) as pool:
                futures = [pool.submit(self.start, name, locked_event) for name in todo]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                raise errors[0]  # type: ignore[misc]

    def start(self, name: str, on_event: EventSink = _ignore) -> bool:
        """Start one component unless it runs; True if it was started now."""
        comp = self.component(name)
        proc = self.process(comp.name)
        on_event(StackEvent(comp.name, "checking"))
        if proc.is_running():
            self._wait_healthy(comp, proc, on_event)
            on_event(StackEvent(comp.name, "already-running", f"pid {proc.record().pid}"))  # type: ignore[union-attr]
            comp.after_healthy()
            return False
        proc.clear_stale()
        self._check_ports_free(comp)
        secure_stack(self.settings)  # also when one component is started on its own
        comp.prepare()
        on_event(StackEvent(comp.name, "starting"))
        self.paths.root.mkdir(parents=True, exist_ok=True)
        proc.start(comp.argv(), comp.env(), cwd=self.paths.root)
        self._wait_healthy(comp, proc, on_event)
        comp.after_healthy()
        on_event(StackEvent(comp.name, "healthy", f"pid {proc.record().pid}"))  # type: ignore[union-attr]
        return True

    def _check_ports_free(self, comp: Component) -> None:
        for host, port in comp.ports():
            owner = port_owner(host, port)
            if owner is not None:
                raise PortInUse(
                    f"{comp.name} cannot start: {host}:{port} is already in use by {owner}. "
                    f"Stop that process, or give {comp.name} another port with "
                    f"{comp.port_flag()}."
                )

    def _wait_healthy(self, comp: Component, proc: ManagedProcess, on_event: EventSink) -> None:
        deadline = time.monotonic() + comp.health_timeout_s
        reason: str | None = "not probed yet"
        while time.monotonic() < deadline:
            if not proc.is_running():
                raise HealthCheckFailed(
                    f"{comp.name} exited during start-up. Last lines of {proc.log_file}:\n"
                    f"{proc.tail(25)}"
                )
            reason = comp.probe(proc.log_since_start())
            if reason is None:
                return
            on_event(StackEvent(comp.name, "waiting", reason))
            time.sleep(0.25)
        raise HealthCheckFailed(
            f"{comp.name} did not become healthy within {comp.health_timeout_s:.0f} s "
            f"({reason}). Last lines of {proc.log_file}:\n{proc.tail(25)}\n"
            f"Run `fraudctl logs {comp.name}` for the whole log, `fraudctl down` to stop."
        )

    def stop(self, name: str, on_event: EventSink = _ignore) -> bool:
        proc = self.process(name)
        stopped = proc.stop()
        on_event(StackEvent(proc.name, "stopped", "" if stopped else "was not running"))
        return stopped

    # -- the supervisor (fraudctl/stack/supervisor.py) -------------------------------------
    def supervisor_process(self) -> ManagedProcess:
        return ManagedProcess(SUPERVISOR, self.paths.run, self.paths.logs)

    def start_supervisor(self, *, keep_job: bool = True) -> int:
        """Leave the supervisor running; its pid. One that gave up on something is replaced
        (this `up` is the operator's answer to its "failed")."""
        proc = self.supervisor_process()
        running = proc.process()
        if running is not None:
            gave_up = any(item.state == "failed" for item in read_state(self.paths).items.values())
            if not gave_up:
                return int(running.pid)
            proc.stop(timeout_s=20)
        proc.clear_stale()
        argv = [python_executable(), "-m", "fraudctl.stack.supervisor"]
        if not keep_job:
            argv.append("--no-job")
        env = {**os.environ, **settings_env(self.settings)}
        return proc.start(argv, env, cwd=Path(__file__).resolve().parents[2]).pid

    def stop_supervisor(self, on_event: EventSink = _ignore) -> bool:
        proc = self.supervisor_process()
        stopped = proc.stop(timeout_s=20)
        on_event(StackEvent(SUPERVISOR, "stopped", "" if stopped else "was not running"))
        return stopped

    def supervisor_status(self) -> dict[str, Any]:
        """The supervisor's pid and log, and what it knows of the scoring job."""
        proc = self.supervisor_process()
        running = proc.process()
        job = read_state(self.paths).items.get(JOB)
        return {
            "running": running is not None,
            "pid": running.pid if running else None,
            "log": str(proc.log_file),
            "scoring_job": asdict(job) if job else None,
        }

    def down(self, on_event: EventSink = _ignore, purge: bool = False) -> None:
        """Stop the supervisor first (it would restart what is being stopped), then every
        component in reverse order; with purge also delete data and logs."""
        self.stop_supervisor(on_event)
        for name in reversed(self.names()):
            self.stop(name, on_event)
        if purge and self.paths.root.exists():
            for sub in ("data", "conf", "logs", "run"):
                shutil.rmtree(self.paths.root / sub, ignore_errors=True)

    # -- reporting ----------------------------------------------------------------------
    def status(self) -> list[ComponentStatus]:
        """Each component's state; restarts and "restarting"/"failed" come from the
        supervisor's state file (a "restarting" only while the supervisor runs)."""
        supervision = read_state(self.paths)
        supervised = self.supervisor_process().is_running()
        result = []
        for name in self.names():
            item = supervision.items.get(name, Supervised())
            result.append(
                replace(
                    self._status_of(name, item, supervised),
                    restarts=item.restarts,
                    last_restart_at=item.last_restart_at,
                )
            )
        return result

    def _status_of(self, name: str, item: Supervised, supervised: bool) -> ComponentStatus:
        proc = self.process(name)
        comp = self._component_for_status(name)
        running = proc.process()
        if item.state == "failed":
            pid = running.pid if running else None
            return ComponentStatus(name, "failed", pid, comp.url(), 0, item.detail)
        if running is None:
            state: State = "stale" if proc.pid_file.exists() else "stopped"
            detail = "pid file left by a process that is gone" if state == "stale" else None
            if supervised and item.state in ("restarting", "down"):
                state, detail = "restarting", item.detail or "the supervisor restarts it"
            return ComponentStatus(name, state, None, comp.url(), 0, detail)
        reason = comp.probe(proc.log_since_start())
        state = "healthy" if reason is None else "unhealthy"
        if reason is not None and supervised and item.state == "restarting":
            state = "restarting"
        return ComponentStatus(name, state, running.pid, comp.url(), proc.rss_bytes(), reason)

    def _component_for_status(self, name: str) -> Component:
        """Like component(), but never fetches jars just to report status."""
        index = taskmanager_index(name)
        if (name in ("kafka", "flink-jobmanager") or index is not None) and self._jars is None:
            placeholder = Jars(Path("."), Path("."))
            if name == "kafka":
                return KafkaComponent(self.settings, self.paths, jars=placeholder)
            if name == "flink-jobmanager":
                return JobManagerComponent(self.settings, self.paths, jars=placeholder)
            return TaskManagerComponent(
                self.settings, self.paths, jars=placeholder, index=index or 0
            )
        return self.component(name)

    def flink_jobs(self) -> list[FlinkJob]:
        """Jobs known to the session cluster (empty when it is down)."""
        try:
            return FlinkRest.of(self.settings, timeout_s=2).jobs()
        except FlinkUnreachable:
            return []

    def log_file(self, name: str) -> Path:
        return self.process(name).log_file
