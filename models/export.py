"""Turn a fitted StandardScaler + IsolationForest into the portable scorer's arrays.

This is the only scorer code that needs scikit-learn; it runs at training time.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from models.features import FEATURE_NAMES, FEATURE_SET_VERSION
from models.scorer import FORMAT_VERSION


def average_path_length(n_samples: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """c(n) of the Isolation Forest paper, computed exactly as scikit-learn does."""
    n = np.asarray(n_samples, dtype=np.float64).reshape((1, -1))
    result = np.zeros(n.shape)
    small, two = n <= 1, n == 2
    rest = ~np.logical_or(small, two)
    result[two] = 1.0
    result[rest] = 2.0 * (np.log(n[rest] - 1.0) + np.euler_gamma) - 2.0 * (n[rest] - 1.0) / n[rest]
    return result.reshape(np.asarray(n_samples).shape)


def portable_arrays(
    scaler: StandardScaler, forest: IsolationForest, threshold: float, model_version: str
) -> dict[str, Any]:
    """The arrays `PortableScorer` loads (trees concatenated, children as local indices)."""
    n_features = len(FEATURE_NAMES)
    if scaler.n_features_in_ != n_features or forest.n_features_in_ != n_features:
        raise ValueError(f"the model must be fitted on the {n_features} features {FEATURE_NAMES}")
    parts: dict[str, list[npt.NDArray[Any]]] = {
        k: [] for k in ("left", "right", "feature", "split")
    }
    leaf_values: list[npt.NDArray[np.float64]] = []
    offsets = [0]
    for estimator, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = estimator.tree_
        columns = np.asarray(features) if len(features) != n_features else np.arange(n_features)
        internal = tree.children_left >= 0
        parts["left"].append(tree.children_left.astype(np.int32))
        parts["right"].append(tree.children_right.astype(np.int32))
        parts["feature"].append(np.where(internal, columns[np.maximum(tree.feature, 0)], -1))
        parts["split"].append(np.where(internal, tree.threshold, 0.0))
        depth = _node_depths(tree.children_left, tree.children_right)
        leaf_values.append(depth + average_path_length(tree.n_node_samples) - 1.0)
        offsets.append(offsets[-1] + tree.node_count)
    denominator = len(forest.estimators_) * float(
        average_path_length(np.array([forest.max_samples_]))[0]
    )
    return {
        "format_version": np.int64(FORMAT_VERSION),
        "feature_set_version": np.int64(FEATURE_SET_VERSION),
        "feature_names": np.array(FEATURE_NAMES),
        "model_version": np.array(model_version),
        "threshold": np.float64(threshold),
        "scaler_mean": np.asarray(scaler.mean_, dtype=np.float64),
        "scaler_scale": np.asarray(scaler.scale_, dtype=np.float64),
        "denominator": np.float64(denominator),
        "tree_offsets": np.array(offsets, dtype=np.int64),
        "left": np.concatenate(parts["left"]),
        "right": np.concatenate(parts["right"]).astype(np.int32),
        "feature": np.concatenate(parts["feature"]).astype(np.int32),
        "split": np.concatenate(parts["split"]).astype(np.float64),
        "leaf_value": np.concatenate(leaf_values).astype(np.float64),
    }


def write_portable(path: Path, arrays: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _node_depths(left: npt.NDArray[Any], right: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Depth of every node, the root being 1 (as `Tree.compute_node_depths`)."""
    depth = np.zeros(len(left), dtype=np.int64)
    depth[0] = 1
    for node in range(len(left)):  # children always come after their parent
        if left[node] >= 0:
            depth[left[node]] = depth[node] + 1
            depth[right[node]] = depth[node] + 1
    return depth
