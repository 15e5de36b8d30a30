"""Plain ASGI middleware (no per-request task or body copy): body size cap and request counts."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.errors import rejection
from gateway.api.metrics import GatewayMetrics


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


def fixed_route_paths(app: object) -> frozenset[str]:
    """The app's paths without parameters (e.g. /transaction, /health, /docs): the documented
    API paths (included routers' routes are only listed there) and the top-level routes."""
    paths = {getattr(route, "path", None) for route in getattr(app, "routes", ())}
    openapi = getattr(app, "openapi", None)
    if callable(openapi):
        paths.update(openapi().get("paths", {}))
    return frozenset(p for p in paths if isinstance(p, str) and "{" not in p)


def route_label(scope: Scope, fixed_paths: frozenset[str]) -> str:
    """The matched route's template, else the path when it is one of `fixed_paths` (a 413
    is answered before routing), else "other".

    Templates, never raw paths, so unknown URLs cannot grow the number of series; a new
    router's routes are counted without changes here.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    path = scope["path"]
    return path if path in fixed_paths else "other"


class RequestMetrics:
    """Count every HTTP answer by method, route and status."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._fixed_paths: frozenset[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._fixed_paths is None:  # the routes are all known once requests arrive
            self._fixed_paths = fixed_route_paths(scope.get("app"))
        fixed_paths = self._fixed_paths
        method = scope["method"]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                label = route_label(scope, fixed_paths)
                self.metrics.count_request(method, label, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)
