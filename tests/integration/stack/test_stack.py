"""The local stack against real Kafka, Redis and Flink, started by the session fixture."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from foundation.flink_rest import FlinkRest
from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.stack import COMPONENT_NAMES, PortInUse, StackEvent, StackManager
from fraudctl.stack.flink_submit import submit_python_job
from fraudctl.stack.job_code import StaleJobCode, check_job_code, record_file, recorded_starts
from tests.fixtures.stack import crash, make_stack_settings

pytestmark = pytest.mark.integration


def test_every_component_is_healthy(stack: StackManager) -> None:
    rows = {row.name: row for row in stack.status()}
    assert set(rows) == set(COMPONENT_NAMES)
    for row in rows.values():
        assert row.state == "healthy", row
        assert row.pid is not None and row.rss_bytes > 0


def test_kafka_keyed_record_round_trip(stack: StackManager) -> None:
    cfg = stack.settings.kafka
    marker = uuid.uuid4().hex
    producer = Producer({"bootstrap.servers": cfg.bootstrap, "acks": "all"})
    producer.produce(cfg.transactions_topic, key=b"user-42", value=marker.encode())
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.bootstrap,
            "group.id": f"stack-test-{marker}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([cfg.transactions_topic])
    deadline = time.monotonic() + 30
    found = None
    try:
        while time.monotonic() < deadline and found is None:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None and msg.value() == marker.encode():
                found = msg
    finally:
        consumer.close()
    assert found is not None
    assert found.key() == b"user-42"


def test_topics_have_the_configured_partitions(stack: StackManager) -> None:
    from confluent_kafka.admin import AdminClient

    cfg = stack.settings.kafka
    topics = AdminClient({"bootstrap.servers": cfg.bootstrap}).list_topics(timeout=10).topics
    for name in (cfg.transactions_topic, cfg.dlq_topic, cfg.scores_topic):
        assert len(topics[name].partitions) == cfg.partitions


def test_redis_stream_xadd_xread(stack: StackManager) -> None:
    cfg = stack.settings.redis
    client = sync_client(cfg)
    stream = f"test:{uuid.uuid4().hex}"
    entry_id = client.xadd(stream, {"alert": "{}"})
    entries = client.xread({stream: "0-0"}, count=10, block=1000)
    assert entries[0][1][0][0] == entry_id
    client.delete(stream)


def test_flink_has_a_taskmanager_with_free_slots(stack: StackManager) -> None:
    overview = httpx.get(f"{stack.settings.flink.rest_url}/overview", timeout=5).json()
    assert overview["taskmanagers"] >= 1
    assert overview["slots-available"] >= 1


def test_pyflink_job_reads_kafka_through_the_connector(stack: StackManager) -> None:
    settings = stack.settings
    key = f"probe:{uuid.uuid4().hex}"
    name = f"fraudctl stack probe {uuid.uuid4().hex[:8]}"
    topic = f"stack-probe-{uuid.uuid4().hex[:8]}"
    markers = [f"probe-{i}-{uuid.uuid4().hex}".encode() for i in range(3)]
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    try:
        producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
        for marker in markers:
            producer.produce(topic, value=marker)
        assert producer.flush(10) == 0
        script = Path(__file__).with_name("probe_job.py")
        job_id = submit_python_job(
            settings,
            script,
            args=[settings.kafka.bootstrap, topic, str(settings.redis.port), key, name],
        )
        # Bounded by the end offsets at start: it reads the markers and finishes by itself.
        FlinkRest.of(settings).wait_for_state(job_id, "FINISHED", timeout_s=180)
        client = sync_client(settings.redis)
        assert sorted(client.lrange(key, 0, -1)) == sorted(markers)
        client.delete(key)
    finally:
        admin.delete_topics([topic])


def test_up_twice_is_a_no_op(stack: StackManager) -> None:
    before = {row.name: row.pid for row in stack.status()}
    events: list[StackEvent] = []
    stack.up(events.append)
    phases = {e.component: e.phase for e in events if e.phase != "waiting"}
    assert phases == dict.fromkeys(COMPONENT_NAMES, "already-running")
    assert {row.name: row.pid for row in stack.status()} == before


def test_up_restarts_only_the_killed_component(stack: StackManager) -> None:
    before = {row.name: row.pid for row in stack.status()}
    crash(stack.process("dashboard"))
    assert {r.name: r.state for r in stack.status()}["dashboard"] == "stale"
    events: list[StackEvent] = []
    stack.up(events.append)
    started = {e.component for e in events if e.phase == "starting"}
    assert started == {"dashboard"}
    after = {row.name: row.pid for row in stack.status()}
    assert after["dashboard"] != before["dashboard"]
    assert {k: v for k, v in after.items() if k != "dashboard"} == {
        k: v for k, v in before.items() if k != "dashboard"
    }


def test_the_first_taskmanager_killed_again_and_again_registers_on_a_fresh_rpc_port(
    stack: StackManager,
) -> None:
    """Restarted on the dead one's RPC address, it sometimes never registered (the
    JobManager's stale connection to that address); now each restart binds a new port."""
    settings = stack.settings
    rest = FlinkRest.of(settings)
    ports = set()
    for _ in range(3):
        crash(stack.process("flink-taskmanager"))
        stack.up()  # healthy = registered with the JobManager (or it raises after 180 s)
        resource_id = record_file(settings, "flink-taskmanager").read_text().split()[0]
        registered = {tm["id"]: tm["path"] for tm in rest.get("/taskmanagers")["taskmanagers"]}
        assert resource_id in registered, f"{resource_id} not in {sorted(registered)}"
        port = int(registered[resource_id].split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        assert port != settings.flink.taskmanager_rpc_port
        ports.add(port)
    assert len(ports) == 3


def test_a_taken_port_gives_a_clear_error(tmp_path: Path, stack_settings: Settings) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    settings = make_stack_settings(tmp_path / "state")
    settings = settings.model_copy(
        update={"redis": settings.redis.model_copy(update={"port": port})}
    )
    manager = StackManager(settings)
    try:
        with pytest.raises(PortInUse) as excinfo:
            manager.up(only=["redis"])
        message = str(excinfo.value)
        assert f"127.0.0.1:{port}" in message
        assert "FRAUDCTL_REDIS__PORT" in message
        assert "pid" in message
    finally:
        squatter.close()
        manager.down(purge=True)


def test_a_taskmanager_with_older_job_code_is_refused_at_submission(stack: StackManager) -> None:
    """Each TaskManager records the job code it started with; a submission checks the
    registered ones (real REST, real resource ids). Changing the code under a running
    TaskManager is stood in for by changing its record."""
    settings = stack.settings
    check_job_code(settings)  # started with this very code
    registered = [tm["id"] for tm in FlinkRest.of(settings).get("/taskmanagers")["taskmanagers"]]
    record = record_file(settings, "flink-taskmanager")
    before = record.read_text()
    resource_id = before.split()[0]  # this start's own identity
    assert resource_id in registered, f"{resource_id} is not among {registered}"
    assert resource_id in recorded_starts(settings)
    record.write_text(f"{resource_id} 0000000000000000\n")
    try:
        with pytest.raises(StaleJobCode, match=resource_id):
            check_job_code(settings)
    finally:
        record.write_text(before)
    check_job_code(settings)
