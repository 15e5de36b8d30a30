"""A gateway with two uvicorn workers: /metrics counts what every worker did.

Its own Kafka and gateway (two workers), started by the stack manager in a private state
directory, so the shared session stack keeps its single worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from foundation.settings import Settings
from fraudctl.stack import StackManager
from tests.fixtures.stack import make_stack_settings
from tests.unit.gateway.samples import SEED_NORMAL

pytestmark = pytest.mark.integration

WORKERS = 2


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackManager]:
    state = tmp_path_factory.mktemp("gateway-workers") / "state"
    data = make_stack_settings(state).model_dump()
    data["gateway"]["workers"] = WORKERS
    manager = StackManager(Settings(**data))
    try:
        manager.start("kafka")
        manager.start("gateway")
        yield manager
    finally:
        manager.down(purge=True)


def _accepted(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_transactions_accepted_total":
                return sample.value
    raise AssertionError(f"no accepted counter in /metrics:\n{text}")


def _accepted_by_worker(shared: Path) -> dict[str, float]:
    """Each worker's own accepted count, read from its file in the shared directory."""
    counts: dict[str, float] = {}
    for path in shared.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=True):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == "gateway_transactions_accepted_total":
                    counts[path.stem.rsplit("_", 1)[-1]] = sample.value
    return counts


def _post_concurrently(url: str, ids: list[str]) -> None:
    def post(transaction_id: str) -> int:
        # A new connection per request lets the kernel hand requests to both workers.
        with httpx.Client(base_url=url, timeout=30) as client:
            body = dict(SEED_NORMAL, transaction_id=transaction_id)
            return client.post("/transaction", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(post, ids)) == {202}


def test_every_scrape_counts_every_workers_transactions(two_workers: StackManager) -> None:
    url = two_workers.settings.gateway.url
    shared = two_workers.paths.data("gateway") / "prometheus-multiproc"
    run = uuid.uuid4().hex[:10]
    sent = 0
    while sent < 400:  # until both workers have accepted some (the kernel picks the worker)
        _post_concurrently(url, [f"workers-{run}-{sent + n}" for n in range(40)])
        sent += 40
        if len([n for n in _accepted_by_worker(shared).values() if n > 0]) == WORKERS:
            break
    by_worker = _accepted_by_worker(shared)
    assert len([n for n in by_worker.values() if n > 0]) == WORKERS, by_worker

    scrapes = []
    for _ in range(6):
        with httpx.Client(base_url=url, timeout=30) as client:
            scrapes.append(_accepted(client))
    assert scrapes == [sent] * len(scrapes)
    assert sum(by_worker.values()) == sent


def test_health_answers_like_the_original_system_from_any_worker(
    two_workers: StackManager,
) -> None:
    for _ in range(4):
        with httpx.Client(base_url=two_workers.settings.gateway.url, timeout=30) as client:
            response = client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"api_status": "ok", "kafka_status": "connected"}
