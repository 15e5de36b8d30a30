"""The dashboard app: the page, its static files, `/healthz`, and the `/ws` alert feed.

`app` is built from the process settings (what `fraudctl up` runs); `create_app(settings)`
builds one for tests or for `uvicorn --factory`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError

from foundation.alert_stream import check_stream_id
from foundation.exposure import check_exposure
from foundation.redis_client import async_client
from foundation.settings import Settings, get_settings
from gateway.dashboard.access import COOKIE, DashboardAccess, HostAllowList
from gateway.dashboard.client_feed import ClientFeed, StatsCache

STATIC = Path(__file__).resolve().parent / "static"

# No inline script or style, nothing from elsewhere: alert text can never run as code.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    stream = settings.redis.alerts_stream
    cfg = settings.dashboard
    check_exposure("dashboard", cfg.host, cfg.require_auth, "dashboard")
    access = DashboardAccess(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = async_client(
            settings.redis,
            # One connection per open socket (each blocks on XREAD) plus stats and /healthz.
            max_connections=cfg.max_connections + 4,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=5.0,  # longer than the 1 s XREAD BLOCK
        )
        app.state.redis = client
        app.state.stats = StatsCache(client, stream)
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(title="fraudctl dashboard", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(HostAllowList, access=access)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", include_in_schema=False, response_model=None)
    async def page(request: Request) -> Response:
        if not access.token_ok(request.headers, request.query_params, request.cookies):
            return PlainTextResponse(
                "this dashboard needs its token: open the URL that `fraudctl secrets show "
                "dashboard_token` prints (it ends in ?token=...)\n",
                status_code=401,
            )
        if "token" in request.query_params:  # keep it out of the address bar and history
            response: Response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                COOKIE, access.cookie_value(), httponly=True, samesite="strict", path="/"
            )
            return response
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """The process is up (200); says whether Redis answers too."""
        try:
            await asyncio.wait_for(request.app.state.redis.ping(), timeout=0.5)
            redis_state = "up"
        except (RedisError, OSError, TimeoutError):
            redis_state = "down"
        return JSONResponse({"status": "ok", "redis": redis_state, "stream": stream})

    @app.websocket("/ws")
    async def alerts_socket(websocket: WebSocket) -> None:
        if not access.origin_allowed(websocket.headers.get("origin")):
            await websocket.close(code=1008, reason="cross-origin connections are refused")
            return
        if not access.token_ok(websocket.headers, websocket.query_params, websocket.cookies):
            # Accepted first (nothing is sent) so the page can read why and stop retrying:
            # a refused handshake looks to it like a dashboard that is down.
            await websocket.accept()
            await websocket.close(
                code=1008, reason="the dashboard token is missing or wrong (rotated?)"
            )
            return
        if not access.try_open_socket():
            await websocket.accept()  # accepted first, so the page can read why
            await websocket.close(
                code=1013,
                reason=f"too many dashboard connections (limit {cfg.max_connections})",
            )
            return
        try:
            await _feed_socket(websocket)
        finally:
            access.socket_closed()

    async def _feed_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        after = websocket.query_params.get("after") or None
        if after is not None:
            try:
                check_stream_id(after)
            except ValueError as exc:  # accepted first, so the page can read why
                await websocket.close(code=1008, reason=str(exc)[:120])
                return
        feed = ClientFeed(
            websocket.app.state.redis,
            stream,
            websocket.app.state.stats,
            history=settings.dashboard.history,
            after=after,
        )
        await _serve(websocket, feed)

    return app


async def _serve(websocket: WebSocket, feed: ClientFeed) -> None:
    """Feed the socket until the browser goes away (or the send fails)."""

    async def send(message: dict[str, Any]) -> None:
        await websocket.send_json(message)

    async def until_closed() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    tasks = {asyncio.create_task(feed.run(send)), asyncio.create_task(until_closed())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


app = create_app()
