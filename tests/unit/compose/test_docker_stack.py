"""DockerStack: clear errors without Docker, and the compose calls and waiting with a fake."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer

from foundation.settings import Settings, settings_with
from fraudctl.commands.common import friendly_errors
from fraudctl.stack.docker import (
    COMPOSE_SERVICES,
    ONE_SHOT_SERVICES,
    CommandResult,
    DockerStack,
    DockerUnavailable,
    judge_service,
    parse_ps,
)
from fraudctl.stack.errors import HealthCheckFailed, StackError
from fraudctl.stack.manager import StackEvent

DOCKER = "/usr/bin/docker"
Row = dict[str, str | int]


def row(service: str, state: str = "running", health: str = "healthy", code: int = 0) -> Row:
    return {
        "Service": service,
        "Name": f"fraudctl-{service}-1",
        "State": state,
        "Health": health,
        "ExitCode": code,
    }


def all_ready() -> list[Row]:
    rows = [row(s) for s in COMPOSE_SERVICES.values()]
    return rows + [row(s, "exited", "", 0) for s in ONE_SHOT_SERVICES]


@dataclass
class FakeDocker:
    """Answers docker CLI calls like a host with an engine and the compose plugin."""

    engine: bool = True
    compose_plugin: bool = True
    ps_answers: list[list[Row]] = field(default_factory=lambda: [all_ready()])
    up_exit: int = 0
    calls: list[list[str]] = field(default_factory=list)
    envs: list[Mapping[str, str] | None] = field(default_factory=list)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        capture: bool = True,
    ) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        self.envs.append(env)
        if argv[1:] == ["version", "--format", "{{.Server.Version}}"]:
            if self.engine:
                return CommandResult(0, "28.2.2\n", "")
            return CommandResult(1, "", "Cannot connect to the Docker daemon at unix:///x.sock.\n")
        if argv[1:] == ["compose", "version", "--short"]:
            return (
                CommandResult(0, "2.36.2\n", "")
                if self.compose_plugin
                else CommandResult(1, "", "")
            )
        if argv[0].endswith("docker-compose") and argv[1:] == ["version", "--short"]:
            return CommandResult(0, "v2.20.0\n", "")
        verb = argv[argv.index("-p") + 2]
        if verb == "up":
            return CommandResult(self.up_exit, "", "build failed: no space left\n")
        if verb == "ps":
            answer = self.ps_answers.pop(0) if len(self.ps_answers) > 1 else self.ps_answers[0]
            return CommandResult(0, "\n".join(json.dumps(r) for r in answer), "")
        if verb == "logs":
            return CommandResult(0, f"log of {argv[-1]}: Traceback ... boom\n", "")
        if verb == "down":
            return CommandResult(0, "", "")
        raise AssertionError(f"unexpected call {argv}")

    def verbs(self) -> list[str]:
        return [c[c.index("-p") + 2] for c in self.calls if "-p" in c]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def stack(
    fake: FakeDocker,
    settings: Settings | None = None,
    clock: Clock | None = None,
    which: dict[str, str] | None = None,
) -> DockerStack:
    clock = clock or Clock()
    found = which if which is not None else {"docker": DOCKER}
    return DockerStack(
        settings or Settings(),
        runner=fake,
        which=found.get,
        sleep=clock.sleep,
        clock=clock,
    )


# -- the real docker client of this machine (no engine) ---------------------------------


def test_up_without_an_engine_says_so_and_points_to_the_local_default() -> None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip():
            pytest.skip("a Docker engine is reachable here: nothing to refuse")
    with pytest.raises(DockerUnavailable) as caught:
        DockerStack(Settings()).up()
    message = str(caught.value)
    assert isinstance(caught.value, StackError)  # the CLI turns it into exit 1 + message
    assert message.startswith("Docker is not available")
    assert "`fraudctl up`" in message
    if docker is not None:
        assert "cannot reach a Docker engine" in message
        assert "daemon" in message.lower() or "engine" in message


def test_the_cli_error_path_exits_1_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as caught, friendly_errors():
        stack(FakeDocker(engine=False)).up()
    assert caught.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "Docker is not available" in err and "`fraudctl up`" in err


# -- prerequisites, with a fake docker ------------------------------------------------------


def test_no_docker_client_is_refused_without_running_anything() -> None:
    fake = FakeDocker()
    with pytest.raises(DockerUnavailable, match=r"not found on PATH.*`fraudctl up`"):
        stack(fake, which={}).up()
    assert fake.calls == []


def test_no_engine_quotes_the_client_and_names_the_fix() -> None:
    fake = FakeDocker(engine=False)
    with pytest.raises(DockerUnavailable) as caught:
        stack(fake).status()
    message = str(caught.value)
    assert "Cannot connect to the Docker daemon" in message
    assert "systemctl start docker" in message and "`fraudctl up`" in message
    assert fake.verbs() == []


def test_an_engine_that_hangs_is_refused_after_the_timeout() -> None:
    seen: list[float | None] = []

    def hanging(argv: Sequence[str], **kwargs: object) -> CommandResult:
        seen.append(kwargs.get("timeout"))  # type: ignore[arg-type]
        raise subprocess.TimeoutExpired(list(argv), 5.0)

    settings = settings_with({"compose.engine_timeout_s": 2.5})
    docker = DockerStack(settings, runner=hanging, which={"docker": DOCKER}.get)
    with pytest.raises(DockerUnavailable, match=r"did not answer within 2.5 s"):
        docker.down()
    assert seen == [2.5]


def test_missing_compose_plugin_names_the_package() -> None:
    with pytest.raises(DockerUnavailable, match="docker-compose-plugin"):
        stack(FakeDocker(compose_plugin=False)).up()


def test_standalone_docker_compose_v2_is_used_when_the_plugin_is_missing() -> None:
    fake = FakeDocker(compose_plugin=False)
    which = {"docker": DOCKER, "docker-compose": "/usr/local/bin/docker-compose"}
    stack(fake, which=which).up()
    assert fake.calls[-1][0] == "/usr/local/bin/docker-compose"


def test_a_missing_compose_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = settings_with({"compose.file": tmp_path / "nope.yml"})
    with pytest.raises(StackError, match=r"nope\.yml does not exist.*FRAUDCTL_COMPOSE__FILE"):
        stack(FakeDocker(), settings).up()


# -- up / down / status ---------------------------------------------------------------------


def test_up_builds_starts_and_waits_until_services_are_healthy_and_one_shots_done() -> None:
    starting = [*all_ready()]
    starting[3] = row("taskmanager", health="starting")  # still registering
    starting[-1] = row("submit-job", health="")  # still submitting
    fake = FakeDocker(ps_answers=[starting, all_ready()])
    events: list[StackEvent] = []
    settings = settings_with({"gateway.port": 18000, "compose.project": "fraud-test"})
    stack(fake, settings).up(events.append)

    up_call = next(c for c in fake.calls if "up" in c)
    assert up_call[:6] == [DOCKER, "compose", "-f", str(settings.compose.file), "-p", "fraud-test"]
    assert up_call[6:] == ["up", "--detach", "--remove-orphans", "--build"]
    env = fake.envs[fake.calls.index(up_call)]
    assert env is not None and env["FRAUDCTL_GATEWAY__PORT"] == "18000"
    assert fake.verbs() == ["up", "ps", "ps"]
    waiting = {e.component for e in events if e.phase == "waiting"}
    assert waiting == {"flink-taskmanager", "submit-job"}
    healthy = {e.component for e in events if e.phase == "healthy"}
    assert healthy == set(COMPOSE_SERVICES) | set(ONE_SHOT_SERVICES)


def test_up_scales_taskmanagers_and_waits_for_every_one_of_them() -> None:
    three = [*all_ready(), row("taskmanager") | {"Name": "fraudctl-taskmanager-2"}]
    three.append(row("taskmanager", health="starting") | {"Name": "fraudctl-taskmanager-3"})
    fake = FakeDocker(ps_answers=[three, [*three[:-1], row("taskmanager")]])
    events: list[StackEvent] = []
    stack(fake).up(events.append, build=False, taskmanagers=3)
    up_call = next(c for c in fake.calls if "up" in c)
    assert up_call[up_call.index("up") :] == [
        "up",
        "--detach",
        "--remove-orphans",
        "--scale",
        "taskmanager=3",
    ]
    details = [e.detail for e in events if e.component == "flink-taskmanager"]
    assert details == ["2/3 healthy (healthy, starting)", "3/3 healthy"]
    with pytest.raises(StackError, match="at least 1"):
        stack(fake).up(taskmanagers=0)


def test_up_fails_fast_with_the_log_of_a_one_shot_that_failed() -> None:
    failed = [*all_ready()]
    failed[-1] = row("submit-job", "exited", "", 1)
    fake = FakeDocker(ps_answers=[failed])
    with pytest.raises(HealthCheckFailed) as caught:
        stack(fake).up()
    message = str(caught.value)
    assert "submit-job failed: exited with code 1" in message
    assert "log of submit-job: Traceback" in message
    assert "fraudctl down --docker" in message


def test_up_gives_up_after_the_ready_timeout_naming_what_is_pending() -> None:
    pending = [*all_ready()]
    pending[2] = row("jobmanager", health="starting")
    clock = Clock()
    settings = settings_with({"compose.ready_timeout_s": 10})
    with pytest.raises(HealthCheckFailed, match=r"within 10 s: jobmanager \(0/1 healthy"):
        stack(FakeDocker(ps_answers=[pending]), settings, clock).up()
    assert 10 <= clock.now <= 14


def test_a_failed_compose_up_shows_its_output() -> None:
    with pytest.raises(StackError, match=r"exit 1\)\.\nbuild failed: no space left"):
        stack(FakeDocker(up_exit=1)).up(stream_output=False)


def test_down_keeps_data_unless_purged() -> None:
    fake = FakeDocker()
    docker = stack(fake)
    docker.down()
    docker.down(purge=True)
    downs = [c[c.index("down") :] for c in fake.calls if "down" in c]
    assert downs == [["down", "--remove-orphans"], ["down", "--remove-orphans", "--volumes"]]


def test_status_reports_each_component_like_the_local_stack() -> None:
    rows = [r for r in all_ready() if r["Service"] != "dashboard"]
    rows[3] = row("taskmanager")
    rows.insert(4, row("taskmanager", health="starting") | {"Name": "fraudctl-taskmanager-2"})
    by_name = {s.name: s for s in stack(FakeDocker(ps_answers=[rows])).status()}
    assert list(by_name) == [*COMPOSE_SERVICES, *ONE_SHOT_SERVICES]
    assert by_name["kafka"].state == "healthy"
    assert by_name["kafka"].url == "127.0.0.1:9092"
    assert by_name["gateway"].url == "http://127.0.0.1:8000"
    assert by_name["dashboard"].state == "stopped"
    assert by_name["flink-taskmanager"].state == "unhealthy"
    assert by_name["flink-taskmanager"].detail == "taskmanager: 1/2 healthy (healthy, starting)"
    assert by_name["submit-job"].state == "healthy"
    assert by_name["submit-job"].detail == "submit-job: completed"


# -- pieces ---------------------------------------------------------------------------------


def test_parse_ps_reads_both_json_array_and_one_object_per_line() -> None:
    rows = [row("redis"), row("submit-job", "exited", "", 3)]
    as_array = parse_ps(json.dumps(rows))
    as_lines = parse_ps("\n".join(json.dumps(r) for r in rows) + "\n")
    assert as_array == as_lines
    assert as_array[1].exit_code == 3 and as_array[1].state == "exited"
    assert parse_ps("") == [] and parse_ps("[]") == []


def test_a_crashed_or_unhealthy_service_is_a_failure_not_a_wait() -> None:
    crashed = parse_ps(json.dumps([row("redis", "exited", "", 137)]))
    assert judge_service("redis", crashed)[0] == "failed"
    sick = parse_ps(json.dumps([row("gateway", health="unhealthy")]))
    assert judge_service("gateway", sick) == ("failed", "fraudctl-gateway-1 is unhealthy")
    assert judge_service("gateway", [])[0] == "absent"


def test_localhost_hosts_are_published_on_the_loopback_ip() -> None:
    settings = settings_with({"gateway.host": "localhost"})
    env = DockerStack(settings).compose_env()
    assert env["FRAUDCTL_GATEWAY__HOST"] == "127.0.0.1"
    assert env["FRAUDCTL_GATEWAY__PORT"] == "8000"
