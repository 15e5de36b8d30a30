"""The dashboard's WebSocket feed and /healthz over real uvicorn and a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from fraudctl.alerts import alert_fields
from tests.fixtures.alerts import make_alert
from tests.fixtures.dashboard_server import DashboardServer
from tests.fixtures.redis_server import RedisServer

pytestmark = pytest.mark.integration

STREAM = "fraud:alerts"


@contextmanager
def feed(server: DashboardServer, query: str = "", **headers: str) -> Iterator[ClientConnection]:
    url = f"ws://127.0.0.1:{server.port}/ws{query}"
    with connect(url, additional_headers=headers or None, open_timeout=5) as socket:
        yield socket


def messages_until(socket: ClientConnection, wanted: str, count: int = 1) -> list[dict[str, Any]]:
    """Receive until `count` messages of type `wanted` arrived; returns everything read."""
    seen: list[dict[str, Any]] = []
    while sum(1 for m in seen if m["type"] == wanted) < count:
        seen.append(json.loads(socket.recv(timeout=5)))
    return seen


def alerts_in(messages: list[dict[str, Any]]) -> list[str]:
    return [m["alert"]["transaction_id"] for m in messages if m["type"] == "alert"]


def test_healthz_reports_redis(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    response = httpx.get(f"{dashboard_server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "up", "stream": STREAM}


def test_page_is_served_with_a_strict_content_security_policy(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    response = httpx.get(dashboard_server.url)
    assert response.status_code == 200
    assert "Real-Time Fraud Detection Dashboard" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert httpx.get(f"{dashboard_server.url}/static/dashboard.js").status_code == 200


def test_history_then_live_then_stats(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    for i in range(3):
        redis_client.xadd(STREAM, alert_fields(make_alert(i)))
    with feed(dashboard_server) as socket:
        first = messages_until(socket, "stats")
        kinds = [m["type"] for m in first]
        assert kinds[:2] == ["status", "hello"]
        assert alerts_in(first) == ["txn_00000", "txn_00001", "txn_00002"]
        stats = next(m for m in first if m["type"] == "stats")
        assert stats["total"] == 3 and stats["last_hour"] == 3
        redis_client.xadd(STREAM, alert_fields(make_alert(3)))
        assert alerts_in(messages_until(socket, "alert")) == ["txn_00003"]


def test_reconnecting_with_after_sends_only_newer_alerts(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    ids = [redis_client.xadd(STREAM, alert_fields(make_alert(i))) for i in range(4)]
    with feed(dashboard_server, f"?after={ids[1]}") as socket:
        got = messages_until(socket, "stats")
    assert alerts_in(got) == ["txn_00002", "txn_00003"]
    hello = next(m for m in got if m["type"] == "hello")
    assert hello["history"] == 2


def test_every_client_gets_every_alert(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    with feed(dashboard_server) as one, feed(dashboard_server) as two:
        messages_until(one, "stats")
        messages_until(two, "stats")
        for i in range(5):
            redis_client.xadd(STREAM, alert_fields(make_alert(i)))
        assert alerts_in(messages_until(one, "alert", 5)) == [f"txn_0000{i}" for i in range(5)]
        assert alerts_in(messages_until(two, "alert", 5)) == [f"txn_0000{i}" for i in range(5)]


def test_bad_after_id_and_foreign_origin_are_refused(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    with feed(dashboard_server, "?after=not-an-id") as socket:
        with pytest.raises(ConnectionClosedError) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "stream id 'not-an-id' is not valid" in closed.value.rcvd.reason
    with (
        pytest.raises(InvalidStatus) as refused,
        feed(dashboard_server, Origin="http://evil.example"),
    ):
        pass
    assert refused.value.response.status_code == 403
    own = f"http://127.0.0.1:{dashboard_server.port}"
    with feed(dashboard_server, Origin=own) as socket:
        assert messages_until(socket, "hello")


def test_malformed_entries_are_skipped_not_fatal(
    dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, {"alert": "{not json"})
    redis_client.xadd(STREAM, {"other": "field"})
    redis_client.xadd(STREAM, alert_fields(make_alert(7)))
    with feed(dashboard_server) as socket:
        assert alerts_in(messages_until(socket, "stats")) == ["txn_00007"]


def test_a_redis_outage_is_reported_and_the_feed_resumes(
    dashboard_server: DashboardServer, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with feed(dashboard_server) as socket:
        messages_until(socket, "stats")
        redis_server.stop()
        down = [m for m in messages_until(socket, "status") if m["type"] == "status"]
        assert down[-1]["stream"] == "down"
        redis_server.start()
        up = [m for m in messages_until(socket, "status") if m["type"] == "status"]
        assert up[-1]["stream"] == "up"
        again = redis.Redis(port=redis_server.port, decode_responses=True)
        again.xadd(STREAM, alert_fields(make_alert(9, transaction_id="txn_after_outage")))
        assert alerts_in(messages_until(socket, "alert")) == ["txn_after_outage"]
        again.close()
