"""Benchmark: the scoring job's throughput and end-to-end latency, thread vs process mode.

Boots a private stack (Kafka, Redis, Flink, gateway) on free ports in a temporary state
dir, then

1. preloads `--transactions` generated transactions (2,000 users, 2 % fraud) into Kafka,
   exactly as the gateway writes them;
2. throughput, per execution mode: the bare keyed job (benchmarks/bare_keyed_job.py: same
   source, JSON parse, key_by(user_id), a counter in keyed state, one record out) and the
   scoring job each read the preloaded topic from the start; the sustained rate is taken
   from their output (`scored_at` of the middle 80 % of the records: no start-up, no tail);
3. latency, thread mode: live transactions (event time = now) POSTed to the gateway in
   batches every 10 ms at `--rates`; per transaction `scored_at - received_at` from the
   decision log and, per alert, `detected_at - received_at` (in Redis) — p50/p90/p99.

All runs share the host with whatever else runs on it: the load average is printed.

    .venv/bin/python benchmarks/bench_job.py                      # everything, ~12 min
    .venv/bin/python benchmarks/bench_job.py --modes thread --rates 200 --latency-seconds 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flink_job.feed import TopicTail, TransactionProducer, kafka_record
from flink_job.functions import CACHED_USERS
from fraudctl.jobs import cancel_scoring_job, submit_job
from fraudctl.settings import Settings
from fraudctl.stack import StackManager
from fraudctl.stack.flink_client import cancel_job, submit_python_job, wait_for_state
from models.generator import TrafficGenerator
from tests.fixtures.job import AlertLog
from tests.fixtures.stack import make_stack_settings

BARE_JOB = Path(__file__).resolve().parent / "bare_keyed_job.py"
SCORING_GROUP = "fraudctl-scoring"


def with_mode(settings: Settings, mode: str) -> Settings:
    job = settings.job.model_copy(update={"execution_mode": mode})
    return settings.model_copy(update={"job": job})


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min)"


def preload(settings: Settings, count: int) -> float:
    producer = TransactionProducer(settings)
    started = time.perf_counter()
    for body, _label in TrafficGenerator(seed=7, n_users=2000, fraud_ratio=0.02).next_batch(count):
        producer.send(kafka_record(body))
    producer.flush(120)
    return time.perf_counter() - started


def sustained_rate(times_ms: list[int]) -> float:
    """Records per second over the middle 80 % of the output timeline."""
    times = sorted(times_ms)
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    return 0.8 * len(times) / max((high - low) / 1000, 1e-3)


def read_output(tail: TopicTail, count: int, timeout_s: float) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while len(seen) < count and time.monotonic() < deadline:
        for record in tail.poll(1.0):
            seen.setdefault(str(record.get("transaction_id")), record)
    return list(seen.values())


def bench_bare(settings: Settings, mode: str, count: int) -> dict[str, Any]:
    topic = f"bench-bare-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    admin.create_topics([NewTopic(topic, settings.kafka.partitions, 1)])[topic].result(30)
    tail = TopicTail(settings, topic)
    mode_settings = with_mode(settings, mode)
    job_id = submit_python_job(mode_settings, BARE_JOB, args=[topic, f"g-{topic}", f"bare {mode}"])
    try:
        wait_for_state(mode_settings, job_id, "RUNNING", 180)
        records = read_output(tail, count, timeout_s=count / 200 + 120)
    finally:
        cancel_job(settings, job_id)
        tail.close()
    return {"records": len(records), "rate": sustained_rate([r["scored_at"] for r in records])}


def reset_scoring_group(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    with contextlib.suppress(Exception):  # the group does not exist yet
        admin.delete_consumer_groups([SCORING_GROUP])[SCORING_GROUP].result(30)


def bench_scoring(settings: Settings, mode: str, count: int) -> dict[str, Any]:
    reset_scoring_group(settings)
    mode_settings = with_mode(settings, mode)
    tail = TopicTail(settings, settings.kafka.scores_topic)
    submit_job(mode_settings, fresh=True)
    try:
        records = read_output(tail, count, timeout_s=count / 100 + 120)
    finally:
        cancel_scoring_job(settings, savepoint=False)
        tail.close()
    flagged = sum(1 for r in records if r["flagged"])
    return {
        "records": len(records),
        "flagged": flagged,
        "rate": sustained_rate([r["scored_at"] for r in records]),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def live_bodies(count: int, tag: str, seed: int) -> list[dict[str, Any]]:
    """Generated traffic with its own event time, like `fraudctl simulate` sends it (its
    clock runs faster than the wall clock): 2,000 users from ten days ago on, i.e. after
    the preloaded history (so the job holds and orders it like live traffic instead of
    scoring it at once as late) and before the gateway's 24 h future limit."""
    start = datetime.now(UTC) - timedelta(days=10)
    generator = TrafficGenerator(seed=seed, n_users=2000, fraud_ratio=0.02, start=start)
    return [
        {
            **body,
            "transaction_id": f"{tag}-{body['transaction_id']}",
            "user_id": f"{tag}-{body['user_id']}",
        }
        for body, _label in generator.next_batch(count)
    ]


def post_paced(gateway: str, bodies: list[dict[str, Any]], rate: int) -> int:
    """Open loop: every 10 ms, POST /transactions with rate/100 bodies (sent from a small
    thread pool, so a slow response does not delay the next batch); how many were accepted."""
    per_tick = max(1, rate // 100)
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=8))

    def send(batch: list[dict[str, Any]]) -> int:
        response = client.post(f"{gateway}/transactions", json=batch)
        return int(response.json()["accepted"]) if response.status_code in (202, 207) else 0

    started = time.monotonic()
    with client, ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for tick, first in enumerate(range(0, len(bodies), per_tick)):
            pause = started + tick * 0.01 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(send, bodies[first : first + per_tick]))
        return sum(future.result() for future in futures)


def bench_latency(settings: Settings, rate: int, seconds: int) -> dict[str, Any]:
    tag = f"lat{rate}-{uuid.uuid4().hex[:6]}"
    bodies = live_bodies(rate * seconds, tag, seed=rate)
    wanted = {b["transaction_id"] for b in bodies}
    alerts = AlertLog(settings)
    tail = TopicTail(settings, settings.kafka.scores_topic)
    decided: dict[str, dict[str, Any]] = {}

    def collect() -> None:
        deadline = time.monotonic() + seconds + 60
        while time.monotonic() < deadline and len(decided) < len(wanted):
            for record in tail.poll(0.5):
                if record.get("transaction_id") in wanted:
                    decided.setdefault(record["transaction_id"], record)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    sending = time.monotonic()
    accepted = post_paced(settings.gateway.url, bodies, rate)
    sent_in = time.monotonic() - sending
    reader.join()
    tail.close()
    alert_latency = [
        a["detected_at"] - a["received_at"]
        for _, a, _ in alerts.entries()
        if a["transaction_id"].startswith(tag)
    ]
    return {
        "rate": rate,
        "seconds": seconds,
        "accepted": accepted,
        "achieved_rate": round(accepted / sent_in),
        "decided": len(decided),
        "alerts": len(alert_latency),
        "decision_ms": percentiles([r["scored_at"] - r["received_at"] for r in decided.values()]),
        "alert_ms": percentiles([float(v) for v in alert_latency]),
    }


def catch_up(settings: Settings, quiet_s: float = 3.0, timeout_s: float = 600) -> None:
    """Wait until the job has scored the backlog (the decision log stays quiet)."""
    tail = TopicTail(settings, settings.kafka.scores_topic)
    last = time.monotonic()
    deadline = last + timeout_s
    while time.monotonic() < deadline and time.monotonic() - last < quiet_s:
        if tail.poll(0.5):
            last = time.monotonic()
    tail.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--modes", default="thread,process")
    parser.add_argument("--process-transactions", type=int, default=40_000,
                        help="decisions to time in process mode (it is slow)")  # fmt: skip
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--latency-seconds", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="fraudctl-bench-job-"))
    settings = make_stack_settings(state)
    manager = StackManager(settings)
    results: dict[str, Any] = {"load_start": load(), "cached_users": CACHED_USERS}
    try:
        print(f"booting a private stack in {state} … ({load()})", flush=True)
        manager.up()
        print(f"preloading {args.transactions:,} transactions …", flush=True)
        results["preload_s"] = preload(settings, args.transactions)
        for mode in [m for m in args.modes.split(",") if m]:
            count = args.transactions if mode == "thread" else args.process_transactions
            bare = bench_bare(settings, mode, count)
            print(f"bare keyed job, {mode}: {bare['rate']:,.0f} tx/s ({load()})", flush=True)
            scoring = bench_scoring(settings, mode, count)
            print(f"scoring job,    {mode}: {scoring['rate']:,.0f} tx/s "
                  f"({scoring['flagged']:,} flagged of {scoring['records']:,}; {load()})",
                  flush=True)  # fmt: skip
            results[mode] = {"bare": bare, "scoring": scoring}
        rates = [int(r) for r in args.rates.split(",") if r]
        if rates:
            reset_scoring_group(settings)
            submit_job(with_mode(settings, "thread"), fresh=True)
            catch_up(settings)
            results["latency"] = []
            for rate in rates:
                report = bench_latency(settings, rate, args.latency_seconds)
                results["latency"].append(report)
                print(f"latency at {rate} tx/s (achieved {report['achieved_rate']:,}/s, "
                      f"{report['accepted']:,} accepted, {report['decided']:,} decided, "
                      f"{report['alerts']:,} alerts; {load()}):\n"
                      f"  decision {json.dumps(report['decision_ms'])}\n"
                      f"  alert    {json.dumps(report['alert_ms'])}", flush=True)  # fmt: skip
        results["load_end"] = load()
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
