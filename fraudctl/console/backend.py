"""What the console's workers talk to: Redis and the pipeline, behind one small interface
so unit tests and snapshots can give the app fixed data instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import redis

from fraudctl.alerts.health import HealthProber, PipelineHealth
from fraudctl.alerts.labels import LabelStore, Verdict
from fraudctl.alerts.quality import DetectionQuality, QualityTracker
from fraudctl.alerts.stream import AlertStreamReader, StreamEntry
from fraudctl.settings import Settings

# Errors that mean "Redis is away for now": the console shows it and retries.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class AlertReader(Protocol):
    last_id: str | None

    def backfill(self, count: int) -> list[StreamEntry]: ...

    def read(self, block_ms: int | None = 1000, count: int = 500) -> list[StreamEntry]: ...


class ConsoleBackend(Protocol):
    def reader(self) -> AlertReader: ...

    def probe_health(self) -> PipelineHealth: ...

    def quality(self) -> DetectionQuality | None: ...

    def labels_for(self, transaction_ids: Iterable[str]) -> dict[str, str]: ...

    def save_verdict(self, transaction_id: str, verdict: Verdict) -> None: ...

    def close(self) -> None: ...


class RedisBackend:
    """The real thing: the alert stream, labels and health probes from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # XREAD blocks up to a second, so the socket timeout must be longer than that.
        self.client = redis.Redis(
            host=settings.redis.host,
            port=settings.redis.port,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=5.0,
        )
        self.labels = LabelStore(self.client, settings.redis.labels_key)
        self.tracker = QualityTracker(
            self.client, settings.redis.alerts_stream, settings.redis.labels_key
        )
        self.prober = HealthProber(settings)

    def reader(self) -> AlertStreamReader:
        return AlertStreamReader(self.client, self.settings.redis.alerts_stream)

    def probe_health(self) -> PipelineHealth:
        return self.prober.probe()

    def quality(self) -> DetectionQuality | None:
        quality = self.tracker.refresh()
        known = quality.true_positives + quality.false_positives + quality.false_negatives
        return quality if known else None

    def labels_for(self, transaction_ids: Iterable[str]) -> dict[str, str]:
        return self.labels.get_many(transaction_ids)

    def save_verdict(self, transaction_id: str, verdict: Verdict) -> None:
        self.labels.set_verdict(transaction_id, verdict)

    def close(self) -> None:
        self.prober.close()
        self.client.close()
