"""GET /healthz (is the broker taking writes?), GET /livez (is this process serving?) and
GET /health, the original system's answer, kept byte-for-byte for its clients."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway.api.deps import ProducerDep, SettingsDep
from gateway.api.errors import json_response
from gateway.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Broker reachability (metadata request with a short timeout)",
    response_model=Health,
    responses={503: {"model": Health, "description": "Broker unreachable or topic missing."}},
)
async def healthz(producer: ProducerDep, settings: SettingsDep) -> Response:
    check = await producer.check_broker(settings.gateway.health_timeout_s)
    healthy = check.reachable and check.topic_exists
    health = Health(
        status="ok" if healthy else "unavailable",
        bootstrap=producer.bootstrap,
        topic=producer.topic,
        broker_reachable=check.reachable,
        topic_exists=check.topic_exists,
        partitions=check.partitions,
        queued=producer.queued(),
        message=check.message,
    )
    return json_response(health.model_dump(), 200 if healthy else 503)


@router.get("/livez", summary="Liveness: the process answers (does not touch the broker)")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health",
    summary="The original system's health answer (always 200; see /healthz for details)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"api_status": "ok", "kafka_status": "connected"},
                }
            },
            "description": "`kafka_status` is `connected` or `disconnected`.",
        }
    },
)
async def health(producer: ProducerDep, settings: SettingsDep) -> dict[str, str]:
    check = await producer.check_broker(settings.gateway.health_timeout_s)
    return {
        "api_status": "ok",
        "kafka_status": "connected" if check.reachable else "disconnected",
    }
