"""`fraudctl backtest` on the real stack: the backtest's metrics equal those recomputed
independently from the `transaction-scores` topic for the same ids.

The independent side reads the topic from the beginning with its own consumer and plain
JSON, keeps the first decision per id of the run, joins it with the file's labels and
recomputes the metrics with scikit-learn; none of the backtest's own join or metric code
is used for it.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from confluent_kafka import Consumer, TopicPartition
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from foundation.settings import Settings
from fraudctl.backtest.dataset import load_dataset, parse_time
from fraudctl.backtest.generated import write_generated
from fraudctl.backtest.runner import BacktestOptions, BacktestResult, run_backtest
from fraudctl.commands.backtest import register
from fraudctl.jobs import JobInfo
from fraudctl.stack import StackManager

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def read_scores(settings: Settings, suffix: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """First decision per transaction id ending in `suffix`, from offset 0 to the end."""
    topic = settings.kafka.scores_topic
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": "backtest-independent-check",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        position = dict.fromkeys(partitions, 0)
        first: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while any(position[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is not None:
                    continue
                position[message.partition()] = message.offset() + 1
                record = json.loads(message.value())
                txn = record.get("transaction_id", "")
                if txn.endswith(suffix) and txn not in first:
                    first[txn] = record
        return first
    finally:
        consumer.close()


def file_labels(path: Path) -> dict[str, tuple[bool, int]]:
    with path.open(encoding="utf-8") as handle:
        return {
            row["transaction_id"]: (row["label"] == "fraud", parse_time(row["timestamp"])[0])
            for row in csv.DictReader(handle)
        }


def test_backtest_metrics_equal_an_independent_recomputation_from_the_topic(
    stack: StackManager, scoring_job: JobInfo, tmp_path: Path
) -> None:
    settings = stack.settings
    path = tmp_path / "traffic.csv"
    rows = write_generated(path, days=2, users=400, seed=5, fraud_ratio=0.05)
    assert rows > 2000
    dataset = load_dataset(path)
    options = BacktestOptions(
        gateway_url=settings.gateway.url, label_delay_ms=6 * HOUR_MS, k=20, drain_stall_s=90
    )
    result: BacktestResult = asyncio.run(run_backtest(settings, options, dataset))

    assert len(result.replay.accepted) == rows and result.bad["count"] == 0
    assert result.undecided == 0 and not result.replay.failed
    assert result.labels["sent"] > 0 and not result.labels["failed"]

    suffix = f"-{result.tag}"
    decisions = read_scores(settings, suffix)
    truth = file_labels(path)
    assert len(decisions) == rows
    test = [
        (truth[txn[: -len(suffix)]][0], record)
        for txn, record in decisions.items()
        if truth[txn[: -len(suffix)]][1] >= result.test_from_ms
    ]
    labels = [int(fraud) for fraud, _ in test]
    scores = [record["score"] for _, record in test]
    flagged = [record["flagged"] for _, record in test]
    assert 0 < sum(labels) < len(labels)

    metrics = result.metrics
    assert metrics.transactions == len(test)
    assert metrics.roc_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics.average_precision == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    alerts = sum(flagged)
    hits = sum(1 for label, flag in zip(labels, flagged, strict=True) if label and flag)
    assert metrics.alerts == alerts and metrics.true_alerts == hits
    assert metrics.precision == (hits / alerts if alerts else None)
    assert metrics.recall == pytest.approx(hits / sum(labels))
    anomaly = [(label, r["anomaly_score"]) for label, (_, r) in zip(labels, test, strict=True)
               if r.get("anomaly_score") is not None]  # fmt: skip
    assert len(anomaly) == metrics.iforest_scored == len(test)
    assert metrics.iforest_average_precision == pytest.approx(
        average_precision_score([a for a, _ in anomaly], [s for _, s in anomaly]), abs=1e-12
    )
    payload = result.to_dict()
    for key in ("roc_auc", "average_precision", "precision", "recall", "card_precision_at_k"):
        assert key in payload


def test_backtest_command_generates_reports_json_and_plots(
    stack_env: dict[str, str], scoring_job: JobInfo, tmp_path: Path
) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None: ...

    plot = tmp_path / "bt.png"
    args = ["backtest", "--generate", "--days", "1.5", "--users", "150", "--label-delay", "4h"]
    args += ["--json", "--plot", str(plot), "--k", "10", "--stall", "90"]
    result = CliRunner().invoke(app, args, env=stack_env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["transactions"] > 0 and payload["undecided"] == 0
    assert payload["recall_by_pattern"], "generated traffic has patterns"
    assert set(payload["alerts_per_day"]) == set(payload["card_precision_at_k_per_day"])
    assert payload["labels"]["sent"] > 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
