"""A recording fake producer and a gateway app wired to it (no broker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from foundation.settings import GatewaySettings, Settings
from gateway.api.app import create_app
from gateway.api.producer import BrokerCheck, ProduceFailure

CARD_SECRET = "unit-test-card-secret"


class RecordingProducer:
    """Stands in for Kafka: records what was produced; can be told to fail."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.failure: ProduceFailure | None = None
        self.reachable = True
        self.started = False
        self.closed = False

    @property
    def bootstrap(self) -> str:
        return "fake:9092"

    @property
    def topic(self) -> str:
        return "transactions"

    @property
    def broker_up(self) -> bool | None:
        return self.reachable

    def queued(self) -> int:
        return 0

    async def start(self) -> None:
        self.started = True

    async def produce_many(
        self, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]:
        if self.failure is not None:
            return [self.failure] * len(records)
        self.records.extend(records)
        return [None] * len(records)

    async def check_broker(self, timeout_s: float) -> BrokerCheck:
        if not self.reachable:
            return BrokerCheck(False, False, 0, "fake broker is down")
        return BrokerCheck(True, True, 2, "")

    async def close(self) -> int:
        self.closed = True
        return 0

    def values(self) -> list[dict[str, Any]]:
        return [orjson.loads(value) for _key, value in self.records]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        gateway=GatewaySettings(
            card_secret=SecretStr(CARD_SECRET), max_batch=50, max_body_bytes=65536
        )
    )


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


class Gateway:
    """The app run in-process on its own event loop, lifespan included; sync calls for tests.

    Sync so that hypothesis can drive it; one loop per test, not per example.
    """

    def __init__(self, app: FastAPI, producer: RecordingProducer) -> None:
        self.app = app
        self.producer = producer
        self._runner = asyncio.Runner()
        self._lifespan = app.router.lifespan_context(app)
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        )

    def __enter__(self) -> Gateway:
        self._runner.run(self._lifespan.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._runner.run(self._client.aclose())
        self._runner.run(self._lifespan.__aexit__(None, None, None))
        self._runner.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@pytest.fixture
def gateway(settings: Settings, producer: RecordingProducer) -> Iterator[Gateway]:
    with Gateway(create_app(settings, producer=producer), producer) as running:
        yield running
