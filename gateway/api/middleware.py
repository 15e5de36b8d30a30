"""Plain ASGI middleware (no per-request task or body copy): body size cap and request counts."""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.errors import rejection
from gateway.api.metrics import GatewayMetrics

KNOWN_ROUTES: Final = frozenset(
    {"/transaction", "/transactions", "/healthz", "/livez", "/metrics", "/docs", "/openapi.json"}
)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies above `max_bytes` with 413 before (or while) reading them."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: GatewayMetrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
                break
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.count_rejected("body_too_large")
        response = rejection(
            413,
            "body_too_large",
            f"the request body is larger than {self.max_bytes} bytes: send fewer "
            "transactions per request (or raise FRAUDCTL_GATEWAY__MAX_BODY_BYTES)",
        )
        await response(scope, receive, send)


class RequestMetrics:
    """Count every HTTP answer by method, route and status."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in KNOWN_ROUTES else "other"
        method = scope["method"]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.count_request(method, route, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)
