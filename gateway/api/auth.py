"""Who may call the gateway: API keys, and no requests from other sites' pages.

Two checks, one plain ASGI middleware (no per-request task):

- Browser origin. A request that carries an `Origin` header comes from a web page; unless
  that page is the gateway's own (its /docs) or an origin in `gateway.allowed_origins`, it
  is refused with 403. This stops a malicious page from posting transactions through the
  visitor's browser, including by DNS rebinding onto the loopback gateway.
- API key, when `gateway.require_auth` is on: `X-API-Key: KEY` or `Authorization: Bearer
  KEY`, compared in constant time; 401 otherwise. The health probes stay open.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.secrets import require_secret
from foundation.settings import GatewaySettings
from gateway.api.errors import json_response
from gateway.api.metrics import GatewayMetrics

OPEN_PATHS = frozenset({"/health", "/healthz", "/livez"})


def own_origins(host: str, port: int) -> frozenset[str]:
    """The origins under which the gateway's own pages (/docs) are served."""
    names = {host, "127.0.0.1", "localhost", "[::1]"}
    return frozenset(f"{scheme}://{name}:{port}" for name in names for scheme in ("http", "https"))


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The key from `X-API-Key` or `Authorization: Bearer`, if either is present."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
    return None


class GatewayAuth:
    """Refuse foreign browser origins (403) and, when required, missing/wrong keys (401)."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.required = settings.require_auth
        self.origins = own_origins(settings.host, settings.port) | {
            origin.rstrip("/") for origin in settings.allowed_origins
        }
        self.keys: tuple[bytes, ...] = ()
        if self.required:
            key = require_secret(
                settings.api_key.get_secret_value(),
                "FRAUDCTL_GATEWAY__API_KEY",
                "with FRAUDCTL_GATEWAY__REQUIRE_AUTH=true anyone could guess the key",
            )
            self.keys = (key.encode(),)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        for name, value in headers:
            if name == b"origin" and value.decode("latin-1").rstrip("/") not in self.origins:
                self.metrics.count_rejected("foreign_origin")
                response = json_response(
                    {
                        "error": "foreign_origin",
                        "message": "requests from other sites' pages are refused: call the "
                        "gateway from a server, or add the page's origin to "
                        "FRAUDCTL_GATEWAY__ALLOWED_ORIGINS",
                        "errors": [],
                    },
                    403,
                )
                await response(scope, receive, send)
                return
        if self.required and scope["path"] not in OPEN_PATHS and not self._valid(headers):
            self.metrics.count_rejected("unauthorized")
            response = json_response(
                {
                    "error": "unauthorized",
                    "message": "send the gateway's API key as 'X-API-Key: KEY' or "
                    "'Authorization: Bearer KEY' (`fraudctl secrets show gateway_api_key`)",
                    "errors": [],
                },
                401,
                {"WWW-Authenticate": 'Bearer realm="fraudctl-gateway"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _valid(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        key = presented_key(headers)
        if key is None:
            return False
        return any(hmac.compare_digest(key, known) for known in self.keys)
