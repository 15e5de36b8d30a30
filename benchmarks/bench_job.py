"""Benchmark: the scoring job's throughput and end-to-end latency, thread vs process mode.

Boots a private stack (Kafka, Redis, Flink, gateway) on free ports in a temporary state
dir, then

0. with `--cold-first-minute`: boots as `fraudctl up` does (stack, job submission and the
   job's warm-up, fraudctl/warmup.py; FRAUDCTL_JOB__WARMUP_TRANSACTIONS=0 leaves it out)
   and measures 200 tx/s latency (as in 3.) for the first 60 s after, nothing discounted;
1. preloads `--transactions` generated transactions (2,000 users, 2 % fraud) into Kafka,
   exactly as the gateway writes them, and labels for the fraud among them plus
   `--label-share` of the rest (so the scorer's label-risk book is in use);
2. throughput, per TaskManager count (`--taskmanagers 1,2`: the second TaskManager is
   started beside the first) and execution mode: the bare keyed job
   (benchmarks/bare_keyed_job.py: same source, JSON parse, key_by(user_id), a counter in
   keyed state, one record out) and the scoring job each read the preloaded topic from the
   start (labels too); the sustained rate is taken from their output (`scored_at` of the
   middle 80 % of the records: no start-up, no tail). The two jobs alternate `--repeat`
   times (the first run of each meets JVMs that have not compiled its paths yet) and the
   medians are compared; before every scoring run the alert markers are deleted, so each
   run writes its alerts to Redis (otherwise a rerun skips every alert write);
3. latency, thread mode, with `--latency-taskmanagers` (default: the last count):
   generated live transactions POSTed to the gateway in batches every 10 ms at `--rates`;
   per transaction `scored_at - received_at` from the decision log and, per alert,
   `detected_at - received_at` (in Redis) — p50/p90/p99/p99.9, the first 15 s not counted;
4. with `--first-minute`: the same at 200 tx/s for the first 60 s of a freshly submitted
   job on the warm cluster (nothing discounted).

All runs share the host with whatever else runs on it: the load average is printed.

    .venv/bin/python benchmarks/bench_job.py --first-minute       # everything, ~30 min
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
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flink_job.functions import CACHED_USERS
from flink_job.job import LABELS_GROUP_ID, alert_target
from flink_job.topic_clients import TopicTail, TransactionProducer, kafka_record
from foundation.flink_rest import FlinkRest
from foundation.kafka_topics import SCORING_GROUP_ID, TopicSpec, ensure_topics
from foundation.redis_client import sync_client
from foundation.settings import Settings
from fraudctl.bootstrap import JOB_STEP, WARMUP_STEP, bring_up
from fraudctl.jobs import cancel_scoring_job, submit_job
from fraudctl.stack import StackEvent, StackManager
from fraudctl.stack.components.flink import taskmanager_name
from fraudctl.stack.flink_submit import submit_python_job
from models.contracts.decision import DecisionDeduper
from models.contracts.label import Label
from models.contracts.transaction import Transaction
from models.generator import TrafficGenerator
from tests.fixtures.job import AlertLog
from tests.fixtures.stack import make_stack_settings

BARE_JOB = Path(__file__).resolve().parent / "bare_keyed_job.py"


def with_mode(settings: Settings, mode: str) -> Settings:
    job = settings.job.model_copy(update={"execution_mode": mode})
    return settings.model_copy(update={"job": job})


def with_taskmanagers(settings: Settings, count: int) -> Settings:
    flink = settings.flink.model_copy(update={"taskmanagers": count})
    return settings.model_copy(update={"flink": flink})


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min)"


def preload(settings: Settings, count: int, label_share: float = 0.0) -> tuple[float, int]:
    """The transactions, and labels for the fraud among them plus `label_share` of the
    rest (arriving a day after the transaction), so the scorer's label book is in use."""
    producer = TransactionProducer(settings)
    labels = Producer({"bootstrap.servers": settings.kafka.bootstrap, "linger.ms": 20})
    every = round(1 / label_share) if label_share > 0 else 0
    started = time.perf_counter()
    labelled = 0
    generator = TrafficGenerator(seed=7, n_users=2000, fraud_ratio=0.02)
    for index, (body, pattern) in enumerate(generator.next_batch(count)):
        record = kafka_record(body)
        producer.send(record)
        if every and (pattern or index % every == 0):
            label = Label(
                record["transaction_id"],
                "fraud" if pattern else "legit",
                "simulator",
                Transaction.from_record(record).event_time_ms + 86_400_000,
                user_id=record["user_id"],
                merchant_id=record["merchant_id"],
                card_fingerprint=record["card_fingerprint"],
            )
            labels.produce(settings.kafka.labels_topic, label.to_json(), key=label.key)
            labels.poll(0)
            labelled += 1
    producer.flush(120)
    labels.flush(120)
    return time.perf_counter() - started, labelled


def sustained_rate(times_ms: list[int]) -> float:
    """Records per second over the middle 80 % of the output timeline."""
    times = sorted(times_ms)
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    return 0.8 * len(times) / max((high - low) / 1000, 1e-3)


def read_output(tail: TopicTail, count: int, timeout_s: float) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    dedupe = DecisionDeduper()  # the decision log is at-least-once: first per id counts
    deadline = time.monotonic() + timeout_s
    while len(seen) < count and time.monotonic() < deadline:
        for record in tail.poll(1.0):
            if dedupe.first(str(record.get("transaction_id"))):
                seen.append(record)
    return seen


def bench_bare(settings: Settings, mode: str, count: int) -> dict[str, Any]:
    topic = f"bench-bare-{uuid.uuid4().hex[:6]}"
    ensure_topics(settings.kafka.bootstrap, [TopicSpec(topic, settings.kafka.partitions)])
    tail = TopicTail(settings, topic)
    mode_settings = with_mode(settings, mode)
    job_id = submit_python_job(mode_settings, BARE_JOB, args=[topic, f"g-{topic}", f"bare {mode}"])
    try:
        FlinkRest.of(mode_settings).wait_for_state(job_id, "RUNNING", 180)
        records = read_output(tail, count, timeout_s=count / 200 + 120)
    finally:
        FlinkRest.of(settings).cancel(job_id)
        tail.close()
    return {"records": len(records), "rate": sustained_rate([r["scored_at"] for r in records])}


def reset_scoring_group(settings: Settings) -> None:
    """Forget the job's committed offsets: transactions *and* labels are read from the
    start again (without the labels group, a second run would score with no label book)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    for group in (SCORING_GROUP_ID, LABELS_GROUP_ID):
        with contextlib.suppress(Exception):  # the group does not exist yet
            admin.delete_consumer_groups([group])[group].result(30)


def forget_alerts(settings: Settings) -> int:
    """Delete the alert stream's once-only markers, so this run writes every alert again
    (left in place, a second run over the same transactions skips every Redis write)."""
    client = sync_client(settings.redis, socket_timeout=10)
    pattern = alert_target(settings).marker_key("*")
    forgotten = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            forgotten += int(client.delete(*batch))  # type: ignore[arg-type]
            batch.clear()
    if batch:
        forgotten += int(client.delete(*batch))  # type: ignore[arg-type]
    client.close()
    return forgotten


def read_everything_again(settings: Settings) -> None:
    """Before another scoring run over the same topics: every transaction and label is read
    again (the groups' offsets forgotten) and every alert written again (markers deleted)."""
    reset_scoring_group(settings)
    forget_alerts(settings)


def bench_scoring(settings: Settings, mode: str, count: int) -> dict[str, Any]:
    read_everything_again(settings)
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
        "p99.9": at(0.999),
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


def bench_latency(
    settings: Settings, rate: int, seconds: int, warmup_s: float = 15.0
) -> dict[str, Any]:
    """Latency of live traffic at `rate`: received_at at the gateway -> scored_at in the
    decision (`decision_ms`), and -> the broker's append time of that decision in the log
    (`logged_ms`: what a reader of the log waits, the job's Kafka writer included);
    decisions of transactions received in the first `warmup_s` seconds are not counted
    (0: count everything, e.g. right after a start)."""
    tag = f"lat{rate}-{uuid.uuid4().hex[:6]}"
    bodies = live_bodies(rate * seconds, tag, seed=rate)
    wanted = {b["transaction_id"] for b in bodies}
    alerts = AlertLog(settings)
    tail = TopicTail(settings, settings.kafka.scores_topic)
    decided: dict[str, dict[str, Any]] = {}
    logged_at: dict[str, int] = {}
    dedupe = DecisionDeduper()

    def collect() -> None:
        deadline = time.monotonic() + seconds + 60
        while time.monotonic() < deadline and len(decided) < len(wanted):
            for appended_ms, record in tail.poll_timed(0.5):
                txn_id = record.get("transaction_id")
                if txn_id in wanted and dedupe.first(txn_id):
                    decided[txn_id] = record
                    logged_at[txn_id] = appended_ms

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    counted_from_ms = time.time_ns() // 1_000_000 + int(warmup_s * 1000)
    sending = time.monotonic()
    accepted = post_paced(settings.gateway.url, bodies, rate)
    sent_in = time.monotonic() - sending
    reader.join()
    tail.close()
    alert_latency = [
        a["detected_at"] - a["received_at"]
        for _, a, _ in alerts.entries()
        if a["transaction_id"].startswith(tag) and a["received_at"] >= counted_from_ms
    ]
    counted = [r for r in decided.values() if r["received_at"] >= counted_from_ms]
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "load": load(),
        "accepted": accepted,
        "achieved_rate": round(accepted / sent_in),
        "decided": len(decided),
        "alerts": len(alert_latency),
        "decision_ms": percentiles([r["scored_at"] - r["received_at"] for r in counted]),
        "decision_p99_by_10s": windowed_p99(counted),
        "logged_ms": percentiles(
            [logged_at[r["transaction_id"]] - r["received_at"] for r in counted]
        ),
        "alert_ms": percentiles([float(v) for v in alert_latency]),
    }


def print_step(event: StackEvent) -> None:
    if event.component in (JOB_STEP, WARMUP_STEP) and event.phase == "healthy":
        print(f"{event.component}: {event.detail} ({load()})", flush=True)


def windowed_p99(decisions: list[dict[str, Any]], window_ms: int = 10_000) -> list[float]:
    """p99 of received_at -> scored_at per `window_ms` of received_at, oldest first: when
    in a run (e.g. a cold start's first seconds) the slow decisions were."""
    if not decisions:
        return []
    start = min(r["received_at"] for r in decisions)
    windows: dict[int, list[float]] = {}
    for r in decisions:
        windows.setdefault((r["received_at"] - start) // window_ms, []).append(
            r["scored_at"] - r["received_at"]
        )
    return [percentiles(windows[index])["p99"] for index in sorted(windows)]


def catch_up(settings: Settings, quiet_s: float = 3.0, timeout_s: float = 600) -> None:
    """Wait until the job has scored the backlog (the decision log stays quiet)."""
    tail = TopicTail(settings, settings.kafka.scores_topic)
    last = time.monotonic()
    deadline = last + timeout_s
    while time.monotonic() < deadline and time.monotonic() - last < quiet_s:
        if tail.poll(0.5):
            last = time.monotonic()
    tail.close()


def bench_rules(count: int) -> list[Any]:
    """`count` enabled rules like an operator writes them: filters on amount, currency, hour
    and features, a third of them windowed per user or card; thresholds rarely reached."""
    from models.contracts.rule import Rule

    rules = []
    for index in range(count):
        record: dict[str, Any] = {
            "id": f"bench-{index:02d}",
            "action": {"type": "alert" if index % 2 else "tag", "severity": "low"}
            if index % 2
            else {"type": "tag"},
        }
        kind = index % 6
        if kind == 0:
            record["filter"] = [{"field": "amount", "op": "ge", "value": 50_000 + index}]
        elif kind == 1:
            record["filter"] = [
                {"field": "currency", "op": "in", "value": ["XAU", "XAG", "XPT"]},
                {"field": "amount", "op": "gt", "value": 10},
            ]
        elif kind == 2:
            record["filter"] = [
                {"field": "hour", "op": "lt", "value": 4},
                {"field": "features.amount_zscore", "op": "gt", "value": 50 + index},
            ]
        elif kind == 3:
            record["filter"] = [
                {"field": "merchant_id", "op": "in", "value": [f"blocked-{i}" for i in range(100)]}
            ]
        elif kind == 4:
            record["aggregate"] = {"function": "count", "group_by": "user", "window": "1m"}
            record["limit"] = {"op": ">=", "value": 200}
        else:
            record["aggregate"] = {
                "function": "distinct_merchants",
                "group_by": "card",
                "window": "10m",
            }
            record["limit"] = {"op": ">=", "value": 50}
        rules.append(Rule.from_record(record))
    return rules


def bench_rules_in_process(rules: list[Any], count: int = 20_000) -> dict[str, float]:
    """Per-transaction cost of evaluating `rules` (engine only, windows per user)."""
    from models.features import FEATURE_NAMES
    from models.rules_engine import RuleSet, RuleWindows

    generator = TrafficGenerator(seed=3, n_users=2000, fraud_ratio=0.02)
    txns = [Transaction.from_record(kafka_record(body)) for body, _ in generator.next_batch(count)]
    ruleset = RuleSet(rules)
    windows: dict[str, RuleWindows] = {}
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    started = time.perf_counter()
    for txn in txns:
        ruleset.evaluate(
            txn, txn.event_time_ms, features, windows.setdefault(txn.user_id, RuleWindows())
        )
    per_txn_us = (time.perf_counter() - started) / len(txns) * 1e6
    return {"rules": len(rules), "per_transaction_us": round(per_txn_us, 2)}


def store_rules(settings: Settings, rules: list[Any]) -> None:
    from fraudctl.rules.store import RuleStore

    store = RuleStore(settings.kafka)
    stored = store.read()
    for rule in rules:
        store.put(rule, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--modes", default="thread")
    parser.add_argument("--taskmanagers", default="1,2",
                        help="throughput with each of these TaskManager counts")  # fmt: skip
    parser.add_argument("--latency-taskmanagers", type=int, default=0,
                        help="TaskManagers in the latency runs (default: the last)")  # fmt: skip
    parser.add_argument("--first-minute", action="store_true",
                        help="also: 200 tx/s latency in a fresh job's first minute")  # fmt: skip
    parser.add_argument("--cold-first-minute", action="store_true",
                        help="first: 200 tx/s latency in the first minute after a cold "
                             "boot, as after `fraudctl up` returns")  # fmt: skip
    parser.add_argument("--process-transactions", type=int, default=40_000,
                        help="decisions to time in process mode (it is slow)")  # fmt: skip
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="throughput runs of each job per TaskManager count (median)",
    )
    parser.add_argument("--latency-seconds", type=int, default=60)
    parser.add_argument("--label-share", type=float, default=0.05,
                        help="label the fraud and this share of the rest")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rules", type=int, default=0,
                        help="also time the scoring job (thread) with N enabled rules")  # fmt: skip
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="fraudctl-bench-job-"))
    settings = make_stack_settings(state)
    manager = StackManager(settings)
    results: dict[str, Any] = {"load_start": load(), "cached_users": CACHED_USERS}
    try:
        print(f"booting a private stack in {state} … ({load()})", flush=True)
        if args.cold_first_minute:
            # What `fraudctl up` does (stack, job, warm-up; no supervisor), then traffic
            # from the first second after it returns.
            bring_up(manager, print_step, supervise=False)
            report = bench_latency(settings, 200, 60, warmup_s=0)
            results["cold_first_minute"] = report
            print(f"latency at 200 tx/s in the first minute after a cold start ({load()}):\n"
                  f"  decision {json.dumps(report['decision_ms'])}\n"
                  f"  p99 per 10 s {report['decision_p99_by_10s']}\n"
                  f"  in log   {json.dumps(report['logged_ms'])}\n"
                  f"  alert    {json.dumps(report['alert_ms'])}", flush=True)  # fmt: skip
            cancel_scoring_job(settings, savepoint=False)
        else:
            manager.up()
        print(f"preloading {args.transactions:,} transactions …", flush=True)
        results["preload_s"], results["labels"] = preload(
            settings, args.transactions, args.label_share
        )
        tm_counts = [int(n) for n in args.taskmanagers.split(",") if n]
        for taskmanagers in tm_counts:
            settings = with_taskmanagers(settings, taskmanagers)
            StackManager(settings).up()  # starts the TaskManagers not yet running
            for mode in [m for m in args.modes.split(",") if m]:
                key = f"{mode}, {taskmanagers} TaskManager(s)"
                count = args.transactions if mode == "thread" else args.process_transactions
                # Bare and scoring runs alternate, `--repeat` times each; the first of each
                # runs on JVMs that have not compiled the job's paths yet. Medians count.
                bares, scorings = [], []
                for run in range(1, args.repeat + 1):
                    bares.append(bench_bare(settings, mode, count))
                    print(f"bare keyed job, {key}, run {run}: {bares[-1]['rate']:,.0f} tx/s "
                          f"({load()})", flush=True)  # fmt: skip
                    scorings.append(bench_scoring(settings, mode, count))
                    print(f"scoring job,    {key}, run {run}: {scorings[-1]['rate']:,.0f} tx/s "
                          f"({scorings[-1]['flagged']:,} flagged of {scorings[-1]['records']:,}; "
                          f"{load()})", flush=True)  # fmt: skip
                bare = {"rate": statistics.median(r["rate"] for r in bares), "runs": bares}
                scoring = {"rate": statistics.median(r["rate"] for r in scorings), "runs": scorings}
                print(f"{key}, medians of {args.repeat}: bare {bare['rate']:,.0f} tx/s, scoring "
                      f"{scoring['rate']:,.0f} tx/s, {scoring['rate'] / bare['rate']:.2f}x bare",
                      flush=True)  # fmt: skip
                results[key] = {"bare": bare, "scoring": scoring, "load": load()}
                if mode == "thread" and args.rules:
                    rules = bench_rules(args.rules)
                    results["rules_engine"] = bench_rules_in_process(rules)
                    store_rules(settings, rules)
                    with_rules = bench_scoring(settings, mode, count)
                    results[key]["scoring_with_rules"] = {**with_rules, "rules": args.rules}
                    print(f"scoring job,    {key}, {args.rules} rules: "
                          f"{with_rules['rate']:,.0f} tx/s "
                          f"(none: {scoring['rate']:,.0f} tx/s; engine alone "
                          f"{results['rules_engine']['per_transaction_us']} us/tx; {load()})",
                          flush=True)  # fmt: skip
        latency_tms = args.latency_taskmanagers or (tm_counts[-1] if tm_counts else 1)
        for index in range(latency_tms, max(tm_counts, default=1)):  # e.g. back to one
            manager.stop(taskmanager_name(index))
        settings = with_taskmanagers(settings, latency_tms)
        results["latency_taskmanagers"] = latency_tms
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
                      f"  in log   {json.dumps(report['logged_ms'])}\n"
                      f"  alert    {json.dumps(report['alert_ms'])}", flush=True)  # fmt: skip
        if args.first_minute:
            # A fresh job (no state) from the group's committed offsets: no backlog to read.
            cancel_scoring_job(settings, savepoint=False)
            submit_job(with_mode(settings, "thread"), fresh=True)  # no catch-up, no warm-up
            report = bench_latency(settings, 200, 60, warmup_s=0)
            results["first_minute"] = report
            print(f"latency at 200 tx/s in the first minute of a fresh job ({load()}):\n"
                  f"  decision {json.dumps(report['decision_ms'])}\n"
                  f"  in log   {json.dumps(report['logged_ms'])}", flush=True)  # fmt: skip
        results["load_end"] = load()
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
