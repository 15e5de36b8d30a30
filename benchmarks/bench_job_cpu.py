"""Benchmark: where the host's CPU goes per transaction, scoring job against the bare job.

Throughput ratios say *that* the scoring job is slower than the bare keyed job; this says
*where*: it boots a private stack (`--taskmanagers` TaskManagers) on free ports in a
temporary state dir, preloads `--transactions` generated transactions and labels as
bench_job.py does, then runs the bare keyed job and the scoring job (or `--variants` of
its scorer, see scoring_parts_job.py) over them, alternating `--repeat` times. No reader
consumes the output meanwhile (its CPU would be counted): the output topic's end offsets
are polled instead. Between 20 % and 80 % of the output, the CPU
time of every thread of every stack process (from /proc) is sampled, and reported as
microseconds of CPU per output record, per component and per thread name (the JVMs name
their threads after the operators), beside the host's total from /proc/stat.

    .venv/bin/python benchmarks/bench_job_cpu.py --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_job import BARE_JOB, load, preload, read_everything_again, with_taskmanagers
from benchmarks.bench_job_parts import PARTS_JOB
from benchmarks.scoring_parts_job import chosen_variants, read_reports, stages_dir
from foundation.flink_rest import FlinkRest
from foundation.kafka_security import reader_config
from foundation.kafka_topics import TopicSpec, ensure_topics
from foundation.settings import Settings
from fraudctl.stack import StackManager
from fraudctl.stack.flink_submit import submit_python_job
from tests.fixtures.stack import make_stack_settings

TICK = os.sysconf("SC_CLK_TCK")
STALL_S = 120
PER_RUN_DETAIL = ("threads_us", "stages_us")  # reported as medians, not per run
Sample = Counter[tuple[str, str]]  # (component, thread name) -> CPU seconds


def thread_cpu(manager: StackManager) -> Sample:
    """CPU seconds so far of every thread of every running stack process."""
    sample: Sample = Counter()
    for name in manager.names():
        launcher = manager.process(name).process()
        if launcher is None:
            continue
        for proc in [launcher, *launcher.children(recursive=True)]:
            tasks = Path(f"/proc/{proc.pid}/task")
            for task in tasks.glob("*") if tasks.exists() else []:
                try:
                    comm = (task / "comm").read_text().strip()
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # the thread ended meanwhile
                    continue
                sample[(name, comm)] += (int(fields[11]) + int(fields[12])) / TICK
    return sample


def host_busy() -> float:
    """CPU seconds the whole host has spent busy so far (all cores)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - times.iowait)


class EndOffsets:
    """The sum of a topic's end offsets: how many records it holds, read without consuming."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(reader_config(settings.kafka, f"bench-cpu-{uuid.uuid4()}"))
        self.partitions = list(
            self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        )

    def total(self) -> int:
        return sum(
            self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
            for p in self.partitions
        )

    def close(self) -> None:
        self.consumer.close()


def measure(manager: StackManager, output: EndOffsets, start: int, count: int) -> dict[str, Any]:
    """Wait for 20 % of `count` records past `start` on `topic`, sample, wait for 80 %,
    sample again: CPU per record between the two, per (component, thread)."""

    def reach(share: float) -> tuple[int, float]:
        last, moved = -1, time.monotonic()
        while True:
            done = output.total() - start
            if done >= share * count:
                return done, time.monotonic()
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > STALL_S:  # e.g. the job fails and restarts
                raise TimeoutError(f"{output.topic}: no output for {STALL_S} s at {done:,}")
            time.sleep(0.2)

    first, t0 = reach(0.2)
    cpu0, host0 = thread_cpu(manager), host_busy()
    last, t1 = reach(0.8)
    cpu1, host1 = thread_cpu(manager), host_busy()
    records = last - first
    per = {key: (cpu1[key] - cpu0.get(key, 0.0)) * 1e6 / records for key in cpu1}
    return {
        "records": records,
        "rate": records / (t1 - t0),
        "host_us": (host1 - host0) * 1e6 / records,
        "threads_us": per,
        "load": load(),
    }


def run_bare(manager: StackManager, settings: Settings, count: int) -> dict[str, Any]:
    topic = f"bench-cpu-bare-{uuid.uuid4().hex[:6]}"
    ensure_topics(settings.kafka.bootstrap, [TopicSpec(topic, settings.kafka.partitions)])
    output = EndOffsets(settings, topic)
    job_id = submit_python_job(settings, BARE_JOB, args=[topic, f"g-{topic}", "bare (cpu)"])
    try:
        return measure(manager, output, 0, count)
    finally:
        FlinkRest.of(settings).cancel(job_id)
        output.close()


def run_scoring(
    manager: StackManager, settings: Settings, variant: str, count: int
) -> dict[str, Any]:
    """The scoring job's graph with `variant`'s scorer (benchmarks/scoring_parts_job.py)."""
    read_everything_again(settings)
    output = EndOffsets(settings, settings.kafka.scores_topic)
    start = output.total()
    timed = variant == "stages"  # the scorers' own per-stage figures (scoring_parts_job.py)
    if timed:
        for old in stages_dir(settings).glob("stages-*.json"):  # an earlier run's
            old.unlink()
    job_id = submit_python_job(settings, PARTS_JOB, args=[variant, f"cpu {variant}"])
    try:
        result = measure(manager, output, start, count)
        if timed:
            result["stages_us"] = read_reports(stages_dir(settings))
        return result
    finally:
        FlinkRest.of(settings).cancel(job_id)
        output.close()


def by_component(threads: dict[tuple[str, str], float]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for (component, _thread), us in threads.items():
        totals[component] += us
    return dict(totals)


def median_threads(runs: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    keys = {key for run in runs for key in run["threads_us"]}
    return {k: statistics.median(r["threads_us"].get(k, 0.0) for r in runs) for k in keys}


def median_stages(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Per stage, the median over the runs that timed stages (the `stages` variant)."""
    timed = [r["stages_us"] for r in runs if r.get("stages_us")]
    keys = {key for stages in timed for key in stages}
    return {k: statistics.median(s.get(k, 0.0) for s in timed) for k in keys}


def report(name: str, runs: list[dict[str, Any]], top: int) -> dict[str, Any]:
    threads = median_threads(runs)
    components = by_component(threads)
    host = statistics.median(r["host_us"] for r in runs)
    rate = statistics.median(r["rate"] for r in runs)
    rates = ", ".join(f"{r['rate']:,.0f}" for r in runs)
    print(f"\n{name}: {rate:,.0f} records/s (runs: {rates}); host CPU {host:,.0f} us/record, "
          f"stack processes {sum(components.values()):,.0f}")  # fmt: skip
    for component, us in sorted(components.items(), key=lambda kv: -kv[1]):
        print(f"  {component:24s} {us:8.1f} us")
    print("  busiest threads:")
    for (component, thread), us in sorted(threads.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {us:8.1f} us  {component:20s} {thread}")
    stages = median_stages(runs)
    if stages:
        print("  the scorer's stages, thread CPU per record it scored:")
        for stage, us in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"    {us:8.1f} us  {stage}")
    return {
        "stages_us": stages,
        "rate": rate,
        "host_us": host,
        "components_us": components,
        "threads_us": {f"{c} | {t}": us for (c, t), us in threads.items() if us >= 0.5},
        "runs": [{k: v for k, v in r.items() if k not in PER_RUN_DETAIL} for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--taskmanagers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", default="full",
                        help="scorer variants (scoring_parts_job.py)")  # fmt: skip
    parser.add_argument("--top", type=int, default=14, help="threads listed per job")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    variants = chosen_variants(parser, args.variants)

    state = Path(tempfile.mkdtemp(prefix="fraudctl-bench-cpu-"))
    settings = with_taskmanagers(make_stack_settings(state), args.taskmanagers)
    manager = StackManager(settings)
    results: dict[str, Any] = {"load_start": load(), "taskmanagers": args.taskmanagers}
    try:
        print(f"booting a private stack in {state} … ({load()})", flush=True)
        manager.up()
        took, labels = preload(settings, args.transactions, 0.05)
        print(f"preloaded {args.transactions:,} transactions, {labels:,} labels ({took:.0f} s)")
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], **{v: [] for v in variants}}
        for run in range(1, args.repeat + 1):  # alternating, so drift hits every job alike
            for name, job_runs in runs.items():
                if name == "bare":
                    job_runs.append(run_bare(manager, settings, args.transactions))
                else:
                    job_runs.append(run_scoring(manager, settings, name, args.transactions))
                done = job_runs[-1]
                print(f"run {run}: {name} {done['rate']:,.0f} records/s, host CPU "
                      f"{done['host_us']:,.0f} us/record ({load()})", flush=True)  # fmt: skip
        results["bare"] = report("bare keyed job", runs.pop("bare"), args.top)
        for variant, variant_runs in runs.items():
            results[variant] = report(f"scoring job, {variant}", variant_runs, args.top)
        results["load_end"] = load()
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
