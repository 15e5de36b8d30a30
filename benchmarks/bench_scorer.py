"""Benchmark: per-record cost of the portable scorer against sklearn, and of the features.

All in one process and one run, on the same model and the same held-out vectors:

- `portable.score`: `PortableScorer.score(vector)`, one record per call (what the job does),
  with its trees native (models/native_trees.py; the Python trees when the host has no
  C compiler: the line above the table says which);
- `portable.score (python trees)`: the same with the generated Python trees;
- `sklearn.score_samples`: `IsolationForest.score_samples` on one already-scaled row per
  call: the baseline named by the issue;
- `sklearn.transform+score_samples`: the same plus `StandardScaler.transform`, i.e. what the
  system we grow out of paid per record (the portable figure includes scaling too);
- `sklearn.batch`: one `score_samples` call on all rows, divided by the rows (context: the
  vectorised best case a per-record stream cannot use);
- `features.update_and_extract`: one transaction through the feature code, replaying a
  held-out dataset user by user in event-time order;
- `detector.decide`: score + threshold + reasons for one vector.

Each figure is the median of `--rounds` rounds, as wall and as CPU time of this process;
the ratio is sklearn / portable per record, for both clocks.

    .venv/bin/python benchmarks/bench_scorer.py --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.artifacts import (
    DEFAULT_ARTIFACTS_DIR,
    FOREST_FILE,
    SCALER_FILE,
    ensure_model,
)
from models.detector import Detector
from models.features import UserState, update_and_extract
from models.generator import generate_dataset
from models.scorer import SCORER_FILE, PortableScorer
from models.training import replay


def per_record_us(run: Callable[[], int], rounds: int) -> tuple[list[float], list[float]]:
    """Wall and CPU microseconds per record for each round (`run` returns its record count).

    CPU time (this process) is reported beside wall time because the host is shared: when
    other work competes for the two cores, wall time grows but CPU time barely moves.
    """
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
        count = run()
        cpu.append((time.process_time_ns() - started_cpu) / 1000 / count)
        wall.append((time.perf_counter_ns() - started) / 1000 / count)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS_DIR)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000, help="vectors per portable round")
    parser.add_argument("--sklearn-rows", type=int, default=300, help="rows per sklearn round")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    artifacts = ensure_model(args.artifacts, log=print)
    scorer = PortableScorer.load(artifacts / SCORER_FILE)
    trees = scorer.tree_sum.wait_settled()
    python_scorer = PortableScorer.load(artifacts / SCORER_FILE)
    python_scorer.tree_sum.keep_python()
    detector = Detector(scorer)
    scaler = joblib.load(artifacts / SCALER_FILE)
    forest = joblib.load(artifacts / FOREST_FILE)

    dataset = generate_dataset(seed=4242, n_users=400, days=7, fraud_ratio=0.02)
    matrix, _, _ = replay(dataset)
    rows = [matrix[i % len(matrix)].tolist() for i in range(args.rows)]
    scaled = scaler.transform(matrix)
    sk_rows = [scaled[i : i + 1] for i in range(min(args.sklearn_rows, len(scaled)))]
    raw_rows = [matrix[i : i + 1] for i in range(len(sk_rows))]
    transactions = [record.transaction for record in dataset.records]

    def portable() -> int:
        for row in rows:
            scorer.score(row)
        return len(rows)

    def portable_python() -> int:
        for row in rows:
            python_scorer.score(row)
        return len(rows)

    def sklearn_one() -> int:
        for row in sk_rows:
            forest.score_samples(row)
        return len(sk_rows)

    def sklearn_with_scaling() -> int:
        for row in raw_rows:
            forest.score_samples(scaler.transform(row))
        return len(raw_rows)

    def sklearn_batch() -> int:
        forest.score_samples(scaled)
        return len(scaled)

    def features() -> int:
        states: dict[str, UserState] = {}
        for txn in transactions:
            states[txn.user_id] = update_and_extract(states.get(txn.user_id), txn).state
        return len(transactions)

    def decide() -> int:
        for row in rows:
            detector.decide(row)
        return len(rows)

    portable()  # warm up before timing
    portable_python()
    sklearn_one()
    runs = {
        "portable.score": portable,
        "portable.score (python trees)": portable_python,
        "sklearn.score_samples": sklearn_one,
        "sklearn.transform+score_samples": sklearn_with_scaling,
        "sklearn.batch": sklearn_batch,
        "features.update_and_extract": features,
        "detector.decide": decide,
    }
    measured = {name: per_record_us(run, args.rounds) for name, run in runs.items()}
    wall = {name: statistics.median(w) for name, (w, _) in measured.items()}
    cpu = {name: statistics.median(c) for name, (_, c) in measured.items()}
    ratio = {
        clock: figures["sklearn.score_samples"] / figures["portable.score"]
        for clock, figures in (("wall", wall), ("cpu", cpu))
    }
    ratio_scaled = {
        clock: figures["sklearn.transform+score_samples"] / figures["portable.score"]
        for clock, figures in (("wall", wall), ("cpu", cpu))
    }
    load = os.getloadavg()[0]

    print(f"model {scorer.model_version}: {scorer.n_trees} trees ({trees}), "
          f"{len(matrix)} held-out vectors")  # fmt: skip
    print(f"{args.rounds} rounds, load average {load:.1f} on {os.cpu_count()} cores")
    print(f"{'per record (median of rounds)':34} {'wall us':>12} {'cpu us':>12}")
    for name in runs:
        print(f"{name:34} {wall[name]:12.2f} {cpu[name]:12.2f}")
    for clock in ("wall", "cpu"):
        print(
            f"speed-up ({clock}): {ratio[clock]:,.0f}x vs score_samples on one row, "
            f"{ratio_scaled[clock]:,.0f}x vs transform+score_samples"
        )

    if args.json:
        report: dict[str, Any] = {
            "model_version": scorer.model_version,
            "trees": scorer.n_trees,
            "tree_code": trees,
            "rounds": args.rounds,
            "load_average": load,
            "median_wall_us": wall,
            "median_cpu_us": cpu,
            "rounds_us": {name: {"wall": w, "cpu": c} for name, (w, c) in measured.items()},
            "ratio_vs_score_samples": ratio,
            "ratio_vs_transform_score_samples": ratio_scaled,
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
