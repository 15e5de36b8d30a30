"""Stop the broker under a running gateway: 503s within a bounded time, then 202s again.

Stopping the session's shared broker would break other tests, so this one gets its own
Kafka and gateway, started by the stack manager in a private state directory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from foundation.settings import Settings
from fraudctl.stack import StackManager
from tests.fixtures.stack import make_stack_settings
from tests.integration.gateway.topic import end_offsets, read_between
from tests.unit.gateway.samples import SEED_NORMAL

pytestmark = pytest.mark.integration

PRODUCE_TIMEOUT_S = 2.0
# The gateway must answer within its produce timeout plus a little scheduling slack.
ANSWER_BOUND_S = PRODUCE_TIMEOUT_S + 1.5


def _with_gateway(settings: Settings, **changes: Any) -> Settings:
    data = settings.model_dump()
    data["gateway"].update(changes)
    return Settings(**data)


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackManager]:
    state = tmp_path_factory.mktemp("gateway-outage") / "state"
    settings = _with_gateway(make_stack_settings(state), produce_timeout_s=PRODUCE_TIMEOUT_S)
    manager = StackManager(settings)
    try:
        manager.start("kafka")
        manager.start("gateway")
        yield manager
    finally:
        manager.down(purge=True)


def _post(client: httpx.Client, transaction_id: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post("/transaction", json=dict(SEED_NORMAL, transaction_id=transaction_id))
    return response, time.monotonic() - started


def _seed_health(client: httpx.Client) -> str:
    """GET /health as the original system answered it: always 200, Kafka's state inside."""
    response = client.get("/health")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == ["api_status", "kafka_status"]
    assert answer["api_status"] == "ok"
    return str(answer["kafka_status"])


def test_broker_down_gives_bounded_503s_and_recovery_needs_no_restart(
    private_stack: StackManager,
) -> None:
    private_stack.start("kafka")  # no-op if running; the module's tests share this stack
    private_stack.start("gateway")
    settings = private_stack.settings
    gateway = private_stack.process("gateway")
    gateway_pid = gateway.record().pid  # type: ignore[union-attr]
    run = uuid.uuid4().hex[:10]
    client = httpx.Client(base_url=settings.gateway.url, timeout=30)

    before, _elapsed = _post(client, f"before-{run}")
    assert before.status_code == 202, before.text
    assert _seed_health(client) == "connected"

    private_stack.stop("kafka")
    refused: list[str] = []  # answered 503 while the broker was down
    for n in range(8):
        response, elapsed = _post(client, f"down-{run}-{n}")
        assert response.status_code == 503, response.text
        assert elapsed < ANSWER_BOUND_S, elapsed
        answer = response.json()
        assert answer["error"] in {"broker_unavailable", "broker_timeout"}, answer
        assert "retry" in answer["message"]
        assert response.headers["retry-after"]
        refused.append(f"down-{run}-{n}")
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["broker_reachable"] is False
    assert _seed_health(client) == "disconnected"
    time.sleep(PRODUCE_TIMEOUT_S + 1)  # anything still queued has now expired

    private_stack.start("kafka")
    deadline = time.monotonic() + 60
    attempt = 0
    while True:
        response, elapsed = _post(client, f"after-{run}-{attempt}")
        assert response.status_code in (202, 503), response.text
        assert elapsed < ANSWER_BOUND_S
        if response.status_code == 202 or time.monotonic() > deadline:
            break
        attempt += 1
        time.sleep(0.5)
    assert response.status_code == 202, "the gateway did not recover within 60 s"
    assert gateway.record().pid == gateway_pid  # type: ignore[union-attr]
    assert client.get("/healthz").status_code == 200
    assert _seed_health(client) == "connected"

    kafka = settings.kafka
    partitions = range(kafka.partitions)
    records = read_between(
        kafka.bootstrap,
        kafka.transactions_topic,
        dict.fromkeys(partitions, 0),
        end_offsets(kafka.bootstrap, kafka.transactions_topic),
    )
    stored = {record.json()["transaction_id"] for record in records}
    assert f"before-{run}" in stored
    assert f"after-{run}-{attempt}" in stored
    assert not stored & set(refused), "a transaction answered 503 was stored anyway"
    client.close()


async def _post_batches(url: str, run: str, count: int, size: int) -> list[list[str] | None]:
    """Post `count` batches at once; the ids of each batch answered 202, else None."""

    async def one(client: httpx.AsyncClient, n: int) -> list[str] | None:
        ids = [f"stop-{run}-{n}-{i}" for i in range(size)]
        batch = [dict(SEED_NORMAL, transaction_id=tid) for tid in ids]
        try:
            response = await client.post("/transactions", json=batch)
        except httpx.TransportError:
            return None  # refused or cut while stopping: the client knows it was not accepted
        assert response.status_code in (202, 503), response.text
        return ids if response.status_code == 202 else None

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(*(one(client, n) for n in range(count)))


def test_graceful_shutdown_answers_in_flight_requests_truthfully(
    private_stack: StackManager,
) -> None:
    private_stack.start("kafka")
    private_stack.start("gateway")
    settings = private_stack.settings
    kafka = settings.kafka
    run = uuid.uuid4().hex[:10]
    start = end_offsets(kafka.bootstrap, kafka.transactions_topic)

    async def load_then_stop() -> list[list[str] | None]:
        posting = asyncio.create_task(_post_batches(settings.gateway.url, run, 30, 300))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(private_stack.stop, "gateway")
        return await posting

    answers = asyncio.run(load_then_stop())

    accepted = {tid for ids in answers if ids for tid in ids}
    assert accepted, "no batch was accepted before the stop; the test proved nothing"
    records = read_between(
        kafka.bootstrap,
        kafka.transactions_topic,
        start,
        end_offsets(kafka.bootstrap, kafka.transactions_topic),
    )
    stored = {r.json()["transaction_id"] for r in records}
    assert accepted <= stored, f"{len(accepted - stored)} accepted transactions are not on Kafka"
