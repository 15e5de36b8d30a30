"""Score the supervised classifier without scikit-learn or pickle, in microseconds.

The portable file (`supervised.npz`, read with `allow_pickle=False`) holds the trees of a
`HistGradientBoostingClassifier` as plain arrays; they are compiled into one function of
nested comparisons like the Isolation Forest (`models.native_trees`). It computes
what sklearn does: go left when `x <= threshold`, add the leaf values to the baseline and
return the logistic of the sum, the fraud probability `predict_proba(X)[:, 1]`.

Inputs, in `SUPERVISED_FEATURE_NAMES` order: the user features, the label-risk features
and the Isolation Forest's anomaly score.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.features import FEATURE_NAMES
from models.label_risk import LABEL_FEATURE_NAMES
from models.native_trees import Tree, TreeSum
from models.scorer import ModelFormatError, trees_from_arrays

SUPERVISED_FORMAT_VERSION = 1
SUPERVISED_FILE = "supervised.npz"
ANOMALY_FEATURE = "anomaly_score"
SUPERVISED_FEATURE_NAMES: tuple[str, ...] = (*FEATURE_NAMES, *LABEL_FEATURE_NAMES, ANOMALY_FEATURE)
_REQUIRED = (
    "format_version",
    "feature_names",
    "model_version",
    "anomaly_model_version",
    "threshold",
    "baseline",
    "tree_offsets",
    "left",
    "right",
    "feature",
    "split",
    "leaf_value",
)


class SupervisedScorer:
    """Gradient-boosted trees from a portable file; `probability` equals `predict_proba`."""

    def __init__(self, arrays: dict[str, npt.NDArray[Any]], source: str = "<arrays>") -> None:
        check_supervised(arrays, source)
        self.source = source
        self.model_version = str(arrays["model_version"])
        self.anomaly_model_version = str(arrays["anomaly_model_version"])
        self.threshold = float(arrays["threshold"])
        self.baseline = float(arrays["baseline"])
        self.feature_names: tuple[str, ...] = tuple(str(n) for n in arrays["feature_names"])
        self.trees: list[Tree] = trees_from_arrays(arrays, len(self.feature_names))
        self._width = len(self.feature_names)
        self.tree_sum = TreeSum(self.trees, self._width)

    @classmethod
    def load(cls, path: str | Path) -> SupervisedScorer:
        path = Path(path)
        if not path.is_file():
            raise ModelFormatError(f"no supervised model at {path}")
        return cls.from_bytes(path.read_bytes(), str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> SupervisedScorer:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as error:
            raise ModelFormatError(f"{source} is not a supervised model file ({error})") from None
        return cls(arrays, source)

    def raw(self, vector: Sequence[float]) -> float:
        """The log-odds (baseline + leaf values)."""
        if len(vector) != self._width:
            raise ValueError(f"expected {self._width} supervised features, got {len(vector)}")
        if not math.isfinite(math.fsum(vector)):
            raise ValueError(f"feature values must be finite, got {list(vector)}")
        total = self.tree_sum.total(vector)
        return self.baseline + total

    def probability(self, vector: Sequence[float]) -> float:
        """Fraud probability 0..1; compare with `threshold`."""
        raw = self.raw(vector)
        if raw >= 0:
            return 1.0 / (1.0 + math.exp(-raw))
        odds = math.exp(raw)
        return odds / (1.0 + odds)

    def probability_reference(self, vector: Sequence[float]) -> float:
        """Same as `probability` by walking the arrays (slow; a cross-check for tests)."""
        total = self.baseline
        for left, right, feature, split, leaf_value in self.trees:
            node = 0
            while left[node] >= 0:
                node = left[node] if vector[feature[node]] <= split[node] else right[node]
            total += leaf_value[node]
        return 1.0 / (1.0 + math.exp(-total))


def check_supervised(arrays: dict[str, Any], source: str) -> None:
    """Raise `ModelFormatError` naming both sides when the file does not fit this code."""
    missing = [key for key in _REQUIRED if key not in arrays]
    if missing:
        raise ModelFormatError(f"{source} lacks {', '.join(missing)}: retrain")
    found = int(arrays["format_version"])
    if found != SUPERVISED_FORMAT_VERSION:
        raise ModelFormatError(
            f"{source} has supervised format {found}, this code reads "
            f"{SUPERVISED_FORMAT_VERSION}: retrain"
        )
    names = tuple(str(n) for n in arrays["feature_names"])
    if names != SUPERVISED_FEATURE_NAMES:
        raise ModelFormatError(
            f"{source} was trained on [{', '.join(names)}] but this code computes "
            f"[{', '.join(SUPERVISED_FEATURE_NAMES)}]: retrain"
        )
