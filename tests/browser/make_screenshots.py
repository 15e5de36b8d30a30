"""Make docs/images/console.png and docs/images/dashboard.png from the real apps.

    .venv/bin/python -m tests.browser.make_screenshots                      # own Redis + dashboard
    .venv/bin/python -m tests.browser.make_screenshots --use-running-stack  # after `fraudctl up`

Realistic alerts (and a few labels) are XADDed to the stream; the console runs headless
and exports SVG, which headless Chromium turns into PNG; the dashboard is screenshotted in
the same Chromium. With `--use-running-stack` the health header shows the real stack.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from foundation.redis_client import sync_client
from foundation.settings import Settings, get_settings
from fraudctl.alerts import alert_fields
from fraudctl.console.app import FraudConsole
from fraudctl.console.widgets import AlertTable
from tests.browser.cdp import Browser
from tests.fixtures.alerts import make_alert
from tests.fixtures.dashboard_server import DashboardServer
from tests.fixtures.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"

CITIES = ("New York", "Austin", "Chicago", "Lisbon", "Online", "Denver", "Seattle", "Miami")


def demo_alerts(count: int, now_ms: int) -> list[dict[str, Any]]:
    """Alerts spread over the last 25 minutes, as the job would write them."""
    rng = random.Random(7)
    alerts = []
    for i in range(count):
        detected = now_ms - int((count - i) * 25 * 60_000 / count) + rng.randint(0, 20_000)
        received = detected - rng.randint(18, 95)
        scenario = make_alert(i)
        amount = round(scenario["amount"] * rng.uniform(0.7, 1.6), 2)
        features = {**scenario["features"], "amount": amount}
        alerts.append(
            make_alert(
                i,
                transaction_id=f"txn_{rng.getrandbits(40):010x}",
                user_id=f"u-{rng.getrandbits(24):06x}",
                amount=amount,
                features=features,
                location=rng.choice(CITIES) if scenario["location"] != "Online" else "Online",
                score=round(min(0.99, scenario["score"] + rng.uniform(-0.06, 0.06)), 3),
                received_at=received,
                detected_at=detected,
                timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(received / 1000)),
            )
        )
    return alerts


def seed(client: redis.Redis, settings: Settings, alerts: list[dict[str, Any]]) -> None:
    for alert in alerts:
        client.xadd(settings.redis.alerts_stream, alert_fields(alert))
    labels = settings.redis.labels_key
    for alert in alerts[::3]:
        client.hset(labels, alert["transaction_id"], "card_testing")  # ground truth
    client.hset(labels, alerts[-4]["transaction_id"], "false_positive")
    client.hset(labels, "txn_missed_0001", "account_takeover")


async def console_svg(settings: Settings, path: Path, size: tuple[int, int]) -> None:
    app = FraudConsole(settings, health_interval_s=1.0, quality_interval_s=1.0)
    try:
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (
                app.query_one(AlertTable).row_count and app.health and app.quality
            ):
                await pilot.pause(0.1)
            await pilot.pause(1.5)  # one more health round: the ingest rate needs two samples
            await pilot.press("down", "down")
            await pilot.pause(0.3)
            app.save_screenshot(filename=path.name, path=str(path.parent))
    finally:
        app.backend.close()


def svg_to_png(browser: Browser, svg: Path, png: Path) -> None:
    page = browser.new_page(svg.as_uri(), width=1600, height=1000)
    width, height = page.evaluate(
        "(() => { const b = document.querySelector('svg').viewBox.baseVal;"
        " return [Math.ceil(b.width), Math.ceil(b.height)]; })()"
    )
    page.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    page.screenshot(png)
    page.close()


def dashboard_png(browser: Browser, url: str, png: Path) -> None:
    page = browser.new_page(url, width=1280, height=860)
    page.wait_for("document.querySelectorAll('.card').length > 0", timeout_s=15)
    page.wait_for("document.getElementById('status').className.includes('connected')")
    time.sleep(0.5)
    page.screenshot(png)
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-running-stack", action="store_true")
    parser.add_argument("--alerts", type=int, default=40)
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    own_redis = own_dashboard = None
    try:
        if args.use_running_stack:
            settings = get_settings()
            dashboard_url = settings.dashboard.url
        else:
            own_redis = RedisServer()
            own_redis.start()
            own_dashboard = DashboardServer(own_redis.port)
            own_dashboard.start()
            settings = Settings(redis={"port": own_redis.port})
            dashboard_url = own_dashboard.url
        client = sync_client(settings.redis)
        seed(client, settings, demo_alerts(args.alerts, int(time.time() * 1000)))
        client.close()
        with tempfile.TemporaryDirectory() as tmp:
            svg = Path(tmp) / "console.svg"
            asyncio.run(console_svg(settings, svg, (140, 36)))
            browser = Browser().start()
            try:
                svg_to_png(browser, svg, IMAGES / "console.png")
                dashboard_png(browser, dashboard_url, IMAGES / "dashboard.png")
            finally:
                browser.stop()
        print(f"wrote {IMAGES / 'console.png'} and {IMAGES / 'dashboard.png'}")
    finally:
        if own_dashboard:
            own_dashboard.stop()
        if own_redis:
            own_redis.cleanup()


if __name__ == "__main__":
    main()
