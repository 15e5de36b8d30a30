"""Several uvicorn workers, one /metrics: each worker process writes its values to the shared
directory, and a scrape answered by any of them sums every worker's counters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import MULTIPROC_ENV, GatewayMetrics

# One "worker": counts what argv says, sets its gauges, says ready, and (when asked) prints a
# scrape once its stdin closes, so the other worker is still alive while it renders.
WORKER = """
import sys
from gateway.api.metrics import GatewayMetrics

requests, accepted, latency_ms, queued, broker_up, render = sys.argv[1:]
metrics = GatewayMetrics()
metrics.add_gauge("gateway_broker_up", "up", lambda: float(broker_up), mode="livemin")
metrics.add_gauge("gateway_producer_queue_records", "queued", lambda: float(queued))
for _ in range(int(requests)):
    metrics.count_request("POST", "/transaction", 202)
metrics.count_rejected("invalid_amount", 2)
metrics.accepted += int(accepted)
metrics.produce_latency.observe(int(latency_ms) / 1000)
metrics.refresh_gauges()
print("ready", flush=True)
sys.stdin.read()
if render == "render":
    sys.stdout.write(metrics.render())
"""


def start_worker(
    shared: Path, *, requests: int, accepted: int, latency_ms: int, queued: int, up: int,
    render: bool = False,
) -> subprocess.Popen[str]:  # fmt: skip
    env = {**os.environ, MULTIPROC_ENV: str(shared)}
    args = [str(requests), str(accepted), str(latency_ms), str(queued), str(up)]
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, *args, "render" if render else "quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


def scrape_of(worker: subprocess.Popen[str]) -> dict[tuple[str, tuple[str, ...]], float]:
    text, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_sums_two_workers_counters_and_live_gauges(tmp_path: Path) -> None:
    first = start_worker(tmp_path, requests=3, accepted=2, latency_ms=3, queued=5, up=1)
    try:
        second = start_worker(
            tmp_path, requests=4, accepted=1, latency_ms=300, queued=7, up=0, render=True
        )
        samples = scrape_of(second)
    finally:
        first.communicate(timeout=30)

    assert samples[("gateway_requests_total", ("POST", "/transaction", "202"))] == 7
    assert samples[("gateway_transactions_rejected_total", ("invalid_amount",))] == 4
    assert samples[("gateway_transactions_accepted_total", ())] == 3
    assert samples[("gateway_produce_latency_seconds_count", ())] == 2
    assert samples[("gateway_produce_latency_seconds_bucket", ("0.005",))] == 1
    assert samples[("gateway_produce_latency_seconds_bucket", ("0.5",))] == 2
    assert samples[("gateway_produce_latency_seconds_sum", ())] == pytest.approx(0.303)
    assert samples[("gateway_producer_queue_records", ())] == 12  # records queued anywhere
    assert samples[("gateway_broker_up", ())] == 0  # one worker cannot reach the broker


def test_exited_workers_keep_their_counts_but_not_their_gauges(tmp_path: Path) -> None:
    gone = start_worker(tmp_path, requests=5, accepted=5, latency_ms=1, queued=9, up=0)
    gone.communicate(timeout=30)

    samples = scrape_of(
        start_worker(tmp_path, requests=1, accepted=0, latency_ms=1, queued=1, up=1, render=True)
    )

    assert samples[("gateway_requests_total", ("POST", "/transaction", "202"))] == 6
    assert samples[("gateway_transactions_accepted_total", ())] == 5
    assert samples[("gateway_producer_queue_records", ())] == 1
    assert samples[("gateway_broker_up", ())] == 1


def test_a_missing_shared_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path / "absent"))

    with pytest.raises(RuntimeError, match="not a directory"):
        GatewayMetrics()


def test_without_the_variable_each_app_has_its_own_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    one, two = GatewayMetrics(), GatewayMetrics()

    one.count_request("GET", "/health", 200)
    one.accepted += 2

    assert 'route="/health"' in one.render()
    assert 'route="/health"' not in two.render()
    assert one.accepted == 2
    with pytest.raises(ValueError, match="only goes up"):
        one.accepted = 1
