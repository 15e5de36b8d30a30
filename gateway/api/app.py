"""The payment gateway's FastAPI application.

Run it with `uvicorn gateway.api.app:create_app --factory` (or `python -m gateway.api`,
which reads host, port and workers from the settings). Everything is built once per
process here, from one `Settings` object; routes get it through dependencies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from fraudctl.settings import Settings, get_settings
from gateway.api.cards import CardMasker
from gateway.api.deps import GatewayState
from gateway.api.errors import install_error_handlers
from gateway.api.ingest import TransactionIngest
from gateway.api.metrics import GatewayMetrics
from gateway.api.middleware import BodySizeLimit, RequestMetrics
from gateway.api.producer import KafkaTransactionProducer, TransactionProducer
from gateway.api.routers import health, metrics, transactions
from gateway.api.schemas import ValidationLimits

log = logging.getLogger("gateway")

DESCRIPTION = """
Card transactions in, Kafka records out. A **202** means the broker confirmed the write
(idempotent producer, acks=all); a **422** names every invalid field and how to fix it; a
**503** says why the broker could not take it (retry later). The full card number never
leaves the gateway: Kafka gets `card_last4` and an HMAC `card_fingerprint`.
"""


_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def kafka_producer(settings: Settings) -> KafkaTransactionProducer:
    return KafkaTransactionProducer(
        bootstrap=settings.kafka.bootstrap,
        topic=settings.kafka.transactions_topic,
        timeout_s=settings.gateway.produce_timeout_s,
        linger_ms=settings.gateway.linger_ms,
    )


def create_app(
    settings: Settings | None = None, *, producer: TransactionProducer | None = None
) -> FastAPI:
    """Build the gateway; tests pass their own settings and a fake producer."""
    settings = settings if settings is not None else get_settings()
    producer = producer if producer is not None else kafka_producer(settings)
    registry = GatewayMetrics()
    ingest = TransactionIngest(
        producer=producer,
        masker=CardMasker(settings.gateway.card_secret.get_secret_value()),
        metrics=registry,
        limits=ValidationLimits(max_amount=settings.gateway.max_amount),
    )
    registry.add_gauge(
        "gateway_broker_up",
        "1 if the broker is reachable, 0 if not, -1 before the first check.",
        lambda: {True: 1, False: 0, None: -1}[producer.broker_up],
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
        try:
            yield
        finally:
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
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.gateway.max_body_bytes, metrics=registry)
    app.add_middleware(RequestMetrics, metrics=registry)
    return app
