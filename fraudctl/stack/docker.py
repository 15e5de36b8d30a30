"""`fraudctl up|down|status --docker`: the same stack under Docker Compose (compose/).

DockerStack drives `docker compose -f compose/docker-compose.yml -p <project>` with the
settings exported as FRAUDCTL_* variables, so published ports, topic names and the job
name follow the same flags and variables as the local stack. Without a docker client, a
reachable engine or the compose plugin it raises DockerUnavailable, whose message names
the fix and the local default (`fraudctl up`). Nothing here prints: callers get events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from foundation.flink_rest import FlinkJob
from foundation.settings import Settings, settings_env
from fraudctl.stack.errors import HealthCheckFailed, StackError
from fraudctl.stack.hardening import secret_env, secure_stack
from fraudctl.stack.manager import (
    ComponentStatus,
    EventSink,
    Phase,
    StackEvent,
    StackManager,
)

# Stack component (as in `fraudctl status`) -> compose service that provides it.
COMPOSE_SERVICES: dict[str, str] = {
    "redis": "redis",
    "kafka": "redpanda",
    "flink-jobmanager": "jobmanager",
    "flink-taskmanager": "taskmanager",
    "gateway": "gateway",
    "dashboard": "dashboard",
}
COMPONENT_OF = {service: component for component, service in COMPOSE_SERVICES.items()}
# Services that run once and exit 0: topic creation, then the job submission.
ONE_SHOT_SERVICES = ("create-topics", "submit-job")
LOCAL_DEFAULT = "or run the stack natively without Docker, the default: `fraudctl up`"

Verdict = Literal["ready", "waiting", "failed", "absent"]


class DockerUnavailable(StackError):
    """No docker client, no reachable Docker engine, or no Docker Compose v2."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        capture: bool = True,
    ) -> CommandResult: ...


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    capture: bool = True,
) -> CommandResult:
    """Run a command; a missing binary is exit 127, a timeout raises TimeoutExpired."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            timeout=timeout,
            capture_output=capture,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        return CommandResult(127, "", str(exc))
    return CommandResult(done.returncode, done.stdout or "", done.stderr or "")


@dataclass(frozen=True)
class Container:
    """One row of `docker compose ps --all --format json`."""

    service: str
    name: str
    state: str  # running, exited, restarting, created, dead, paused
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int


def parse_ps(output: str) -> list[Container]:
    """Parse `ps --format json`: a JSON array (older compose) or one object per line."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        Container(
            service=str(row.get("Service", "")),
            name=str(row.get("Name", "")),
            state=str(row.get("State", "")).lower(),
            health=str(row.get("Health", "")).lower(),
            exit_code=int(row.get("ExitCode", 0) or 0),
        )
        for row in rows
    ]


def judge_service(service: str, containers: list[Container]) -> tuple[Verdict, str]:
    """Whether a service has reached its goal: healthy when long-running, exit 0 when one-shot."""
    mine = [c for c in containers if c.service == service]
    if not mine:
        return "absent", "no container"
    if service in ONE_SHOT_SERVICES:
        failed = [c for c in mine if c.state in ("exited", "dead") and c.exit_code != 0]
        if failed:
            return "failed", f"exited with code {failed[0].exit_code}"
        if all(c.state == "exited" for c in mine):
            return "ready", "completed"
        return "waiting", "running"
    stopped = [c for c in mine if c.state in ("exited", "dead")]
    if stopped:
        return "failed", f"{stopped[0].name} {stopped[0].state} (code {stopped[0].exit_code})"
    unhealthy = [c for c in mine if c.health == "unhealthy"]
    if unhealthy:
        return "failed", f"{unhealthy[0].name} is unhealthy"
    healthy = sum(1 for c in mine if c.state == "running" and c.health == "healthy")
    detail = f"{healthy}/{len(mine)} healthy" if len(mine) > 1 else "healthy"
    if healthy == len(mine):
        return "ready", detail
    states = ", ".join(sorted({c.health or c.state for c in mine}))
    return "waiting", f"{healthy}/{len(mine)} healthy ({states})"


def _ignore(_event: StackEvent) -> None:
    return None


class DockerStack:
    """The compose project of one settings object: up, down, status."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: CommandRunner = run_command,
        which: Callable[[str], str | None] = shutil.which,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._run = runner
        self._which = which
        self._sleep = sleep
        self._clock = clock
        self._compose: list[str] | None = None

    @property
    def compose_file(self) -> Path:
        return self.settings.compose.file.expanduser()

    @property
    def project(self) -> str:
        return self.settings.compose.project

    # -- prerequisites ------------------------------------------------------------------
    def compose_command(self) -> list[str]:
        """`docker compose -f FILE -p PROJECT`, after checking client, engine and plugin."""
        if self._compose is not None:
            return self._compose
        docker = self._which("docker")
        if docker is None:
            raise DockerUnavailable(
                "Docker is not available: the `docker` command was not found on PATH. "
                "Install Docker Engine with the compose plugin (or Docker Desktop) to use "
                f"--docker, {LOCAL_DEFAULT}."
            )
        self._check_engine(docker)
        base = self._find_compose(docker)
        if not self.compose_file.is_file():
            raise StackError(
                f"the compose file {self.compose_file} does not exist. --docker runs "
                "compose/docker-compose.yml from a clone of the fraudctl repository: install "
                "fraudctl from the clone (`pip install -e .`) or set FRAUDCTL_COMPOSE__FILE."
            )
        self._compose = [*base, "-f", str(self.compose_file), "-p", self.project]
        return self._compose

    def _check_engine(self, docker: str) -> None:
        timeout = self.settings.compose.engine_timeout_s
        argv = [docker, "version", "--format", "{{.Server.Version}}"]
        try:
            result = self._run(argv, env=self.compose_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DockerUnavailable(
                f"Docker is not available: the Docker engine did not answer within {timeout:g} s"
                " (`docker version`). Check that it is running and that DOCKER_HOST, if set, "
                f"points at it, then retry; {LOCAL_DEFAULT}."
            ) from None
        if result.returncode != 0 or not result.stdout.strip():
            reason = _first_line(result.stderr) or f"`docker version` exited {result.returncode}"
            raise DockerUnavailable(
                "Docker is not available: the docker client is installed but cannot reach a "
                f"Docker engine ({reason}). Start the engine (`sudo systemctl start docker`, "
                "or open Docker Desktop) or point DOCKER_HOST at one, then retry; "
                f"{LOCAL_DEFAULT}."
            )

    def _find_compose(self, docker: str) -> list[str]:
        timeout = self.settings.compose.engine_timeout_s
        candidates = [[docker, "compose"]]
        standalone = self._which("docker-compose")
        if standalone is not None:
            candidates.append([standalone])
        for base in candidates:
            try:
                result = self._run([*base, "version", "--short"], timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            major = result.stdout.strip().lstrip("v").split(".", 1)[0]
            if result.returncode == 0 and major.isdigit() and int(major) >= 2:
                return base
        raise DockerUnavailable(
            "Docker Compose v2 is not available: neither `docker compose` nor a v2 "
            "`docker-compose` works. Install the compose plugin (Debian/Ubuntu: "
            f"`apt-get install docker-compose-plugin`) and retry; {LOCAL_DEFAULT}."
        )

    def compose_env(self) -> dict[str, str]:
        """This process's environment plus the settings, for compose's ${FRAUDCTL_…}."""
        env = {**os.environ, **settings_env(self.settings), **secret_env(self.settings)}
        for key, value in env.items():
            if key.startswith("FRAUDCTL_") and key.endswith("__HOST") and value == "localhost":
                env[key] = "127.0.0.1"  # docker publishes on IP addresses only
        return env

    # -- lifecycle ----------------------------------------------------------------------
    def up(
        self,
        on_event: EventSink = _ignore,
        *,
        build: bool = True,
        stream_output: bool = True,
        taskmanagers: int | None = None,
    ) -> None:
        """Build and start the project, then wait until every service reached its goal.

        `taskmanagers` scales the TaskManager service (compose's --scale); None keeps the
        current count (one on a first start).
        """
        if taskmanagers is not None and taskmanagers < 1:
            raise StackError(f"taskmanagers must be at least 1, not {taskmanagers}")
        secure_stack(self.settings)  # the containers get the state dir's secrets
        compose = self.compose_command()
        argv = [*compose, "up", "--detach", "--remove-orphans"]
        if build:
            argv.append("--build")
        if taskmanagers is not None:
            argv += ["--scale", f"{COMPOSE_SERVICES['flink-taskmanager']}={taskmanagers}"]
        on_event(StackEvent("docker", "starting", " ".join(argv[1:])))
        result = self._run(argv, env=self.compose_env(), capture=not stream_output)
        if result.returncode != 0:
            raise StackError(
                f"`docker compose up` failed (exit {result.returncode})."
                f"{_tail(result.stdout + result.stderr)} See `{self.logs_hint()}` for the "
                "services' logs; `fraudctl down --docker` stops what started."
            )
        self.wait_ready(on_event)

    def wait_ready(self, on_event: EventSink = _ignore) -> None:
        """Poll `ps` until long-running services are healthy and one-shots exited 0."""
        services = [*COMPOSE_SERVICES.values(), *ONE_SHOT_SERVICES]
        deadline = self._clock() + self.settings.compose.ready_timeout_s
        seen: dict[str, tuple[Verdict, str]] = {}
        while True:
            containers = self.containers()
            pending = []
            for service in services:
                verdict, detail = judge_service(service, containers)
                if verdict == "failed":
                    raise HealthCheckFailed(
                        f"{service} failed: {detail}. Last lines of its log:\n"
                        f"{self.service_logs(service)}\nRun `{self.logs_hint(service)}` for "
                        "the whole log, `fraudctl down --docker` to stop."
                    )
                if seen.get(service) != (verdict, detail):
                    seen[service] = (verdict, detail)
                    phase: Phase = "healthy" if verdict == "ready" else "waiting"
                    on_event(StackEvent(COMPONENT_OF.get(service, service), phase, detail))
                if verdict != "ready":
                    pending.append(f"{service} ({detail})")
            if not pending:
                return
            if self._clock() >= deadline:
                raise HealthCheckFailed(
                    f"the compose stack was not ready within "
                    f"{self.settings.compose.ready_timeout_s:.0f} s: {', '.join(pending)}. "
                    f"Run `{self.logs_hint()}` to see why, `fraudctl down --docker` to stop."
                )
            self._sleep(2.0)

    def down(self, on_event: EventSink = _ignore, purge: bool = False) -> None:
        """Stop and remove the project's containers; with purge also its volumes (data)."""
        compose = self.compose_command()
        argv = [*compose, "down", "--remove-orphans"]
        if purge:
            argv.append("--volumes")
        result = self._run(argv, env=self.compose_env())
        if result.returncode != 0:
            raise StackError(
                f"`docker compose down` failed (exit {result.returncode}).{_tail(result.stderr)}"
            )
        detail = "containers and volumes removed" if purge else "containers removed"
        on_event(StackEvent("docker", "stopped", detail))

    # -- reporting ----------------------------------------------------------------------
    def containers(self) -> list[Container]:
        compose = self.compose_command()
        result = self._run([*compose, "ps", "--all", "--format", "json"], env=self.compose_env())
        if result.returncode != 0:
            raise StackError(
                f"`docker compose ps` failed (exit {result.returncode}).{_tail(result.stderr)}"
            )
        return parse_ps(result.stdout)

    def status(self) -> list[ComponentStatus]:
        """One row per stack component (as the local stack), then the one-shot services."""
        containers = self.containers()
        rows = []
        for component, service in COMPOSE_SERVICES.items():
            rows.append(self._status_row(component, service, containers))
        for service in ONE_SHOT_SERVICES:
            rows.append(self._status_row(service, service, containers))
        return rows

    def _status_row(self, name: str, service: str, containers: list[Container]) -> ComponentStatus:
        verdict, detail = judge_service(service, containers)
        if verdict == "absent":
            return ComponentStatus(name, "stopped", None, self._url(name), 0, None)
        state: Literal["healthy", "unhealthy"] = "healthy" if verdict == "ready" else "unhealthy"
        return ComponentStatus(name, state, None, self._url(name), 0, f"{service}: {detail}")

    def _url(self, component: str) -> str | None:
        s = self.settings
        urls = {
            "redis": s.redis.url,
            "kafka": s.kafka.bootstrap,
            "flink-jobmanager": s.flink.rest_url,
            "gateway": s.gateway.url,
            "dashboard": s.dashboard.url,
        }
        return urls.get(component)

    def flink_jobs(self) -> list[FlinkJob]:
        """The Flink REST API is published on the same address as the local stack's."""
        return StackManager(self.settings).flink_jobs()

    def service_logs(self, service: str, lines: int = 30) -> str:
        compose = self.compose_command()
        argv = [*compose, "logs", "--no-color", "--tail", str(lines), service]
        result = self._run(argv, env=self.compose_env())
        return (result.stdout + result.stderr).rstrip() or "(no log output)"

    def logs_hint(self, service: str = "") -> str:
        parts = ["docker compose", "-f", str(self.compose_file), "-p", self.project, "logs"]
        return " ".join([*parts, service]).rstrip()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _tail(text: str, lines: int = 20) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return ("\n" + "\n".join(kept)) if kept else ""
