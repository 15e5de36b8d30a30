"""Profile: where one transaction's time goes on the scorer's Python path, stage by stage.

Runs the job's own functions in-process (no Flink) over generated traffic with a label
book of realistic size, and prints µs per record for each stage the scoring job runs:
parse, wire tuple + pickle across the Java/Python boundary, keyed state read/write (slot
pickle), features, label features, the model, rule-free decision JSON, and the whole path.

    .venv/bin/python benchmarks/profile_record.py [--records 20000] [--labels 20000]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from flink_job import ordering
from flink_job.model import ModelPackage
from flink_job.records import (
    decision_record,
    from_wire,
    parse_transaction,
    to_wire,
)
from flink_job.topic_clients import kafka_record
from foundation.settings import get_settings
from models.contracts.label import Label
from models.features import update_and_extract
from models.generator import TrafficGenerator
from models.label_risk import LABEL_FEATURE_NAMES, LabelRiskBook


def timed(
    name: str, items: list[Any], work: Callable[[Any], Any], rows: list[tuple[str, float]]
) -> list[Any]:
    out: list[Any] = []
    append = out.append
    start = time.perf_counter()
    for item in items:
        append(work(item))
    per = (time.perf_counter() - start) / len(items) * 1e6
    rows.append((name, per))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--labels", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    args = parser.parse_args()

    generator = TrafficGenerator(seed=3, n_users=args.users, fraud_ratio=0.02)
    bodies = generator.next_batch(args.records)
    raws = [orjson.dumps(kafka_record(body, received_at=1)).decode() for body, _ in bodies]
    detector = ModelPackage.load(get_settings().model.artifacts_dir).detector()
    book = LabelRiskBook()
    for index, (_body, label) in enumerate(bodies[: args.labels]):
        txn = parse_transaction(raws[index])
        book.add(
            Label(
                transaction_id=txn.transaction_id,
                label="fraud" if label else "legit",
                source="chargeback" if label else "analyst",
                labelled_at=txn.event_time_ms,
                user_id=txn.user_id,
                merchant_id=txn.merchant_id,
                card_fingerprint=txn.card_fingerprint,
            )
        )

    rows: list[tuple[str, float]] = []
    txns = timed("parse JSON + validate", raws, parse_transaction, rows)
    wires = timed("to_wire", txns, to_wire, rows)
    blobs = timed("pickle wire (parse -> Java)", wires, pickle.dumps, rows)
    back = timed("unpickle wire (Java -> scorer)", blobs, pickle.loads, rows)
    timed("from_wire", back, from_wire, rows)

    # features + state, in arrival order per user (as the job sees them)
    states: dict[str, Any] = {}
    results = []
    start = time.perf_counter()
    for txn in txns:
        result = update_and_extract(states.get(txn.user_id), txn)
        states[txn.user_id] = result.state
        results.append(result)
    rows.append(("features (update_and_extract)", (time.perf_counter() - start) / len(txns) * 1e6))

    slots = [ordering.UserSlot(features=r.state, newest_event_ms=1) for r in results]
    images = timed("slot to_state", slots, ordering.UserSlot.to_state, rows)
    pickled = timed("pickle slot (state write)", images, pickle.dumps, rows)
    unpickled = timed("unpickle slot (state read, cache miss)", pickled, pickle.loads, rows)
    timed("slot from_state (cache miss)", unpickled, ordering.UserSlot.from_state, rows)

    pairs = list(zip(txns, results, strict=True))
    labels = timed(
        f"label features ({len(book)} labels)",
        txns,
        lambda t: book.features(t.merchant_id, t.user_id, t.card_fingerprint, t.event_time_ms),
        rows,
    )
    decisions = timed(
        "model decide (forest + classifier + reasons)",
        list(zip(pairs, labels, strict=True)),
        lambda p: detector.decide(p[0][1].vector, p[0][1].evidence, p[1]),
        rows,
    )
    timed(
        "label extra dict",
        labels,
        lambda lf: dict(zip(LABEL_FEATURE_NAMES, lf, strict=True)),
        rows,
    )
    triples = [
        (t, d, r.vector, dict(zip(LABEL_FEATURE_NAMES, lf, strict=True)))
        for (t, r), d, lf in zip(pairs, decisions, labels, strict=True)
    ]
    timed(
        "decision JSON (with label features)",
        triples,
        lambda x: decision_record(x[0], x[1], x[2], 1, extra_features=x[3]),
        rows,
    )
    timed(
        "decision JSON (without label features)",
        triples,
        lambda x: decision_record(x[0], x[1], x[2], 1),
        rows,
    )
    total = sum(per for name, per in rows if "without" not in name and "cache miss" not in name)
    load = os.getloadavg()
    print(f"{len(txns)} records, {args.users} users; load average {load[0]:.2f} {load[1]:.2f}")
    for name, per in rows:
        print(f"  {name:<48} {per:8.1f} µs")
    print(f"  {'sum of the per-record path (cache hit)':<48} {total:8.1f} µs")


if __name__ == "__main__":
    main()
