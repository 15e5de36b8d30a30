"""Scorer + threshold + reasons in one call: what the Flink job needs per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.features import (
    FEATURE_NAMES,
    Evidence,
    FeatureResult,
    UserState,
    update_and_extract,
)
from models.reasons import FALLBACK, Reason, explain
from models.scorer import SCORER_FILE, PortableScorer
from models.transaction import Transaction


@dataclass(frozen=True)
class Decision:
    """The verdict on one transaction.

    `score` is the Isolation Forest anomaly score (0..1, higher = more suspicious, i.e.
    `-score_samples`); `flagged` is `score >= threshold`. Flagged decisions always carry at
    least one reason; unflagged ones carry none.
    """

    score: float
    threshold: float
    flagged: bool
    reasons: tuple[Reason, ...]
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "model_version": self.model_version,
        }


class Detector:
    """Load once (per Flink operator), then `decide` per feature vector."""

    def __init__(self, scorer: PortableScorer) -> None:
        self.scorer = scorer
        self.threshold = scorer.threshold
        self.model_version = scorer.model_version
        self.feature_names = FEATURE_NAMES

    @classmethod
    def load(cls, artifacts_dir: str | Path) -> Detector:
        """From the directory `fraudctl train` (or `ensure_model`) wrote."""
        return cls(PortableScorer.load(Path(artifacts_dir) / SCORER_FILE))

    def decide(self, features: Sequence[float], evidence: Evidence | None = None) -> Decision:
        score = self.scorer.anomaly_score(features)
        flagged = score >= self.threshold
        reasons: tuple[Reason, ...] = ()
        if flagged:
            reasons = tuple(explain(features, evidence)) or (FALLBACK,)
        return Decision(score, self.threshold, flagged, reasons, self.model_version)

    def process(
        self, state: UserState | None, txn: Transaction
    ) -> tuple[Decision | None, FeatureResult]:
        """Features + decision; a duplicate gets no decision (and the state is unchanged)."""
        result = update_and_extract(state, txn)
        if result.duplicate:
            return None, result
        return self.decide(result.vector, result.evidence), result
