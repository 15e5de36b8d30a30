"""What the console's workers talk to: Redis, the gateway and the pipeline, behind one small
interface so unit tests and snapshots can give the app fixed data instead."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Protocol

import redis

from foundation.alert_stream import AlertStreamReader, StreamEntry
from foundation.redis_client import sync_client
from foundation.settings import Settings, gateway_auth_headers
from fraudctl.alerts.health import HealthProber, PipelineHealth
from fraudctl.alerts.labels import LabelStore, Verdict
from fraudctl.labels_client import LabelClient
from models.contracts.alert import Alert
from models.contracts.label import Label

log = logging.getLogger(__name__)

# Errors that mean "Redis is away for now": the console shows it and retries.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class AlertReader(Protocol):
    last_id: str | None

    def backfill(self, count: int) -> list[StreamEntry]: ...

    def read(self, block_ms: int | None = 1000, count: int = 500) -> list[StreamEntry]: ...


class ConsoleBackend(Protocol):
    def reader(self) -> AlertReader: ...

    def probe_health(self) -> PipelineHealth: ...

    def labels_for(self, transaction_ids: Iterable[str]) -> dict[str, str]: ...

    def save_label(self, alert: Alert, verdict: Verdict) -> Label: ...

    def close(self) -> None: ...


class RedisBackend:
    """The real thing: the alert stream, POST /labels, the label mirror and health probes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # XREAD blocks up to a second, so the socket timeout must be longer than that.
        self.client = sync_client(
            settings.redis,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=5.0,
        )
        self.labels = LabelStore(self.client, settings.redis.labels_key)
        self.poster = LabelClient(
            settings.gateway.url,
            timeout_s=settings.gateway.produce_timeout_s + 5,
            auth_headers=gateway_auth_headers(settings),
        )
        self.prober = HealthProber(settings)

    def reader(self) -> AlertStreamReader:
        return AlertStreamReader(self.client, self.settings.redis.alerts_stream)

    def probe_health(self) -> PipelineHealth:
        return self.prober.probe()

    def labels_for(self, transaction_ids: Iterable[str]) -> dict[str, str]:
        return self.labels.get_many(transaction_ids)

    def save_label(self, alert: Alert, verdict: Verdict) -> Label:
        """Post the analyst's label (the alert names user and merchant), then mirror it."""
        label = analyst_label(alert, verdict, time.time_ns() // 1_000_000)
        self.poster.post([label])
        try:
            self.labels.record([label])
        except CONNECTION_ERRORS as exc:  # stored in Kafka already: only the display lags
            log.warning("label of %s stored but not mirrored: %s", alert.transaction_id, exc)
        return label

    def close(self) -> None:
        self.prober.close()
        self.poster.close()
        self.client.close()


def analyst_label(alert: Alert, verdict: Verdict, at_ms: int) -> Label:
    """The label an analyst's key press makes of the alert in view."""
    fingerprint = getattr(alert, "card_fingerprint", None)
    return Label(
        transaction_id=alert.transaction_id,
        label=verdict.label,
        source="analyst",
        labelled_at=at_ms,
        user_id=alert.user_id or None,
        merchant_id=alert.merchant_id or None,
        card_fingerprint=fingerprint if isinstance(fingerprint, str) and fingerprint else None,
    )
