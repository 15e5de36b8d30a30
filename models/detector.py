"""Scorers + threshold + reasons in one call: what the Flink job needs per transaction.

With only the Isolation Forest, its anomaly score decides (as before labels existed).
With a supervised classifier in the package, the classifier decides on the user features,
the label-risk features and the anomaly score; the anomaly score is still reported, so the
quality of the forest alone stays measurable from the decision log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.artifact_files import CURRENT_FILE, VERSIONS_DIR
from models.contracts.transaction import Transaction
from models.features import (
    FEATURE_NAMES,
    Evidence,
    FeatureResult,
    UserState,
    update_and_extract,
)
from models.label_reasons import explain_label_risk
from models.label_risk import LABEL_FEATURE_NAMES, NO_LABEL_FEATURES
from models.reasons import FALLBACK, Reason, explain
from models.scorer import SCORER_FILE, PortableScorer
from models.supervised_scorer import SUPERVISED_FILE, SupervisedScorer

if TYPE_CHECKING:
    from models.label_risk import LabelRiskBook

MAX_REASONS = 3


@dataclass(frozen=True)
class Decision:
    """The verdict on one transaction.

    `score` is the deciding model's score (the classifier's fraud probability, or the
    Isolation Forest's anomaly score 0..1 when there is no classifier); `flagged` is
    `score >= threshold`; `anomaly_score` is always the forest's. Flagged decisions always
    carry at least one reason; unflagged ones carry none.
    """

    score: float
    threshold: float
    flagged: bool
    reasons: tuple[Reason, ...]
    model_version: str
    anomaly_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "model_version": self.model_version,
            "anomaly_score": self.anomaly_score,
        }


class Detector:
    """Load once (per Flink operator), then `decide` per feature vector."""

    def __init__(self, scorer: PortableScorer, supervised: SupervisedScorer | None = None) -> None:
        if supervised is not None and supervised.anomaly_model_version != scorer.model_version:
            raise ValueError(
                f"the classifier {supervised.model_version} was trained with Isolation Forest "
                f"{supervised.anomaly_model_version}, not {scorer.model_version}"
            )
        self.scorer = scorer
        self.supervised = supervised
        self.anomaly_threshold = scorer.threshold
        self.threshold = supervised.threshold if supervised is not None else scorer.threshold
        self.model_version = (
            supervised.model_version if supervised is not None else scorer.model_version
        )
        self.feature_names = FEATURE_NAMES
        self.label_feature_names = LABEL_FEATURE_NAMES

    @classmethod
    def load(cls, artifacts_dir: str | Path) -> Detector:
        """From a registry root (its `current` version) or from one version directory."""
        directory = Path(artifacts_dir)
        if (directory / CURRENT_FILE).is_file():
            version = (directory / CURRENT_FILE).read_text().strip()
            directory = directory / VERSIONS_DIR / version
        supervised_path = directory / SUPERVISED_FILE
        supervised = SupervisedScorer.load(supervised_path) if supervised_path.is_file() else None
        return cls(PortableScorer.load(directory / SCORER_FILE), supervised)

    def wait_native(self, timeout_s: float = 180.0) -> tuple[str, ...]:
        """Wait until the trees' native build has ended (models/native_trees.py): "native"
        or "python" per model. The built library is cached for every process of this user,
        so a caller that waits spares the ones that load the same model next."""
        models = [self.scorer.tree_sum]
        if self.supervised is not None:
            models.append(self.supervised.tree_sum)
        return tuple(tree_sum.wait_settled(timeout_s) for tree_sum in models)

    def decide(
        self,
        features: Sequence[float],
        evidence: Evidence | None = None,
        label_features: Sequence[float] | None = None,
    ) -> Decision:
        """Score one transaction; `label_features` default to "no label seen"."""
        anomaly = self.scorer.anomaly_score(features)
        supervised = self.supervised
        if supervised is None:
            score = anomaly
        else:
            labels = NO_LABEL_FEATURES if label_features is None else tuple(label_features)
            score = supervised.probability((*features, *labels, anomaly))
        flagged = score >= self.threshold
        reasons: tuple[Reason, ...] = ()
        if flagged:
            found = explain(features, evidence)
            if label_features is not None:
                found = explain_label_risk(label_features) + found
            reasons = tuple(found[:MAX_REASONS]) or (FALLBACK,)
        return Decision(score, self.threshold, flagged, reasons, self.model_version, anomaly)

    def process(
        self, state: UserState | None, txn: Transaction, labels: LabelRiskBook | None = None
    ) -> tuple[Decision | None, FeatureResult]:
        """Features + decision; a duplicate gets no decision (and the state is unchanged)."""
        result = update_and_extract(state, txn)
        if result.duplicate:
            return None, result
        label_features = None
        if labels is not None:
            label_features = labels.features(
                txn.merchant_id, txn.user_id, txn.card_fingerprint, txn.event_time_ms
            )
        return self.decide(result.vector, result.evidence, label_features), result
