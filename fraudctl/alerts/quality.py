"""Detection quality: alerts joined with labels.

The console knows only the alerts it holds and looks their labels up by id (it never
scans all labels), so it can count hits and false alarms but not misses: its recall is
unknown (`false_negatives` None). The simulator knows its whole ground truth and counts
misses too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fraudctl.alerts.labels import LabelStore, is_fraud_label


@dataclass(frozen=True, slots=True)
class DetectionQuality:
    """Precision and recall of the alerts against the labels that exist (None: unknown)."""

    true_positives: int
    false_positives: int
    false_negatives: int | None

    @property
    def labelled(self) -> int:
        """Alerts that have a label."""
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        if self.false_negatives is None:
            return None
        fraud = self.true_positives + self.false_negatives
        return self.true_positives / fraud if fraud else None


def detection_quality(
    alerted: Iterable[str], labels: Mapping[str, str], *, count_misses: bool = True
) -> DetectionQuality:
    """Join alerted transaction ids with labels.

    An alert whose transaction has no label counts nowhere (not known yet); with
    `count_misses`, a fraud label with no alert is a miss (only meaningful when `labels`
    holds every label, not just those of the alerts).
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
    if not count_misses:
        return DetectionQuality(tp, fp, None)
    fn = sum(1 for txn, label in labels.items() if txn not in alerted_ids and is_fraud_label(label))
    return DetectionQuality(tp, fp, fn)


class QualityTracker:
    """Quality of a set of alerts (the ones a view holds), from the label mirror."""

    def __init__(self, store: LabelStore) -> None:
        self.store = store

    def refresh(self, alerted: Iterable[str]) -> tuple[DetectionQuality, dict[str, str]]:
        """One MGET for the given alerts; returns the quality and the labels found."""
        ids = list(alerted)
        labels = self.store.get_many(ids)
        return detection_quality(ids, labels, count_misses=False), labels
