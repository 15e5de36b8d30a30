"""Benchmark: gateway throughput, single and batched, on one uvicorn worker against Kafka.

Boots a private Kafka and the gateway (workers=1) through the stack manager on free ports
in a temporary state dir, then drives it with a keep-alive HTTP/1.1 load generator
(asyncio protocols over raw sockets, uvloop, pre-encoded requests) for each scenario:

- `livez`: GET /livez, no validation and no Kafka: the HTTP stack's own ceiling, the
  baseline the single-transaction figure is compared with;
- `single`: POST /transaction, every request awaited until the broker confirmed it;
- `batch`: POST /transactions with `--batch` transactions per request.

Each scenario runs `--rounds` times for `--seconds` after a warm-up, the scenarios taking
turns so that other load on the host hits baseline and measurement alike; medians are
printed.
The CPU seconds used by the gateway, the broker and the load generator itself are measured
per round (psutil / process_time), since all three share this host's cores. Finally the
number of records that reached the topic is compared with the number of 202s.

    .venv/bin/python benchmarks/bench_gateway.py --rounds 3 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundation.settings import Settings
from fraudctl.stack import StackManager
from tests.fixtures.stack import make_stack_settings
from tests.integration.gateway.topic import end_offsets

TEMPLATE = (
    b'{"transaction_id":"txn_%d","user_id":"user-%d","card_number":"4242-4242-4242-4242",'
    b'"amount":%d.%02d,"timestamp":"2025-07-15T10:00:00Z","merchant_id":"merchant_%d",'
    b'"location":"New York"}'
)


def transaction(n: int) -> bytes:
    return TEMPLATE % (n, n % 5000, 1 + n % 900, n % 100, n % 50)


@dataclass
class Tally:
    ok: int = 0
    other: int = 0
    items: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


class Connection(asyncio.Protocol):
    """One keep-alive connection sending the next request as soon as an answer is complete."""

    def __init__(
        self,
        make_request: Callable[[], bytes],
        items: int,
        ok_status: int,
        tally: Tally,
        stop_at: float,
        done: asyncio.Future[None],
    ) -> None:
        self.make_request = make_request
        self.items = items
        self.ok_status = ok_status
        self.tally = tally
        self.stop_at = stop_at
        self.done = done
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport instances
        self.send()

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.make_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = self.buffer.find(b"content-length: ", 0, end)
        length = int(self.buffer[at + 16 : self.buffer.index(b"\r\n", at)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length :]
        now = time.perf_counter()
        tally = self.tally
        tally.latencies.append(now - self.sent_at)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status == self.ok_status:
            tally.ok += 1
            tally.items += self.items
        else:
            tally.other += 1
        if now < self.stop_at:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    connections: int
    items: int  # transactions per request (0 for livez)
    ok_status: int


def request_maker(scenario: Scenario, host: str, counter: list[int]) -> Callable[[], bytes]:
    head = f"{scenario.method} {scenario.path} HTTP/1.1\r\nhost: {host}\r\n".encode()
    if scenario.items == 0:
        request = head + b"\r\n"
        return lambda: request
    if scenario.path == "/transaction":

        def single() -> bytes:
            counter[0] += 1
            body = transaction(counter[0])
            return b"%scontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
                head, len(body), body,
            )  # fmt: skip

        return single

    def batch() -> bytes:
        first = counter[0]
        counter[0] += scenario.items
        body = b"[" + b",".join(transaction(n) for n in range(first, first + scenario.items)) + b"]"
        return b"%scontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
            head, len(body), body,
        )  # fmt: skip

    return batch


async def drive(
    scenario: Scenario, host: str, port: int, seconds: float, counter: list[int]
) -> Tally:
    loop = asyncio.get_running_loop()
    tally = Tally()
    stop_at = time.perf_counter() + seconds
    make = request_maker(scenario, f"{host}:{port}", counter)
    waits = []
    for _ in range(scenario.connections):
        done: asyncio.Future[None] = loop.create_future()
        ok = scenario.ok_status
        protocol = partial(Connection, make, scenario.items, ok, tally, stop_at, done)
        await loop.create_connection(protocol, host, port)
        waits.append(done)
    await asyncio.wait_for(asyncio.gather(*waits), seconds + 30)
    return tally


def cpu_seconds(process: psutil.Process) -> float:
    total = process.cpu_times()
    children = sum(c.cpu_times().user + c.cpu_times().system for c in process.children(True))
    return total.user + total.system + children


def one_round(
    scenario: Scenario, settings: Settings, seconds: float, pids: dict[str, int], counter: list[int]
) -> dict[str, float]:
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    before = {name: cpu_seconds(p) for name, p in procs.items()}
    own_before = time.process_time()
    started = time.perf_counter()
    cfg = settings.gateway
    tally = uvloop.run(drive(scenario, cfg.host, cfg.port, seconds, counter))
    wall = time.perf_counter() - started
    own = time.process_time() - own_before
    cpu = {name: cpu_seconds(p) - before[name] for name, p in procs.items()}
    latencies = sorted(tally.latencies)
    return {
        "requests_per_s": (tally.ok + tally.other) / wall,
        "ok_per_s": tally.ok / wall,
        "items_per_s": tally.items / wall,
        "not_ok": tally.other,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
        "gateway_cpu_pct": 100 * cpu["gateway"] / wall,
        "kafka_cpu_pct": 100 * cpu["kafka"] / wall,
        "loadgen_cpu_pct": 100 * own / wall,
        "accepted": tally.items,
        # What one fully available core would sustain: contention-independent.
        "ok_per_gateway_cpu_s": tally.ok / max(cpu["gateway"], 1e-9),
        "items_per_gateway_cpu_s": tally.items / max(cpu["gateway"], 1e-9),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    scenarios = [
        Scenario("livez", "GET", "/livez", args.connections, 0, 200),
        Scenario("single", "POST", "/transaction", args.connections, 1, 202),
        Scenario("batch", "POST", "/transactions", args.batch_connections, args.batch, 202),
    ]
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fraudctl-bench-gw-") as tmp:
        settings = make_stack_settings(Path(tmp))
        manager = StackManager(settings)
        try:
            manager.start("kafka")
            manager.start("gateway")
            pids = {
                name: manager.process(name).record().pid  # type: ignore[union-attr]
                for name in ("gateway", "kafka")
            }
            kafka = settings.kafka
            offsets_before = end_offsets(kafka.bootstrap, kafka.transactions_topic)
            counter = [0]
            accepted = 0
            for scenario in scenarios:  # warm-up, not kept
                warm = one_round(scenario, settings, args.warmup, pids, counter)
                accepted += int(warm["accepted"]) if scenario.items else 0
            # Rounds interleave the scenarios, so load from other processes on the host
            # hits baseline and measurement alike.
            rounds: dict[str, list[dict[str, float]]] = {s.name: [] for s in scenarios}
            for _ in range(args.rounds):
                for scenario in scenarios:
                    row = one_round(scenario, settings, args.seconds, pids, counter)
                    accepted += int(row["accepted"]) if scenario.items else 0
                    rounds[scenario.name].append(row)
            results: dict[str, Any] = {}
            for name, rows in rounds.items():
                results[name] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
                results[name]["rounds"] = rows
            offsets_after = end_offsets(kafka.bootstrap, kafka.transactions_topic)
            on_topic = sum(offsets_after[p] - offsets_before.get(p, 0) for p in offsets_after)
        finally:
            manager.down(purge=True)
    results["check"] = {"records_on_topic": on_topic, "accepted_202": accepted}
    results["ratios"] = {
        "single_vs_livez": results["single"]["ok_per_s"] / results["livez"]["ok_per_s"],
        "batch_items_vs_single": results["batch"]["items_per_s"] / results["single"]["ok_per_s"],
    }
    results["host"] = {
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg(),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch", type=int, default=500, help="transactions per batch request")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"host: {results['host']}")
    columns = ("ok_per_s", "items_per_s", "not_ok", "p50_ms", "p99_ms", "gateway_cpu_pct",
               "kafka_cpu_pct", "loadgen_cpu_pct", "items_per_gateway_cpu_s")  # fmt: skip
    for name in ("livez", "single", "batch"):
        row = results[name]
        print(f"{name}: " + ", ".join(f"{c}={row[c]:.1f}" for c in columns))
    print("ratios:", {k: round(v, 2) for k, v in results["ratios"].items()})
    print("check:", results["check"])
    if results["check"]["records_on_topic"] < results["check"]["accepted_202"]:
        raise SystemExit("fewer records on the topic than 202 answers: the gateway lied")


if __name__ == "__main__":
    main()
