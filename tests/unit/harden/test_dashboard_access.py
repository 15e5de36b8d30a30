"""Dashboard: Host allow-list (DNS rebinding), Origin from settings, token, socket cap."""

from __future__ import annotations

import contextlib
from concurrent.futures import CancelledError
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from foundation.exposure import ExposedWithoutAuth
from foundation.settings import DashboardSettings, RedisSettings, Settings
from gateway.dashboard.access import COOKIE, DashboardAccess
from gateway.dashboard.app import create_app
from tests.fixtures.ports import free_ports

TOKEN = "dashboard-token-0123456789abcdefghijkl"
OWN = "http://127.0.0.1:8080"
HOST = {"Host": "127.0.0.1:8080"}  # the test client's sockets say "testserver" otherwise


def client(**changes: object) -> TestClient:
    cfg = DashboardSettings(token=SecretStr(TOKEN), **changes)  # type: ignore[arg-type]
    # A port nothing listens on: sockets stay open, their feed retrying Redis.
    redis = RedisSettings(port=free_ports(1)[0])
    return TestClient(create_app(Settings(dashboard=cfg, redis=redis)), base_url=OWN)


def first_message(c: TestClient, headers: dict[str, str]) -> Any:
    """Open /ws, read one message, leave. Leaving a socket whose feed still waits on the
    absent Redis makes the test client cancel the app task: that CancelledError is the
    client's, not the dashboard's."""
    got: list[Any] = []
    with contextlib.suppress(CancelledError), c.websocket_connect("/ws", headers=headers) as ws:
        got.append(ws.receive_json())
    assert got, "the socket was cancelled before its first message"
    return got[0]


def test_a_foreign_host_header_is_refused() -> None:
    with client() as c:
        assert c.get("/healthz").status_code == 200
        rebound = c.get("/", headers={"Host": "evil.example:8080"})
        assert rebound.status_code == 421
        assert "FRAUDCTL_DASHBOARD__PUBLIC_ORIGINS" in rebound.text


def test_websocket_origin_is_checked_against_the_settings_not_the_host_header() -> None:
    with client() as c:
        headers = {"Origin": "http://evil.example:8080", "Host": "127.0.0.1:8080"}
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            c.websocket_connect("/ws", headers=headers),
        ):
            pass
        assert refused.value.code == 1008
        assert first_message(c, {**HOST, "Origin": OWN})["type"] == "status"


def test_a_public_origin_from_the_settings_is_accepted() -> None:
    with client(public_origins=["https://dash.example.com"]) as c:
        headers = {"Origin": "https://dash.example.com", "Host": "dash.example.com"}
        assert first_message(c, headers)["type"] == "status"


def test_with_auth_required_the_page_and_socket_need_the_token() -> None:
    with client(require_auth=True) as c:
        assert c.get("/").status_code == 401
        with (
            c.websocket_connect("/ws", headers=HOST) as refused,  # accepted, then closed
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            refused.receive_json()
        assert closed.value.code == 1008  # the page reads this and stops retrying
        assert "token is missing or wrong" in (closed.value.reason or "")
        login = c.get(f"/?token={TOKEN}", follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        assert c.cookies.get(COOKIE) == TOKEN
        assert c.get("/").status_code == 200
        assert first_message(c, {**HOST, "Cookie": f"{COOKIE}={TOKEN}"})["type"] == "status"
    with client(require_auth=True) as c:
        assert c.get("/?token=wrong").status_code == 401


def test_over_the_connection_cap_a_socket_is_closed_with_a_reason() -> None:
    codes: list[tuple[int, str]] = []
    # See first_message about the suppressed CancelledError.
    with (
        client(max_connections=1) as c,
        contextlib.suppress(CancelledError),
        c.websocket_connect("/ws", headers=HOST) as first,
    ):
        assert first.receive_json()["type"] == "status"
        with c.websocket_connect("/ws", headers=HOST) as second:
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            codes.append((closed.value.code, closed.value.reason or ""))
    assert codes and codes[0][0] == 1013
    assert "too many dashboard connections (limit 1)" in codes[0][1]


def test_the_cap_counts_open_sockets_and_frees_closed_ones() -> None:
    access = DashboardAccess(DashboardSettings(max_connections=2))
    assert access.try_open_socket() and access.try_open_socket()
    assert not access.try_open_socket()
    access.socket_closed()
    assert access.try_open_socket()


def test_binding_beyond_loopback_without_auth_is_refused() -> None:
    with pytest.raises(ExposedWithoutAuth, match="FRAUDCTL_DASHBOARD__REQUIRE_AUTH"):
        create_app(Settings(dashboard=DashboardSettings(host="0.0.0.0")))
