"""Dependencies as `Annotated` aliases, so route signatures say what they use.

Everything here is built once in `create_app` and kept on `app.state.gateway`; the
dependencies only hand it out (async, so FastAPI does not dispatch them to a thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from foundation.settings import Settings
from gateway.api.errors import RequestRejected
from gateway.api.ingest import TransactionIngest
from gateway.api.metrics import GatewayMetrics
from gateway.api.producer import TransactionProducer


@dataclass(frozen=True, slots=True)
class GatewayState:
    settings: Settings
    producer: TransactionProducer
    ingest: TransactionIngest
    metrics: GatewayMetrics


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def _settings(request: Request) -> Settings:
    return gateway_state(request).settings


async def _producer(request: Request) -> TransactionProducer:
    return gateway_state(request).producer


async def _ingest(request: Request) -> TransactionIngest:
    return gateway_state(request).ingest


async def _metrics(request: Request) -> GatewayMetrics:
    return gateway_state(request).metrics


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        return True
    return media.startswith("application/") and media.endswith("+json")


async def read_json_body(request: Request) -> Any:
    """The request body parsed as JSON, or a 4xx that says what to send instead."""
    if not _is_json(request.headers.get("content-type", "")):
        raise RequestRejected(
            415,
            "unsupported_media_type",
            "send the body as JSON with the header 'Content-Type: application/json'",
        )
    body = await request.body()
    if not body.strip():
        raise RequestRejected(400, "empty_body", "the request body is empty: send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(
            400,
            "malformed_json",
            f"the body is not valid JSON ({exc}): check quotes, commas and brackets",
        ) from None


SettingsDep = Annotated[Settings, Depends(_settings)]
ProducerDep = Annotated[TransactionProducer, Depends(_producer)]
IngestDep = Annotated[TransactionIngest, Depends(_ingest)]
MetricsDep = Annotated[GatewayMetrics, Depends(_metrics)]
JsonBody = Annotated[Any, Depends(read_json_body)]
