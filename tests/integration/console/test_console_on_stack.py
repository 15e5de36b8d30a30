"""The console's health probes and the dashboard as the stack manager runs them."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.sync.client import connect

from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.alerts import HealthProber, alert_fields
from fraudctl.stack import StackManager
from tests.fixtures.alerts import make_alert

pytestmark = pytest.mark.integration


def test_health_prober_sees_the_real_stack(stack: StackManager, stack_settings: Settings) -> None:
    prober = HealthProber(stack_settings)
    try:
        first = prober.probe()
        time.sleep(0.5)
        second = prober.probe()
    finally:
        prober.close()
    by_name = {c.name: c for c in second.components}
    assert by_name["gateway"].ok, by_name["gateway"]
    assert by_name["kafka"].ok, by_name["kafka"]
    assert by_name["redis"].ok, by_name["redis"]
    # Flink answers; the job may or may not be submitted in this session.
    assert by_name["flink"].detail != "down", by_name["flink"]
    assert first.component("kafka") is not None


def test_stack_runs_the_dashboard_with_the_alert_feed(
    stack: StackManager, stack_settings: Settings
) -> None:
    health = httpx.get(f"{stack_settings.dashboard.url}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["redis"] == "up"
    page = httpx.get(stack_settings.dashboard.url, timeout=5)
    assert "Real-Time Fraud Detection Dashboard" in page.text
    client = sync_client(stack_settings.redis, decode_responses=True)
    stream = stack_settings.redis.alerts_stream
    before = client.xlen(stream)
    client.xadd(stream, alert_fields(make_alert(0, transaction_id="txn_console_on_stack")))
    url = f"ws://{stack_settings.dashboard.host}:{stack_settings.dashboard.port}/ws"
    with connect(url, open_timeout=5) as socket:
        seen: list[str] = []
        deadline = time.monotonic() + 10
        while "txn_console_on_stack" not in seen and time.monotonic() < deadline:
            message = json.loads(socket.recv(timeout=5))
            if message["type"] == "alert":
                seen.append(message["alert"]["transaction_id"])
    assert "txn_console_on_stack" in seen
    assert client.xlen(stream) == before + 1
    client.close()
