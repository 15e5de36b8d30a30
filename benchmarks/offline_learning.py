"""Offline check: does learning from delayed labels beat the Isolation Forest alone?

Generates `--days` of traffic (all built-in patterns, incl. skimming, modest card-not-
present and slow burn), replays it once through the job's feature code with labels
arriving `--label-delay-days` late, and retrains every `--retrain-days`: at each retrain
time T the forest is fitted on everything seen before T (no labels) and the classifier on
the rows whose labels had arrived by T; the next period is scored by that model pair. The
report is the average precision (AP) of each scored period, classifier vs forest alone,
and recall per pattern at the alert threshold for the last period.

    .venv/bin/python benchmarks/offline_learning.py --users 2000 --days 42 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.evaluation import choose_threshold
from models.generator import generate_dataset
from models.label_risk import DAY_MS
from models.supervised import (
    LabelledRows,
    SupervisedConfig,
    metrics,
    replay_labelled,
    train_supervised,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=float, default=42.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fraud-ratio", type=float, default=0.02)
    parser.add_argument("--label-delay-days", type=float, default=7.0)
    parser.add_argument("--retrain-days", type=float, default=7.0)
    parser.add_argument("--first-train-days", type=float, default=14.0)
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    data = generate_dataset(args.seed, args.users, args.days, args.fraud_ratio)
    delay = int(args.label_delay_days * DAY_MS)
    rows = replay_labelled(((r.transaction, r.label) for r in data.records), delay)
    print(
        f"{len(rows):,} transactions, {int(rows.fraud.sum()):,} frauds, "
        f"{time.perf_counter() - started:.0f} s to generate and replay",
        flush=True,
    )
    periods = []
    cut = data.start_ms + int(args.first_train_days * DAY_MS)
    end = data.start_ms + int(args.days * DAY_MS)
    while cut < end:
        stop = min(end, cut + int(args.retrain_days * DAY_MS))
        periods.append(evaluate_period(rows, cut, stop, delay, args.seed))
        last = periods[-1]
        print(
            f"day {(cut - data.start_ms) / DAY_MS:4.0f}-{(stop - data.start_ms) / DAY_MS:.0f}: "
            f"AP supervised {last['supervised']['average_precision']:.3f}  "
            f"forest alone {last['forest']['average_precision']:.3f}",
            flush=True,
        )
        cut = stop
    report = {
        "config": vars(args) | {"json": str(args.json) if args.json else None},
        "transactions": len(rows),
        "frauds": int(rows.fraud.sum()),
        "periods": periods,
        "last_period_gain": round(
            periods[-1]["supervised"]["average_precision"]
            - periods[-1]["forest"]["average_precision"],
            4,
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    last = periods[-1]
    print("last period, recall per pattern at the threshold (supervised / forest alone):")
    for pattern, recall in last["supervised"]["recall_by_pattern"].items():
        alone = last["forest"]["recall_by_pattern"].get(pattern, 0.0)
        count = last["supervised"]["frauds_by_pattern"][pattern]
        print(f"  {pattern:18s} {recall:.3f} / {alone:.3f}  (n={count})")
    for name in ("supervised", "forest"):
        shown = {k: last[name][k] for k in ("precision", "recall", "flagged", "roc_auc")}
        print(f"  {name}: {shown}")
    print(f"AP gain in the last period: {report['last_period_gain']:+.3f}")
    print("top features:", list(last["feature_importances"].items())[:8])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def evaluate_period(
    rows: LabelledRows, cut: int, stop: int, delay: int, seed: int
) -> dict[str, Any]:
    """Train with what is known at `cut`, score [cut, stop)."""
    seen = np.flatnonzero(rows.times < cut)
    sample = np.random.default_rng(seed).choice(seen, size=min(len(seen), 100_000), replace=False)
    scaler = StandardScaler().fit(rows.user[sample])
    forest = IsolationForest(n_estimators=100, max_samples=2048, random_state=0).fit(
        scaler.transform(rows.user[sample])
    )
    anomaly = -forest.score_samples(scaler.transform(rows.user))
    matrix = rows.matrix(anomaly)
    known = np.flatnonzero(rows.times <= cut - delay)  # labels arrived by `cut`
    config = SupervisedConfig(label_delay_ms=delay, train_share=0.7, validation_share=0.28)
    tags = [rows.tags[i] for i in known]
    result = train_supervised(
        matrix[known], rows.fraud[known], tags, rows.times[known], "benchmark", config
    )
    validation = known[int(len(known) * 0.7) :]
    forest_threshold = choose_threshold(
        anomaly[validation], [rows.tags[i] for i in validation], config.target_precision
    )
    scored = np.flatnonzero((rows.times >= cut) & (rows.times < stop))
    truth = rows.fraud[scored]
    scored_tags = [rows.tags[i] for i in scored]
    probability = result.classifier.predict_proba(matrix[scored])[:, 1]
    return {
        "from_ms": cut,
        "to_ms": stop,
        "trained_on_rows": len(known),
        "supervised": metrics(probability, truth, scored_tags, result.threshold),
        "forest": metrics(anomaly[scored], truth, scored_tags, forest_threshold),
        "forest_ap_check": round(float(average_precision_score(truth, anomaly[scored])), 4),
        "feature_importances": result.report["feature_importances"],
    }


if __name__ == "__main__":
    main()
