"""Static checks of compose/docker-compose.yml against the settings (no Docker engine here)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from foundation.settings import LOOPBACK, Settings, settings_env, settings_with
from fraudctl.stack.docker import COMPOSE_SERVICES, ONE_SHOT_SERVICES, DockerStack
from tests.unit.compose.helpers import (
    COMPOSE_DIR,
    COMPOSE_FILE,
    load_compose,
    services,
    variables_in_compose,
)

DEFAULTS = Settings()
# Where each published service listens inside its container, and the setting it mirrors.
PUBLISHED = {
    "redpanda": ("kafka", 19092),  # the external listener; 9092 is the in-network one
    "redis": ("redis", 6379),
    "jobmanager": ("flink", 8081),
    "gateway": ("gateway", 8000),
    "dashboard": ("dashboard", 8080),
}
LONG_RUNNING = list(COMPOSE_SERVICES.values())


def published_port(settings: Settings, section: str) -> int:
    cfg = getattr(settings, section)
    return int(cfg.rest_port if section == "flink" else cfg.port)


def container_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping"
    return {key: str(value) for key, value in env.items()}


def test_compose_file_parses_with_a_project_name_equal_to_the_setting() -> None:
    data = load_compose()
    assert data["name"] == DEFAULTS.compose.project
    assert DockerStack(DEFAULTS).compose_file == COMPOSE_FILE


def test_every_service_the_stack_names_exists_and_no_other() -> None:
    declared = set(services())
    expected = set(COMPOSE_SERVICES.values()) | set(ONE_SHOT_SERVICES)
    assert declared == expected
    for section in ("kafka", "redis", "flink", "gateway", "dashboard"):
        assert any(component.startswith(section) for component in COMPOSE_SERVICES), section


@pytest.mark.parametrize("service", sorted(PUBLISHED))
def test_published_ports_match_settings_and_bind_loopback(service: str) -> None:
    section, inside = PUBLISHED[service]
    ports = services()[service]["ports"]
    expected = f"{LOOPBACK}:{published_port(DEFAULTS, section)}:{inside}"
    assert ports == [expected]


def test_no_service_publishes_a_port_beyond_loopback_by_default() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith(f"{LOOPBACK}:"), (name, port)


def test_published_ports_follow_the_settings_that_docker_stack_exports() -> None:
    custom = settings_with(
        {
            "kafka.port": 19092,
            "redis.port": 16379,
            "flink.rest_port": 18081,
            "gateway.port": 18000,
            "dashboard.port": 18080,
        }
    )
    resolved = services(DockerStack(custom).compose_env())
    for service, (section, inside) in PUBLISHED.items():
        port = published_port(custom, section)
        assert resolved[service]["ports"] == [f"{LOOPBACK}:{port}:{inside}"], service
    command = " ".join(resolved["redpanda"]["command"])
    assert f"external://{LOOPBACK}:19092" in command, "Kafka must advertise the published port"


def test_every_compose_variable_is_a_setting_with_the_settings_default() -> None:
    exported = settings_env(DEFAULTS)
    found = variables_in_compose()
    assert len(found) >= 15
    for name, default in found.items():
        assert name in exported, f"${{{name}}} is not a FRAUDCTL_* setting DockerStack exports"
        assert default == exported[name], (
            f"${{{name}:-{default}}}: the setting says {exported[name]}"
        )


def test_in_network_addresses_and_container_ports_match_the_settings_defaults() -> None:
    resolved = services()
    command = " ".join(resolved["redpanda"]["command"])
    assert f"internal://0.0.0.0:{DEFAULTS.kafka.port}" in command
    assert f"internal://redpanda:{DEFAULTS.kafka.port}" in command
    gateway = container_env(resolved["gateway"])
    assert gateway["FRAUDCTL_GATEWAY__PORT"] == str(DEFAULTS.gateway.port)
    assert f"--port={DEFAULTS.gateway.port}" in resolved["gateway"]["command"]
    dashboard = container_env(resolved["dashboard"])
    assert dashboard["FRAUDCTL_DASHBOARD__PORT"] == str(DEFAULTS.dashboard.port)
    assert f"--port={DEFAULTS.dashboard.port}" in resolved["dashboard"]["command"]


def test_apps_run_the_modules_the_settings_name() -> None:
    resolved = services()
    assert DEFAULTS.gateway.app in resolved["gateway"]["command"]
    dashboard_factory = DEFAULTS.dashboard.app.replace(":app", ":create_app")
    assert dashboard_factory in resolved["dashboard"]["command"]


@pytest.mark.parametrize(
    "service", ["create-topics", "jobmanager", "taskmanager", "submit-job", "gateway", "dashboard"]
)
def test_container_settings_are_valid_and_keep_names_of_the_contract(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = container_env(services()[service])
    fraudctl_env = {k: v for k, v in env.items() if k.startswith("FRAUDCTL_")}
    assert fraudctl_env, f"{service} gets no FRAUDCTL_* settings"
    for key, value in fraudctl_env.items():
        monkeypatch.setenv(key, value)
    inside = Settings()  # rejects unknown names and bad values, as fraudctl would
    assert inside.kafka.host == "redpanda"
    assert inside.kafka.port == DEFAULTS.kafka.port
    assert inside.kafka.transactions_topic == DEFAULTS.kafka.transactions_topic == "transactions"
    assert inside.kafka.dlq_topic == DEFAULTS.kafka.dlq_topic == "transactions-dlq"
    assert inside.kafka.scores_topic == DEFAULTS.kafka.scores_topic == "transaction-scores"
    assert inside.kafka.partitions == DEFAULTS.kafka.partitions
    assert inside.redis.host == "redis"
    assert inside.redis.port == DEFAULTS.redis.port
    assert inside.redis.alerts_stream == DEFAULTS.redis.alerts_stream == "fraud:alerts"
    assert inside.flink.host == "jobmanager"
    assert inside.flink.rest_port == DEFAULTS.flink.rest_port
    assert inside.flink.job_name == DEFAULTS.flink.job_name
    assert inside.flink.job_name == "Stateful Fraud Detection with Redis Alerts"
    assert inside.job.parallelism == DEFAULTS.job.parallelism


def test_flink_properties_follow_the_flink_settings() -> None:
    for name in ("jobmanager", "taskmanager", "submit-job"):
        text = container_env(services()[name])["FLINK_PROPERTIES"]
        props = dict(
            (key.strip(), value.strip())
            for key, value in (line.split(":", 1) for line in text.splitlines() if line.strip())
        )
        assert props["jobmanager.rpc.address"] == "jobmanager"
        assert props["rest.address"] == "jobmanager"
        assert props["rest.port"] == str(DEFAULTS.flink.rest_port)
        assert props["taskmanager.numberOfTaskSlots"] == str(DEFAULTS.flink.slots)
        assert props["jobmanager.memory.process.size"] == DEFAULTS.flink.jobmanager_memory
        assert props["taskmanager.memory.process.size"] == DEFAULTS.flink.taskmanager_memory
        assert props["python.executable"] == props["python.client.executable"]


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart() -> None:
    resolved = services()
    for name in LONG_RUNNING:
        check = resolved[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check.get("disable") is not True
        assert resolved[name].get("restart") == "unless-stopped", name
    for name in ONE_SHOT_SERVICES:
        assert "healthcheck" not in resolved[name], name
        assert resolved[name].get("restart") == "no", name


def test_depends_on_waits_on_health_or_completion_never_on_start_order() -> None:
    resolved = services()
    checked = 0
    for name, service in resolved.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition"
        for dependency, spec in depends.items():
            assert dependency in resolved, (name, dependency)
            wanted = (
                "service_completed_successfully"
                if dependency in ONE_SHOT_SERVICES
                else "service_healthy"
            )
            assert spec == {"condition": wanted}, (name, dependency, spec)
            checked += 1
    assert checked >= 8
    # the job is submitted only when Flink, Redis and the topics are ready
    assert set(resolved["submit-job"]["depends_on"]) == {
        "jobmanager",
        "taskmanager",
        "redis",
        "create-topics",
    }


def test_nothing_waits_by_sleeping() -> None:
    texts = [COMPOSE_FILE.read_text()]
    texts += [p.read_text() for p in COMPOSE_DIR.rglob("*") if p.suffix in (".sh", ".py")]
    for text in texts:
        assert not re.search(r"\bsleep\b", text)


def test_taskmanager_scales_without_fixed_names_or_host_ports() -> None:
    taskmanager = services()["taskmanager"]
    assert "container_name" not in taskmanager
    assert "ports" not in taskmanager
    assert "hostname" not in taskmanager


def test_mounted_files_exist_in_the_repo() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).is_file(), (name, source)
