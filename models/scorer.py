"""Score one feature vector without scikit-learn or pickle, in microseconds.

The portable file (`scorer.npz`, loaded with `allow_pickle=False`) holds the scaler and the
Isolation Forest's trees as plain arrays. At load time the trees are turned into one
straight-line Python function of nested comparisons (generated only from numbers read as
int/float, so the file cannot inject code), which is ~100x quicker than walking arrays;
with a C compiler on the host the same comparisons become native code a few seconds after
loading, ~8x quicker again and bit-for-bit the same (models/native_trees.py).

Bit-for-bit, it does what sklearn does: standardise in float64, round to float32 (the
forest's input dtype), go left when `x <= threshold`, add each tree's leaf depth plus the
average path length of its leaf size, and return `-2 ** (-depth / denominator)`; this is
`IsolationForest.score_samples` (higher = more normal). `anomaly_score` is its negation
(0..1, higher = more suspicious), the unit of `threshold`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.features import FEATURE_NAMES, FEATURE_SET_VERSION
from models.native_trees import Tree, TreeSum

FORMAT_VERSION = 1
SCORER_FILE = "scorer.npz"
_REQUIRED = (
    "format_version",
    "feature_set_version",
    "feature_names",
    "model_version",
    "threshold",
    "scaler_mean",
    "scaler_scale",
    "denominator",
    "tree_offsets",
    "left",
    "right",
    "feature",
    "split",
    "leaf_value",
)


class ModelFormatError(ValueError):
    """The portable file does not fit this code; the message says what differs and the fix."""


class PortableScorer:
    """Scaler + Isolation Forest from a portable file; `score` equals sklearn `score_samples`."""

    def __init__(self, arrays: dict[str, npt.NDArray[Any]], source: str = "<arrays>") -> None:
        self.source = source
        self.model_version = str(arrays["model_version"])
        self.threshold = float(arrays["threshold"])
        self.feature_names: tuple[str, ...] = tuple(str(n) for n in arrays["feature_names"])
        self.mean = [float(v) for v in arrays["scaler_mean"]]
        self.scale = [float(v) for v in arrays["scaler_scale"]]
        self.denominator = float(arrays["denominator"])
        self.trees = trees_from_arrays(arrays, len(self.feature_names))
        width = len(self.feature_names)
        self.tree_sum = TreeSum(self.trees, width)
        self._width = width

    @classmethod
    def load(cls, path: str | Path) -> PortableScorer:
        """Read a portable file; a mismatch with this code raises `ModelFormatError`."""
        path = Path(path)
        if not path.is_file():
            raise ModelFormatError(f"no model file at {path}: run `fraudctl train` to create it")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise ModelFormatError(f"{path} is not a portable scorer file ({error})") from None
        check_compatible(arrays, str(path))
        return cls(arrays, str(path))

    @property
    def n_trees(self) -> int:
        return len(self.trees)

    def score(self, vector: Sequence[float]) -> float:
        """sklearn `score_samples` of one vector (in `feature_names` order)."""
        if len(vector) != self._width:
            raise ValueError(
                f"expected {self._width} features ({', '.join(self.feature_names)}), "
                f"got {len(vector)}"
            )
        # float64 standardisation, then float32 like the forest's input (inf on overflow)
        scaled = [(v - m) / s for v, m, s in zip(vector, self.mean, self.scale, strict=True)]
        x = array("f", scaled).tolist()
        if not math.isfinite(sum(x)):  # any nan or inf makes the sum non-finite
            raise ValueError(f"feature values must be finite, got {list(vector)}")
        depth = self.tree_sum.total(x)
        return -float(2.0 ** (-(depth / self.denominator)))

    def anomaly_score(self, vector: Sequence[float]) -> float:
        """0..1, higher = more suspicious; compare with `threshold`."""
        return -self.score(vector)

    def score_reference(self, vector: Sequence[float]) -> float:
        """Same as `score` by walking the arrays (slow; a cross-check for tests)."""
        scaled = [(v - m) / s for v, m, s in zip(vector, self.mean, self.scale, strict=True)]
        x = array("f", scaled).tolist()
        depth = 0.0
        for tree in self.trees:
            left, right, feature, split, leaf_value = tree
            node = 0
            while left[node] >= 0:
                node = left[node] if x[feature[node]] <= split[node] else right[node]
            depth += leaf_value[node]
        return -float(2.0 ** (-(depth / self.denominator)))


def check_compatible(arrays: dict[str, Any], source: str) -> None:
    """Raise `ModelFormatError` naming both sides when the file does not fit this code."""
    missing = [key for key in _REQUIRED if key not in arrays]
    if missing:
        raise ModelFormatError(
            f"{source} lacks {', '.join(missing)}: it is not a fraudctl scorer file; "
            "retrain with `fraudctl train`"
        )
    found = int(arrays["format_version"])
    if found != FORMAT_VERSION:
        raise ModelFormatError(
            f"{source} has scorer format version {found} but this code reads version "
            f"{FORMAT_VERSION}: retrain with `fraudctl train`"
        )
    names = tuple(str(n) for n in arrays["feature_names"])
    feature_set = int(arrays["feature_set_version"])
    if names != FEATURE_NAMES or feature_set != FEATURE_SET_VERSION:
        raise ModelFormatError(
            f"{source} was trained on features [{', '.join(names)}] (feature set {feature_set}) "
            f"but this code computes [{', '.join(FEATURE_NAMES)}] (feature set "
            f"{FEATURE_SET_VERSION}): retrain with `fraudctl train`"
        )


def trees_from_arrays(arrays: dict[str, npt.NDArray[Any]], width: int) -> list[Tree]:
    """Validated trees (children as local indices, leaves with left < 0) from flat arrays."""
    offsets = [int(v) for v in arrays["tree_offsets"]]
    columns = {key: arrays[key].tolist() for key in ("left", "right", "feature")}
    split = [float(v) for v in arrays["split"]]
    leaf_value = [float(v) for v in arrays["leaf_value"]]
    trees: list[Tree] = []
    for start, end in pairwise(offsets):
        left = [int(v) for v in columns["left"][start:end]]
        right = [int(v) for v in columns["right"][start:end]]
        feature = [int(v) for v in columns["feature"][start:end]]
        size = end - start
        for node in range(size):
            if left[node] >= 0:
                ok = (
                    node < left[node] < size
                    and node < right[node] < size
                    and 0 <= feature[node] < width
                )
                if not ok or not math.isfinite(split[start + node]):
                    raise ModelFormatError(f"tree node {start + node} is corrupt: retrain")
            elif not math.isfinite(leaf_value[start + node]):
                raise ModelFormatError(f"leaf {start + node} has a non-finite value: retrain")
        trees.append((left, right, feature, split[start:end], leaf_value[start:end]))
    if not trees:
        raise ModelFormatError("the scorer file has no trees: retrain")
    return trees
