"""Benchmark: time from `up` (jars cached) to all components healthy, and the stack's RSS.

Each round boots a fresh stack on free ports in a temporary state dir (Kafka storage is
formatted, as on a first `fraudctl up`), records when each component became healthy,
measures the resident memory of every process (children included) after a short settle,
then stops it. A warm `up` (everything already running) is timed too, as the baseline of
what the manager itself costs. Medians over the rounds are printed.

    .venv/bin/python benchmarks/bench_stack.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fraudctl.stack import COMPONENT_NAMES, StackEvent, StackManager
from tests.fixtures.stack import make_stack_settings


def one_round(settle_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fraudctl-bench-") as tmp:
        manager = StackManager(make_stack_settings(Path(tmp)))
        manager.jars()  # cached: fetching is a once-per-machine cost, not part of `up`
        marks: dict[str, float] = {}
        start = time.perf_counter()

        def on_event(event: StackEvent) -> None:
            if event.phase == "healthy":
                marks[event.component] = time.perf_counter() - start

        try:
            manager.up(on_event)
            total = time.perf_counter() - start
            warm_start = time.perf_counter()
            manager.up()
            warm = time.perf_counter() - warm_start
            time.sleep(settle_s)
            rss = {row.name: row.rss_bytes for row in manager.status()}
        finally:
            manager.down(purge=True)
    result = {"up_s": total, "warm_up_s": warm, "rss_total_mib": sum(rss.values()) / 2**20}
    result.update({f"healthy_at_{k}_s": v for k, v in marks.items()})
    result.update({f"rss_{k}_mib": v / 2**20 for k, v in rss.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before RSS")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds = [one_round(args.settle) for _ in range(args.rounds)]
    keys = list(rounds[0])
    medians = {k: statistics.median(r[k] for r in rounds) for k in keys}
    if args.json:
        print(json.dumps({"rounds": rounds, "median": medians}, indent=2))
        return
    print(f"rounds: {args.rounds}")
    print(
        f"cold `up` to all healthy: median {medians['up_s']:.1f} s "
        f"(min {min(r['up_s'] for r in rounds):.1f}, max {max(r['up_s'] for r in rounds):.1f})"
    )
    print(f"warm `up` (all running, baseline): median {medians['warm_up_s']:.2f} s")
    print(f"total RSS after {args.settle:.0f} s: median {medians['rss_total_mib']:.0f} MiB")
    for name in COMPONENT_NAMES:
        print(
            f"  {name:<18} healthy at {medians.get(f'healthy_at_{name}_s', 0):5.1f} s  "
            f"rss {medians.get(f'rss_{name}_mib', 0):6.0f} MiB"
        )


if __name__ == "__main__":
    main()
