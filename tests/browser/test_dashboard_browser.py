"""The dashboard in headless Chromium against a real Redis and the real uvicorn app."""

from __future__ import annotations

import json
import re
import time

import pytest
import redis

from fraudctl.alerts import alert_fields
from tests.browser.cdp import Browser, Page
from tests.fixtures.alerts import make_alert
from tests.fixtures.dashboard_server import DashboardServer
from tests.fixtures.redis_server import RedisServer

pytestmark = pytest.mark.integration

STREAM = "fraud:alerts"
CONNECTED = "Connected to fraud alert system"


def open_dashboard(browser: Browser, server: DashboardServer) -> Page:
    page = browser.new_page(server.url)
    page.wait_for(f"document.getElementById('status').textContent === {json.dumps(CONNECTED)}")
    return page


def card_texts(page: Page) -> list[str]:
    value = page.evaluate("[...document.querySelectorAll('.card .txn')].map(e => e.textContent)")
    return list(value)


def test_page_connects(
    browser: Browser, dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    page = open_dashboard(browser, dashboard_server)
    assert page.evaluate("document.title") == "Fraud Detection Dashboard"
    assert page.evaluate("document.querySelector('h1').textContent").startswith("Real-Time")
    page.close()


def test_xadded_alert_appears_as_a_card(
    browser: Browser, dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    page = open_dashboard(browser, dashboard_server)
    redis_client.xadd(STREAM, alert_fields(make_alert(1, transaction_id="txn_fraud_002")))
    page.wait_for("document.querySelectorAll('.card').length === 1", timeout_s=5)
    card = page.evaluate(
        "(() => { const c = document.querySelector('.card');"
        " return {txn: c.querySelector('.txn').textContent,"
        " user: c.querySelector('[data-field=user_id]').textContent,"
        " reasons: [...c.querySelectorAll('.reasons li')].map(li => li.textContent)}; })()"
    )
    assert card["txn"] == "txn_fraud_002"
    assert card["user"] == "u-7f3a91"
    assert card["reasons"] == ["VELOCITY 12 transactions in 60 s"]
    assert page.evaluate("document.getElementById('total').textContent") == "1"
    page.close()


def test_html_in_an_alert_is_shown_as_text(
    browser: Browser, dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    payload = "<img src=x onerror=alert(1)>"
    page = open_dashboard(browser, dashboard_server)
    page.evaluate("window.__pwned = false; window.alert = () => { window.__pwned = true; }")
    redis_client.xadd(
        STREAM,
        alert_fields(make_alert(2, transaction_id=payload, merchant_id="<b>bold</b>",
                                reasons=[{"code": "X", "message": "<script>1</script>"}])),
    )  # fmt: skip
    page.wait_for("document.querySelectorAll('.card').length === 1", timeout_s=5)
    assert card_texts(page) == [payload]
    assert (
        page.evaluate("document.querySelectorAll('.card img, .card b, .card script').length") == 0
    )
    merchant = page.evaluate("document.querySelector('[data-field=merchant_id]').textContent")
    assert merchant == "<b>bold</b>"
    assert page.evaluate("window.__pwned") is False
    assert page.events("Page.javascriptDialogOpening") == []
    page.close()


def test_two_pages_both_receive_the_same_alert(
    browser: Browser, dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    first = open_dashboard(browser, dashboard_server)
    second = open_dashboard(browser, dashboard_server)
    redis_client.xadd(STREAM, alert_fields(make_alert(3, transaction_id="txn_shared")))
    for page in (first, second):
        page.wait_for("document.querySelectorAll('.card').length === 1", timeout_s=5)
        assert card_texts(page) == ["txn_shared"]
    # Nobody consumed it away from the stream either.
    assert redis_client.xlen(STREAM) == 1
    first.close()
    second.close()


def test_reconnect_does_not_count_twice(
    browser: Browser, dashboard_server: DashboardServer, redis_client: redis.Redis
) -> None:
    for i in range(3):
        redis_client.xadd(STREAM, alert_fields(make_alert(10 + i)))
    page = open_dashboard(browser, dashboard_server)
    page.wait_for("document.querySelectorAll('.card').length === 3", timeout_s=5)
    page.wait_for("document.getElementById('total').textContent === '3'", timeout_s=10)
    dashboard_server.stop()
    page.wait_for("document.getElementById('status').className.includes('disconnected')")
    redis_client.xadd(STREAM, alert_fields(make_alert(20, transaction_id="txn_while_away")))
    dashboard_server.start()
    page.wait_for("document.querySelectorAll('.card').length === 4", timeout_s=15)
    page.wait_for(f"document.getElementById('status').textContent === {json.dumps(CONNECTED)}")
    assert card_texts(page)[0] == "txn_while_away"
    page.wait_for("document.getElementById('total').textContent === '4'", timeout_s=10)
    page.close()


def status(page: Page) -> tuple[str, str]:
    value = page.evaluate("[document.getElementById('status').className,"
                          " document.getElementById('status').textContent]")  # fmt: skip
    return str(value[0]), str(value[1])


def test_over_the_connection_cap_the_page_says_why_and_asks_again_much_later(
    browser: Browser, redis_server: RedisServer
) -> None:
    server = DashboardServer(redis_server.port, env={"FRAUDCTL_DASHBOARD__MAX_CONNECTIONS": "1"})
    server.start()
    try:
        first = open_dashboard(browser, server)
        second = browser.new_page(server.url)
        second.wait_for("document.getElementById('status').textContent.includes('too many')")
        kind, text = status(second)
        assert "disconnected" in kind
        assert "too many dashboard connections (limit 1)" in text
        match = re.search(r"reconnecting in ([0-9.]+) s", text)
        assert match is not None and float(match.group(1)) >= 22.5  # 30 s, jitter -25 %
        assert status(first) == ("status connected", CONNECTED)
        first.close()
        second.close()
    finally:
        server.stop()


def test_a_page_the_dashboard_refuses_stops_asking(
    browser: Browser, redis_server: RedisServer
) -> None:
    """The page was open when the dashboard came back requiring a token (e.g. rotated):
    it says so and stops, instead of reconnecting forever."""
    server = DashboardServer(redis_server.port)
    server.start()
    try:
        page = open_dashboard(browser, server)
        server.stop()
        page.wait_for("document.getElementById('status').className.includes('disconnected')")
        server.env = {
            "FRAUDCTL_DASHBOARD__REQUIRE_AUTH": "true",
            "FRAUDCTL_DASHBOARD__TOKEN": "a-new-dashboard-token-0123456789abcdef",
        }
        server.start()
        page.wait_for("document.getElementById('status').className.includes('refused')", 30)
        kind, text = status(page)
        assert "token is missing or wrong" in text and "reload the page" in text
        time.sleep(3)  # no further attempt: the status would read "reconnecting" again
        assert status(page) == (kind, text)
        page.close()
    finally:
        server.stop()
