"""The console against a real redis-server, driven with Textual's Pilot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis

from foundation.settings import Settings
from fraudctl.alerts import alert_fields
from fraudctl.console.app import FraudConsole
from fraudctl.console.widgets import AlertTable, HealthBar
from tests.console_helpers import plain, table_transactions, wait_until
from tests.fixtures.alerts import make_alert
from tests.fixtures.redis_server import RedisServer, free_port
from tests.unit.simulate.http_gateway import HttpGateway, serve

pytestmark = pytest.mark.integration

STREAM = "fraud:alerts"
LABELS = "fraud:labels"


def settings_for(server: RedisServer, gateway_port: int | None = None) -> Settings:
    # Nothing listens on the other ports: their probes fail fast and show "down".
    return Settings(
        redis={"port": server.port},
        gateway={"port": gateway_port or free_port()},
        flink={"rest_port": free_port()},
        kafka={"port": free_port()},
    )


@asynccontextmanager
async def running_console(
    server: RedisServer, gateway_port: int | None = None, **options: object
) -> AsyncIterator[tuple]:
    settings = settings_for(server, gateway_port)
    app = FraudConsole(settings, health_interval_s=0.5, **options)  # type: ignore[arg-type]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.stream_up is True)
            yield app, pilot
    finally:
        app.backend.close()


async def test_an_xadded_alert_appears_within_one_second(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    async with running_console(redis_server) as (app, pilot):
        redis_client.xadd(STREAM, alert_fields(make_alert(1, transaction_id="txn_live_1")))
        took = await wait_until(pilot, lambda: "txn_live_1" in table_transactions(app))
        assert took < 1.0


async def test_backfill_shows_the_last_alerts_newest_first(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    for i in range(5):
        redis_client.xadd(STREAM, alert_fields(make_alert(i)))
    async with running_console(redis_server, backfill=3) as (app, pilot):
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 3)
        assert table_transactions(app) == ["txn_00004", "txn_00003", "txn_00002"]


async def test_detail_pane_follows_the_selected_alert(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, alert_fields(make_alert(0)))  # AMOUNT_SPIKE, user-test-123
    redis_client.xadd(STREAM, alert_fields(make_alert(2)))  # IMPOSSIBLE_TRAVEL
    async with running_console(redis_server) as (app, pilot):
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 2)
        detail = plain(app.query_one("#detail-body"))
        assert "txn_00002" in detail
        assert "IMPOSSIBLE_TRAVEL" in detail and "4,012 km in 10 min" in detail
        await pilot.press("down")
        await wait_until(pilot, lambda: "txn_00000" in plain(app.query_one("#detail-body")))
        detail = plain(app.query_one("#detail-body"))
        for expected in (
            "user-test-123",
            "AMOUNT_SPIKE",
            "100x this user's average",
            "NEW_MERCHANT",
            "amount_ratio",
            "iforest-2025.07.15-a1b2c3",
            "35 ms end to end",
            "5,000.00 USD",
        ):
            assert expected in detail, expected


async def test_filter_by_user_and_by_reason(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    for i in range(8):
        redis_client.xadd(STREAM, alert_fields(make_alert(i)))
    async with running_console(redis_server) as (app, pilot):
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 8)
        await pilot.press("slash")
        await pilot.press(*"user:u-7f3a91", "enter")
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 2)
        assert table_transactions(app) == ["txn_00005", "txn_00001"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 8)
        # `r` keeps the selected alert's top reason: the newest is NEW_MERCHANT_ODD_HOUR.
        await pilot.press("r")
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 2)
        assert table_transactions(app) == ["txn_00007", "txn_00003"]
        # Redis was not changed by reading or filtering.
        assert redis_client.xlen(STREAM) == 8


async def test_labelling_posts_the_label_and_mirrors_it(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, alert_fields(make_alert(0)))
    redis_client.xadd(STREAM, alert_fields(make_alert(1)))
    gateway = HttpGateway()
    with serve(gateway) as url:
        port = int(url.rsplit(":", 1)[1])
        async with running_console(redis_server, port) as (app, pilot):
            await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 2)
            await pilot.press("f")
            await wait_until(pilot, lambda: redis_client.get(f"{LABELS}:txn_00001") is not None)
            assert redis_client.get(f"{LABELS}:txn_00001") == "confirmed_fraud"
            await pilot.press("down", "n")
            await wait_until(pilot, lambda: redis_client.get(f"{LABELS}:txn_00000") is not None)
            assert redis_client.get(f"{LABELS}:txn_00000") == "false_positive"
            await wait_until(
                pilot, lambda: "false_positive" in plain(app.query_one("#detail-body"))
            )
    first, second = gateway.labels
    alert = make_alert(1)
    assert (first["transaction_id"], first["label"], first["source"]) == (
        "txn_00001", "fraud", "analyst",
    )  # fmt: skip
    assert (first["user_id"], first["merchant_id"]) == (alert["user_id"], alert["merchant_id"])
    assert (second["transaction_id"], second["label"]) == ("txn_00000", "legit")
    assert redis_client.type(LABELS) == "none"  # no ever-growing hash


async def test_labelling_without_a_gateway_says_so_and_stores_nothing(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, alert_fields(make_alert(0)))
    async with running_console(redis_server) as (app, pilot):
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 1)
        await pilot.press("f")
        await wait_until(
            pilot,
            lambda: any("could not label" in str(n.message) for n in app._notifications),
        )
    assert redis_client.keys(f"{LABELS}*") == []


async def test_pause_holds_new_alerts_until_resumed(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, alert_fields(make_alert(0)))
    async with running_console(redis_server) as (app, pilot):
        await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 1)
        await pilot.press("space")
        redis_client.xadd(STREAM, alert_fields(make_alert(1, transaction_id="txn_held")))
        await wait_until(pilot, lambda: len(app.held) == 1)
        assert table_transactions(app) == ["txn_00000"]
        assert "PAUSED" in plain(app.query_one("#stats-text"))
        await pilot.press("space")
        await wait_until(pilot, lambda: table_transactions(app) == ["txn_held", "txn_00000"])


async def test_shows_disconnected_and_reconnects_when_redis_comes_back(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    async with running_console(redis_server) as (app, pilot):
        redis_server.stop()
        await wait_until(pilot, lambda: "disconnected" in plain(app.query_one(HealthBar)))
        redis_server.start()
        await wait_until(pilot, lambda: app.stream_up is True, timeout_s=10)
        again = redis.Redis(port=redis_server.port, decode_responses=True)
        again.xadd(STREAM, alert_fields(make_alert(4, transaction_id="txn_after_outage")))
        await wait_until(pilot, lambda: "txn_after_outage" in table_transactions(app))
        assert "disconnected" not in plain(app.query_one(HealthBar))
        again.close()


async def test_health_header_names_every_component(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    async with running_console(redis_server) as (app, pilot):
        await wait_until(pilot, lambda: app.health is not None, timeout_s=10)
        header = plain(app.query_one(HealthBar))
        for name in ("gateway", "kafka", "flink", "redis"):
            assert name in header
        health = app.health
        assert health is not None
        assert health.component("redis").ok  # type: ignore[union-attr]
        assert not health.component("gateway").ok  # type: ignore[union-attr]
        assert health.component("flink").detail == "down"  # type: ignore[union-attr]
