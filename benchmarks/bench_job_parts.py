"""Benchmark: what each part of the scorer's per-record work costs in the running job.

Boots a private stack (Kafka, Redis, Flink with `--taskmanagers` TaskManagers) on free ports
in a temporary state dir, preloads `--transactions` generated transactions and labels as
bench_job.py does, then runs the scoring job's graph with one part left out at a time
(benchmarks/scoring_parts_job.py: full, no-state-write, no-alerts, small-decision,
no-model) over the same topic, the variants alternating `--repeat` times. Before each run
the job's consumer groups and the alert markers are reset, so every run reads everything
and writes its alerts. Reported: the sustained rate of each run (middle 80 % of the
decision log's `scored_at`), the median per variant and its ratio to `full`'s median.
The first round runs on JVMs that have not compiled the job's paths yet: with
`--repeat 3` the median discounts it.

    .venv/bin/python benchmarks/bench_job_parts.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_job import (
    load,
    preload,
    read_everything_again,
    read_output,
    sustained_rate,
    with_taskmanagers,
)
from benchmarks.scoring_parts_job import VARIANTS, chosen_variants
from flink_job.topic_clients import TopicTail
from foundation.flink_rest import FlinkRest
from foundation.settings import Settings
from fraudctl.stack import StackManager
from fraudctl.stack.flink_submit import submit_python_job
from tests.fixtures.stack import make_stack_settings

PARTS_JOB = Path(__file__).resolve().parent / "scoring_parts_job.py"


def run_variant(settings: Settings, variant: str, count: int) -> dict[str, Any]:
    read_everything_again(settings)
    tail = TopicTail(settings, settings.kafka.scores_topic)
    name = f"parts {variant} {uuid.uuid4().hex[:6]}"
    job_id = submit_python_job(settings, PARTS_JOB, args=[variant, name])
    rest = FlinkRest.of(settings)
    try:
        rest.wait_for_state(job_id, "RUNNING", 180)
        records = read_output(tail, count, timeout_s=count / 100 + 120)
    finally:
        rest.cancel(job_id)
        tail.close()
    return {
        "records": len(records),
        "flagged": sum(1 for r in records if r.get("flagged")),
        "rate": sustained_rate([r["scored_at"] for r in records]),
        "load": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--taskmanagers", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label-share", type=float, default=0.05)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    variants = chosen_variants(parser, args.variants)

    state = Path(tempfile.mkdtemp(prefix="fraudctl-bench-parts-"))
    settings = with_taskmanagers(make_stack_settings(state), args.taskmanagers)
    manager = StackManager(settings)
    results: dict[str, Any] = {"load_start": load(), "taskmanagers": args.taskmanagers}
    try:
        print(f"booting a private stack in {state} … ({load()})", flush=True)
        flink = [n for n in manager.names() if n.startswith("flink-")]
        manager.up(only=["redis", "kafka", *flink])
        took, labelled = preload(settings, args.transactions, args.label_share)
        print(f"preloaded {args.transactions:,} transactions, {labelled:,} labels "
              f"({took:.0f} s)", flush=True)  # fmt: skip
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for round_no in range(1, args.repeat + 1):
            for variant in variants:
                run = run_variant(settings, variant, args.transactions)
                runs[variant].append(run)
                print(f"round {round_no} {variant:15s} {run['rate']:8,.0f} tx/s "
                      f"({run['flagged']:,} flagged; {run['load']})", flush=True)  # fmt: skip
        medians = {v: statistics.median(r["rate"] for r in runs[v]) for v in variants}
        base = medians.get("full")
        print(f"\nmedians of {args.repeat} rounds, {args.taskmanagers} TaskManager(s):")
        for variant in variants:
            ratio = f"{medians[variant] / base:.2f}x full" if base else ""
            print(f"  {variant:15s} {medians[variant]:8,.0f} tx/s  {ratio}")
        results.update({"runs": runs, "medians": medians, "load_end": load()})
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
