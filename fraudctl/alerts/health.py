"""Pipeline health as an operator sees it: gateway, Kafka, the Flink job, Redis.

Every probe has a short timeout and turns failures into a one-line detail, so a UI can
call `HealthProber.probe()` from a worker every few seconds and never hang or crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from foundation.flink_rest import FlinkRest, FlinkUnreachable
from foundation.kafka_security import librdkafka_security
from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.supervision import JOB, SupervisionState, read_state

_QUIET = logging.getLogger("fraudctl.alerts.health.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component: up or not, a short word for a status line (`up`, `down`, `RUNNING`,
    `no job`, `HTTP 503`) and, when it failed, the error for whoever wants the whole story."""

    name: str
    ok: bool
    detail: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    components: tuple[ComponentHealth, ...]
    ingest_rate: float | None
    checked_at: float

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.name == name), None)


class RateMeter:
    """Rate of a growing counter (e.g. the sum of a topic's end offsets) between samples."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None

    def sample(self, at: float, total: int | None) -> float | None:
        if total is None:
            self._last = None
            return None
        previous, self._last = self._last, (at, total)
        if previous is None or at <= previous[0] or total < previous[1]:
            return None
        return (total - previous[1]) / (at - previous[0])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# Which supervised processes (fraudctl/stack/supervisor.py) make up each part of the bar.
SUPERVISED_PARTS = {
    "gateway": ("gateway",),
    "kafka": ("kafka",),
    "redis": ("redis",),
    "flink": ("flink-jobmanager", "flink-taskmanager", JOB),
}


def supervised(part: ComponentHealth, supervision: SupervisionState) -> ComponentHealth:
    """A part the supervisor gave up on reads `failed`; one that is down while the supervisor
    restarts it reads `restarting` (with what it is doing), so nobody restarts it by hand."""
    names = SUPERVISED_PARTS.get(part.name, ())
    items = [
        (name, item)
        for name, item in supervision.items.items()
        if any(name == n or name.startswith(f"{n}-") for n in names)
    ]
    for name, item in items:
        if item.state == "failed":
            return ComponentHealth(part.name, False, "failed", f"{name}: {item.detail}")
    if part.ok or not supervision.alive():
        return part
    for name, item in items:
        if item.state in ("restarting", "down"):
            why = f"{name}: {item.detail}" if item.detail else name
            return ComponentHealth(part.name, False, "restarting", why)
    return part


class HealthProber:
    """Probes each component with a short timeout; create one, call `probe()` repeatedly."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.clock = clock
        self.http = httpx.Client(timeout=timeout_s)
        self.flink = FlinkRest(settings.flink.rest_url, timeout_s=timeout_s, client=self.http)
        self.redis = sync_client(
            settings.redis,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        self._admin: Any = None
        self._ingest = RateMeter()

    def close(self) -> None:
        self.http.close()
        self.redis.close()

    def probe_gateway(self) -> ComponentHealth:
        try:
            response = self.http.get(f"{self.settings.gateway.url}/healthz")
        except httpx.HTTPError as exc:
            return ComponentHealth("gateway", False, "down", _short(exc))
        ok = response.status_code == 200
        return ComponentHealth("gateway", ok, "up" if ok else f"HTTP {response.status_code}")

    def probe_flink(self) -> ComponentHealth:
        try:
            # The newest run of the job tells its current state.
            newest = self.flink.newest_job(self.settings.flink.job_name)
        except FlinkUnreachable as exc:
            return ComponentHealth("flink", False, "down", _short(exc))
        if newest is None:
            return ComponentHealth("flink", False, "no job")
        return ComponentHealth("flink", newest.state == "RUNNING", newest.state)

    def _admin_client(self) -> Any:
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            config: dict[str, Any] = {
                "bootstrap.servers": self.settings.kafka.bootstrap,
                **librdkafka_security(self.settings.kafka),
                "socket.timeout.ms": int(self.timeout_s * 1000),
                "logger": _QUIET,
                "error_cb": lambda _err: None,
            }
            self._admin = AdminClient(config)
        return self._admin

    def probe_kafka(self) -> tuple[ComponentHealth, int | None]:
        """Broker reachability and the sum of the transactions topic's end offsets."""
        from confluent_kafka import KafkaException, TopicPartition
        from confluent_kafka import admin as kafka_admin

        latest: Any = kafka_admin.OffsetSpec.latest  # type: ignore[attr-defined]

        topic = self.settings.kafka.transactions_topic
        try:
            metadata = self._admin_client().list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            return ComponentHealth("kafka", False, "down", _short(exc)), None
        if topic not in metadata.topics:
            return ComponentHealth("kafka", True, "up"), None
        partitions = metadata.topics[topic].partitions
        request = {TopicPartition(topic, p): latest() for p in partitions}
        try:
            futures = self._admin_client().list_offsets(request, request_timeout=self.timeout_s)
            total = sum(int(f.result(timeout=self.timeout_s).offset) for f in futures.values())
        except Exception:  # offsets are a nicety: the broker answered, so it is up
            return ComponentHealth("kafka", True, "up"), None
        return ComponentHealth("kafka", True, "up"), total

    def probe_redis(self) -> ComponentHealth:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            return ComponentHealth("redis", False, "down", _short(exc))
        return ComponentHealth("redis", True, "up")

    def probe(self) -> PipelineHealth:
        kafka, end_offsets = self.probe_kafka()
        now = self.clock()
        probed = (self.probe_gateway(), kafka, self.probe_flink(), self.probe_redis())
        supervision = read_state(StackPaths(self.settings.state_dir.expanduser()))
        return PipelineHealth(
            components=tuple(supervised(part, supervision) for part in probed),
            ingest_rate=self._ingest.sample(now, end_offsets),
            checked_at=now,
        )
