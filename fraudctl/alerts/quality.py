"""Live detection quality: alerts joined with the labels in `fraud:labels`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from fraudctl.alerts.labels import LabelStore, is_fraud_label
from fraudctl.alerts.model import ALERT_FIELD
from fraudctl.alerts.stream import START_OF_STREAM


@dataclass(frozen=True, slots=True)
class DetectionQuality:
    """Precision and recall of the alerts against the labels that exist (None: unknown)."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        fraud = self.true_positives + self.false_negatives
        return self.true_positives / fraud if fraud else None


def detection_quality(alerted: Iterable[str], labels: Mapping[str, str]) -> DetectionQuality:
    """Join alerted transaction ids with labels.

    An alert whose transaction has no label counts nowhere (not known yet); a fraud label
    with no alert is a miss.
    """
    alerted_ids = set(alerted)
    tp = fp = 0
    for txn in alerted_ids:
        label = labels.get(txn)
        if label is None:
            continue
        if is_fraud_label(label):
            tp += 1
        else:
            fp += 1
    fn = sum(1 for txn, label in labels.items() if txn not in alerted_ids and is_fraud_label(label))
    return DetectionQuality(tp, fp, fn)


def _transaction_id(fields: Mapping[Any, Any]) -> str | None:
    raw = fields.get(ALERT_FIELD, fields.get(ALERT_FIELD.encode()))
    try:
        txn = json.loads(raw)["transaction_id"] if raw is not None else None
    except (ValueError, TypeError, KeyError):
        return None
    return str(txn) if txn else None


class QualityTracker:
    """Keeps the set of alerted transaction ids (read incrementally from its own position
    in the stream, which is capped) and joins it with all labels on each refresh."""

    def __init__(self, client: redis.Redis, stream: str, labels_key: str, batch: int = 1000):
        self.client = client
        self.stream = stream
        self.labels = LabelStore(client, labels_key)
        self.batch = batch
        self.alerted: set[str] = set()
        self._last_id = START_OF_STREAM

    def _read_new_alerts(self) -> None:
        while True:
            raw: list[Any] = self.client.xrange(  # type: ignore[assignment]
                self.stream, min=f"({self._last_id}", count=self.batch
            )
            for raw_id, fields in raw:
                self._last_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                txn = _transaction_id(fields or {})
                if txn:
                    self.alerted.add(txn)
            if len(raw) < self.batch:
                return

    def refresh(self) -> DetectionQuality:
        self._read_new_alerts()
        return detection_quality(self.alerted, self.labels.scan_all())
