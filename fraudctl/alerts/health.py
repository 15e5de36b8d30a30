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

from fraudctl.settings import Settings

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
        self.redis = redis.Redis(
            host=settings.redis.host,
            port=settings.redis.port,
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
        name = self.settings.flink.job_name
        try:
            response = self.http.get(f"{self.settings.flink.rest_url}/jobs/overview")
            response.raise_for_status()
            jobs = response.json().get("jobs", [])
        except (httpx.HTTPError, ValueError) as exc:
            return ComponentHealth("flink", False, "down", _short(exc))
        ours = [job for job in jobs if job.get("name") == name]
        if not ours:
            return ComponentHealth("flink", False, "no job")
        # The newest run of the job tells its current state.
        newest = max(ours, key=lambda job: job.get("start-time", 0))
        state = str(newest.get("state", "UNKNOWN"))
        return ComponentHealth("flink", state == "RUNNING", state)

    def _admin_client(self) -> Any:
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            config: dict[str, Any] = {
                "bootstrap.servers": self.settings.kafka.bootstrap,
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
        return PipelineHealth(
            components=(self.probe_gateway(), kafka, self.probe_flink(), self.probe_redis()),
            ingest_rate=self._ingest.sample(now, end_offsets),
            checked_at=now,
        )
