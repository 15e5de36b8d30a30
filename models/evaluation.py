"""Detection quality: threshold choice on validation data, metrics on held-out data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score


@dataclass(frozen=True)
class Evaluation:
    """Quality of `anomaly_score >= threshold` on one labelled set."""

    transactions: int
    frauds: int
    flagged: int
    true_positives: int
    false_positives: int
    precision: float
    recall: float
    pr_auc: float
    recall_by_pattern: dict[str, float]
    frauds_by_pattern: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(
    anomaly_scores: npt.NDArray[np.float64], labels: Sequence[str | None], threshold: float
) -> Evaluation:
    """Precision/recall at `threshold`, PR-AUC (average precision), recall per pattern."""
    truth = np.array([label is not None for label in labels])
    flagged = anomaly_scores >= threshold
    true_positives = int(np.sum(flagged & truth))
    n_flagged = int(np.sum(flagged))
    frauds = int(np.sum(truth))
    by_pattern: dict[str, float] = {}
    counts: dict[str, int] = {}
    names = np.array([label or "" for label in labels])
    for pattern in sorted({label for label in labels if label is not None}):
        mask = names == pattern
        counts[pattern] = int(np.sum(mask))
        by_pattern[pattern] = round(float(np.mean(flagged[mask])), 4)
    pr_auc = float(average_precision_score(truth, anomaly_scores)) if frauds else 0.0
    return Evaluation(
        transactions=len(labels),
        frauds=frauds,
        flagged=n_flagged,
        true_positives=true_positives,
        false_positives=n_flagged - true_positives,
        precision=round(true_positives / n_flagged, 4) if n_flagged else 0.0,
        recall=round(true_positives / frauds, 4) if frauds else 0.0,
        pr_auc=round(pr_auc, 4),
        recall_by_pattern=by_pattern,
        frauds_by_pattern=counts,
    )


def choose_threshold(
    anomaly_scores: npt.NDArray[np.float64], labels: Sequence[str | None], target_precision: float
) -> float:
    """The lowest threshold (most recall) whose precision reaches `target_precision`.

    Falls back to the threshold with the best F1 when no threshold reaches the target.
    """
    truth = np.array([label is not None for label in labels])
    if not truth.any():
        raise ValueError("the validation split has no fraud: raise fraud_ratio or the sizes")
    order = np.argsort(-anomaly_scores, kind="stable")
    ranked = anomaly_scores[order]
    hits = np.cumsum(truth[order])
    flagged = np.arange(1, len(ranked) + 1)
    # Only cut between distinct scores: everything tied with the cut is flagged too.
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    precision = hits / flagged
    recall = hits / truth.sum()
    reachable = np.flatnonzero(last_of_tie & (precision >= target_precision))
    if reachable.size:
        return float(ranked[reachable.max()])
    f1 = np.where(last_of_tie, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(ranked[int(np.argmax(f1))])
