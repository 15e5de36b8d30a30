"""The payment gateway's FastAPI application.

Run it with `uvicorn gateway.api.app:create_app --factory` (or `python -m gateway.api`,
which reads host, port and workers from the settings). Everything is built once per
process here, from one `Settings` object; routes get it through dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from foundation.exposure import check_exposure
from foundation.kafka_security import librdkafka_security
from foundation.secrets import require_secret
from foundation.settings import Settings, get_settings
from gateway.api.auth import GatewayAuth
from gateway.api.deps import GatewayState
from gateway.api.errors import install_error_handlers
from gateway.api.ingest import TransactionIngest
from gateway.api.metrics import GatewayMetrics
from gateway.api.middleware import BodySizeLimit, RequestMetrics
from gateway.api.producer import KafkaTransactionProducer, TransactionProducer
from gateway.api.routers import health, labels, metrics, transactions
from gateway.api.schemas import ValidationLimits
from models.contracts.card import CardMasker

log = logging.getLogger("gateway")

DESCRIPTION = """
Card transactions in, Kafka records out. A **202** means the broker confirmed the write
(idempotent producer, acks=all); a **422** names every invalid field and how to fix it; a
**503** says why the broker could not take it (retry later). The full card number never
leaves the gateway: Kafka gets `card_last4` and an HMAC `card_fingerprint`.
"""


GAUGE_REFRESH_S = 1.0

_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


async def _refresh_gauges(registry: GatewayMetrics) -> None:
    """With several workers a scrape reads every worker's files: keep this one's current."""
    while True:
        registry.refresh_gauges()
        await asyncio.sleep(GAUGE_REFRESH_S)


def kafka_producer(settings: Settings) -> KafkaTransactionProducer:
    return KafkaTransactionProducer(
        bootstrap=settings.kafka.bootstrap,
        topic=settings.kafka.transactions_topic,
        timeout_s=settings.gateway.produce_timeout_s,
        linger_ms=settings.gateway.linger_ms,
        extra_config=librdkafka_security(settings.kafka),
    )


def create_app(
    settings: Settings | None = None, *, producer: TransactionProducer | None = None
) -> FastAPI:
    """Build the gateway; tests pass their own settings and a fake producer."""
    settings = settings if settings is not None else get_settings()
    check_exposure("gateway", settings.gateway.host, settings.gateway.require_auth, "gateway")
    card_secret = require_secret(
        settings.gateway.card_secret.get_secret_value(),
        "FRAUDCTL_GATEWAY__CARD_SECRET",
        "card fingerprints keyed with it could be brute-forced back to card numbers",
    )
    if settings.gateway.require_auth:
        require_secret(
            settings.gateway.api_key.get_secret_value(),
            "FRAUDCTL_GATEWAY__API_KEY",
            "with FRAUDCTL_GATEWAY__REQUIRE_AUTH=true anyone could guess the key",
        )
    producer = producer if producer is not None else kafka_producer(settings)
    registry = GatewayMetrics()
    ingest = TransactionIngest(
        producer=producer,
        masker=CardMasker(card_secret),
        metrics=registry,
        limits=ValidationLimits(
            max_amount=settings.gateway.max_amount,
            max_future_skew_s=settings.gateway.max_future_skew_s,
        ),
    )
    registry.add_gauge(
        "gateway_broker_up",
        "1 if the broker is reachable, 0 if not, -1 before the first check.",
        lambda: {True: 1, False: 0, None: -1}[producer.broker_up],
        mode="livemin",
    )
    registry.add_gauge(
        "gateway_producer_queue_records",
        "Records queued in the producer awaiting the broker.",
        lambda: float(producer.queued()),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await producer.start()
        log.info("gateway producing to %s topic %r", producer.bootstrap, producer.topic)
        refresher = asyncio.create_task(_refresh_gauges(registry)) if registry.shared_dir else None
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            unflushed = await producer.close()
            log.info("gateway stopped; %d records left unflushed", unflushed)

    app = FastAPI(
        title="fraudctl payment gateway",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks cost CPU on every request and would record
        # validation failures with their inputs; /metrics is this gateway's telemetry.
        telemetry=_NO_TELEMETRY,
    )
    app.state.gateway = GatewayState(
        settings=settings, producer=producer, ingest=ingest, metrics=registry
    )
    app.state.metrics = registry
    app.include_router(transactions.router)
    app.include_router(labels.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.gateway.max_body_bytes, metrics=registry)
    app.add_middleware(GatewayAuth, settings=settings.gateway, metrics=registry)
    app.add_middleware(RequestMetrics, metrics=registry)
    return app
