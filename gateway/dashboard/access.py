"""Who may open the dashboard: its own origins only, a token when required, a socket cap.

- Host allow-list: a request whose `Host` is not one of the dashboard's own names is
  refused, so a page that re-binds its DNS name to 127.0.0.1 (DNS rebinding) cannot read
  the dashboard under its own name.
- Origin check for the WebSocket: compared with the configured origins (this host and
  port, 127.0.0.1, localhost and `dashboard.public_origins`), never with the Host header
  the request itself brings.
- Token (when `dashboard.require_auth` is on): `/?token=T` once sets an HttpOnly,
  SameSite=Strict cookie and redirects to `/`; the page and the WebSocket then carry the
  cookie. Scripts may send `Authorization: Bearer T` or `?token=T` instead.
- A cap on open WebSockets (each holds one Redis connection while it blocks on XREAD).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.secrets import require_secret
from foundation.settings import DashboardSettings

COOKIE = "fraudctl_dashboard"
OPEN_PATHS = frozenset({"/healthz"})


def own_origins(cfg: DashboardSettings) -> frozenset[str]:
    names = {cfg.host, "127.0.0.1", "localhost", "[::1]"}
    local = {f"http://{name}:{cfg.port}" for name in names}
    return frozenset(local | {origin.rstrip("/") for origin in cfg.public_origins})


class DashboardAccess:
    """The dashboard's access rules, decided once from its settings."""

    def __init__(self, cfg: DashboardSettings) -> None:
        self.origins = own_origins(cfg)
        self.hosts = frozenset(urlsplit(origin).netloc.lower() for origin in self.origins)
        self.max_connections = cfg.max_connections
        self.open_sockets = 0
        self.token: bytes | None = None
        if cfg.require_auth:
            self.token = require_secret(
                cfg.token.get_secret_value(),
                "FRAUDCTL_DASHBOARD__TOKEN",
                "with FRAUDCTL_DASHBOARD__REQUIRE_AUTH=true anyone could guess the token",
            ).encode()

    def host_allowed(self, host: str | None) -> bool:
        return host is not None and host.lower() in self.hosts

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin: not a browser (scripts on this host). Else it must be one of ours."""
        return origin is None or origin.rstrip("/") in self.origins

    def token_ok(self, headers: Mapping[str, str], query: Mapping[str, str],
                 cookies: Mapping[str, str]) -> bool:  # fmt: skip
        if self.token is None:
            return True
        candidates = [query.get("token"), cookies.get(COOKIE)]
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(bearer.strip())
        return any(
            value and hmac.compare_digest(value.encode(), self.token) for value in candidates
        )

    def cookie_value(self) -> str:
        return self.token.decode() if self.token is not None else ""

    def try_open_socket(self) -> bool:
        if self.open_sockets >= self.max_connections:
            return False
        self.open_sockets += 1
        return True

    def socket_closed(self) -> None:
        self.open_sockets -= 1


class HostAllowList:
    """Refuse requests (HTTP 421, WebSocket 403) whose Host is not the dashboard's own."""

    def __init__(self, app: ASGIApp, access: DashboardAccess) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if self.access.host_allowed(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
            return
        body = (
            b"this dashboard answers only to its own host names; add the public origin to "
            b"FRAUDCTL_DASHBOARD__PUBLIC_ORIGINS if it is served under another name\n"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 421,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
