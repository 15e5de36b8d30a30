from collections.abc import Iterator

import pytest

from tests.browser.cdp import Browser
from tests.fixtures.dashboard_server import dashboard_server  # noqa: F401
from tests.fixtures.redis_server import redis_client, redis_server  # noqa: F401


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = Browser().start()
    try:
        yield chromium
    finally:
        chromium.stop()
