"""The small programs the compose services run: topic creation, healthcheck, job submitter."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from foundation.flink_rest import FlinkJob, FlinkUnreachable
from foundation.settings import Settings
from fraudctl.stack.jars import cached_jars
from tests.unit.compose.helpers import COMPOSE_DIR, load_script, services

CREATE_TOPICS = COMPOSE_DIR / "redpanda" / "create-topics.sh"

# A stand-in for rpk: logs its arguments; `topic create` of a name listed in $EXISTING
# answers like Redpanda does for an existing topic, of one in $BROKEN fails otherwise.
FAKE_RPK = """#!/usr/bin/env bash
echo "$*" >> "$RPK_LOG"
if [ "$1 $2" = "topic create" ]; then
  for t in $EXISTING; do
    if [ "$3" = "$t" ]; then echo "$t  TOPIC_ALREADY_EXISTS: exists"; exit 1; fi
  done
  for t in $BROKEN; do
    if [ "$3" = "$t" ]; then echo "$t  NOT_CONTROLLER: try again" >&2; exit 1; fi
  done
  echo "TOPIC  STATUS"; echo "$3  OK"
fi
exit 0
"""


def run_create_topics(
    tmp_path: Path, existing: str = "", broken: str = ""
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    rpk = bin_dir / "rpk"
    rpk.write_text(FAKE_RPK)
    rpk.chmod(0o755)
    log = tmp_path / "rpk.log"
    log.touch()
    env = {
        k: str(v)
        for k, v in services()["create-topics"]["environment"].items()
        if k.startswith("FRAUDCTL_")
    }
    env.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        RPK_LOG=str(log),
        EXISTING=existing,
        BROKEN=broken,
    )
    done = subprocess.run(
        ["bash", str(CREATE_TOPICS)], env=env, capture_output=True, text=True, timeout=30
    )
    return done, log.read_text().splitlines()


def test_create_topics_creates_every_topic_with_the_configured_partitions(
    tmp_path: Path,
) -> None:
    done, calls = run_create_topics(tmp_path)
    assert done.returncode == 0, done.stderr
    defaults = Settings().kafka
    creates = [c for c in calls if c.startswith("topic create")]
    expected = [
        f"topic create {topic} --partitions {defaults.partitions} --replicas 1 "
        f"-X brokers=redpanda:{defaults.port}"
        for topic in (defaults.transactions_topic, defaults.dlq_topic, defaults.scores_topic)
    ]
    expected.append(
        f"topic create {defaults.labels_topic} --partitions {defaults.partitions} --replicas 1 "
        f"-c retention.ms={defaults.labels_retention_ms} -X brokers=redpanda:{defaults.port}"
    )
    expected.append(
        f"topic create {defaults.rules_topic} --partitions 1 --replicas 1 "
        f"-c cleanup.policy=compact -X brokers=redpanda:{defaults.port}"
    )
    assert creates == expected
    assert (
        calls[0]
        == "cluster config set auto_create_topics_enabled false -X admin.hosts=redpanda:9644"
    )


def test_create_topics_is_idempotent(tmp_path: Path) -> None:
    done, calls = run_create_topics(tmp_path, existing="transactions transaction-scores")
    assert done.returncode == 0, done.stderr
    assert "topic transactions already exists" in done.stdout
    assert sum(c.startswith("topic create") for c in calls) == 5


def test_create_topics_fails_loudly_when_the_broker_refuses(tmp_path: Path) -> None:
    done, calls = run_create_topics(tmp_path, broken="transactions-dlq")
    assert done.returncode == 1
    assert "could not create topic transactions-dlq on redpanda:9092" in done.stderr
    assert "NOT_CONTROLLER" in done.stderr
    assert not any("transaction-scores" in c for c in calls), "must stop at the first failure"


flink_health = load_script(COMPOSE_DIR / "flink" / "flink_health.py")
submit_job = load_script(COMPOSE_DIR / "flink" / "submit_job.py")
seed_jar_cache = load_script(COMPOSE_DIR / "flink" / "seed_jar_cache.py")


def test_seeded_jar_cache_is_found_by_fraudctl_without_maven(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "flink-sql-connector-kafka-5.0.0-2.2.jar").write_bytes(b"PK fake jar")
    (lib / "flink-dist-2.2.1.jar").write_bytes(b"PK other")
    cache = tmp_path / "cache"
    assert cached_jars(cache) is None
    seed_jar_cache.seed(lib, cache)
    found = cached_jars(cache)
    assert found is not None
    assert found.kafka_connector.read_bytes() == b"PK fake jar"
    assert [p.name for p in found.flink_lib.iterdir()] == [
        "flink-sql-connector-kafka-5.0.0-2.2.jar"
    ]


def test_seeding_without_a_connector_fails_the_build(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no flink-sql-connector-kafka"):
        seed_jar_cache.seed(tmp_path, tmp_path / "cache")


TASKMANAGERS = {
    "taskmanagers": [
        {"id": "172.18.0.6:6122-1a2b3c", "path": "pekko.tcp://flink@172.18.0.6:6122/user/rpc/tm"},
        {"id": "tm-b", "path": "pekko.tcp://flink@172.18.0.9:6122/user/rpc/taskmanager_0"},
    ]
}


@pytest.mark.parametrize(
    ("addresses", "registered"),
    [
        ({"3f2a9c1b7d10", "172.18.0.6"}, True),  # found by its resource id and path
        ({"172.18.0.9"}, True),  # found by its RPC path alone
        ({"3f2a9c1b7d10", "172.18.0.7"}, False),  # another TaskManager's container
        ({"172.18.0.60"}, False),  # a prefix of an address is not the address
    ],
)
def test_taskmanager_health_means_registered_at_the_jobmanager(
    addresses: set[str], registered: bool
) -> None:
    assert flink_health.taskmanager_registered(TASKMANAGERS, addresses) is registered
    assert flink_health.taskmanager_registered({"taskmanagers": []}, addresses) is False


def test_healthcheck_rejects_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert flink_health.main(["historyserver"]) == 2
    assert "usage" in capsys.readouterr().err


def test_submitter_submits_when_the_job_is_not_running() -> None:
    ran: list[Sequence[str]] = []
    asked: list[str] = []

    def none_active(settings: Settings, name: str) -> list[FlinkJob]:
        asked.append(name)
        return []

    assert submit_job.main(Settings(), none_active, ran.append) == 0
    assert ran == [("fraudctl", "submit")]
    assert asked == ["Stateful Fraud Detection with Redis Alerts"]


def test_submitter_leaves_a_running_job_alone(capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[Sequence[str]] = []
    job = FlinkJob("a" * 32, "Stateful Fraud Detection with Redis Alerts", "RUNNING")
    assert submit_job.main(Settings(), lambda s, n: [job], ran.append) == 0
    assert ran == []
    assert "already RUNNING" in capsys.readouterr().out


def test_submitter_fails_when_the_jobmanager_does_not_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def unreachable(settings: Settings, name: str) -> list[FlinkJob]:
        raise FlinkUnreachable("connection refused")

    assert submit_job.main(Settings(), unreachable, lambda argv: None) == 1
    assert "cannot list the jobs at http://127.0.0.1:8081" in capsys.readouterr().err
