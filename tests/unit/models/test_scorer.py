"""The portable scorer equals sklearn `score_samples` and refuses files that do not fit."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from models.export import portable_arrays, write_portable
from models.features import FEATURE_NAMES
from models.generator import generate_dataset
from models.scorer import FORMAT_VERSION, ModelFormatError, PortableScorer
from models.training import replay

WIDTH = len(FEATURE_NAMES)
Matrix = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def real_vectors() -> Matrix:
    vectors, _, _ = replay(generate_dataset(seed=5, n_users=200, days=5, fraud_ratio=0.05))
    return vectors


def fitted(vectors: Matrix, **forest: Any) -> tuple[StandardScaler, IsolationForest]:
    scaler = StandardScaler().fit(vectors)
    model = IsolationForest(random_state=3, **forest).fit(scaler.transform(vectors))
    return scaler, model


def probe_set(vectors: Matrix, n: int = 6000) -> Matrix:
    """Real vectors, jittered copies, and far-out values on every side."""
    rng = np.random.default_rng(0)
    picks = vectors[rng.integers(0, len(vectors), n // 3)]
    jitter = picks + rng.normal(0, 1, picks.shape) * vectors.std(axis=0)
    wild = rng.uniform(-50, 50, (n - 2 * len(picks), WIDTH))
    assert len(wild) > 0
    return np.vstack([picks, jitter, wild])


@pytest.mark.parametrize(
    "forest",
    [
        {"n_estimators": 100, "max_samples": 256},
        {"n_estimators": 60, "max_samples": 2048},
        {"n_estimators": 30, "max_samples": 128, "max_features": 0.6},
    ],
)
def test_scores_equal_sklearn_on_thousands_of_vectors(
    real_vectors: Matrix, forest: dict[str, Any], tmp_path: Path
) -> None:
    scaler, model = fitted(real_vectors, **forest)
    path = tmp_path / "scorer.npz"
    write_portable(path, portable_arrays(scaler, model, threshold=0.6, model_version="t"))
    scorer = PortableScorer.load(path)
    probes = probe_set(real_vectors)
    expected = model.score_samples(scaler.transform(probes))
    got = np.array([scorer.score(row.tolist()) for row in probes])
    assert len(probes) >= 5000
    assert np.max(np.abs(got - expected)) <= 1e-9
    walked = np.array([scorer.score_reference(row.tolist()) for row in probes[:500]])
    assert np.max(np.abs(walked - expected[:500])) <= 1e-9
    assert scorer.anomaly_score(probes[0].tolist()) == -got[0]


def test_metadata_is_exposed(real_vectors: Matrix, tmp_path: Path) -> None:
    scaler, model = fitted(real_vectors, n_estimators=10)
    path = tmp_path / "scorer.npz"
    write_portable(path, portable_arrays(scaler, model, threshold=0.61, model_version="iforest-x"))
    scorer = PortableScorer.load(path)
    assert scorer.threshold == 0.61 and scorer.model_version == "iforest-x"
    assert scorer.feature_names == FEATURE_NAMES and scorer.n_trees == 10


def arrays_with(real_vectors: Matrix, **changes: Any) -> dict[str, Any]:
    scaler, model = fitted(real_vectors, n_estimators=5)
    arrays = portable_arrays(scaler, model, threshold=0.6, model_version="t")
    arrays.update(changes)
    return arrays


def test_other_feature_list_is_refused_naming_both(real_vectors: Matrix, tmp_path: Path) -> None:
    names = np.array([*FEATURE_NAMES[:-1], "hour_surprise"])
    path = tmp_path / "scorer.npz"
    write_portable(path, arrays_with(real_vectors, feature_names=names))
    with pytest.raises(ModelFormatError) as error:
        PortableScorer.load(path)
    message = str(error.value)
    assert "hour_surprise" in message and "hour_deviation" in message
    assert "fraudctl train" in message


def test_other_format_version_is_refused_naming_both(real_vectors: Matrix, tmp_path: Path) -> None:
    path = tmp_path / "scorer.npz"
    write_portable(path, arrays_with(real_vectors, format_version=np.int64(FORMAT_VERSION + 1)))
    with pytest.raises(
        ModelFormatError,
        match=f"version {FORMAT_VERSION + 1} but this code reads version {FORMAT_VERSION}",
    ):
        PortableScorer.load(path)


def test_missing_or_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="no model file"):
        PortableScorer.load(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelFormatError, match="not a portable scorer file"):
        PortableScorer.load(junk)
    partial = tmp_path / "partial.npz"
    buffer = io.BytesIO()
    np.savez(buffer, format_version=np.int64(1))
    partial.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFormatError, match="lacks"):
        PortableScorer.load(partial)


def test_pickled_content_is_never_loaded(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.npz"
    buffer = io.BytesIO()
    np.savez(buffer, format_version=np.array([object()], dtype=object))
    sneaky.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFormatError):
        PortableScorer.load(sneaky)


def test_corrupt_tree_is_refused(real_vectors: Matrix, tmp_path: Path) -> None:
    arrays = arrays_with(real_vectors)
    left = arrays["left"].copy()
    left[0] = 0  # a node pointing at itself would loop forever
    arrays["left"] = left
    path = tmp_path / "scorer.npz"
    write_portable(path, arrays)
    with pytest.raises(ModelFormatError, match="corrupt"):
        PortableScorer.load(path)


def test_bad_vectors_are_refused(real_vectors: Matrix) -> None:
    scorer = PortableScorer(arrays_with(real_vectors))
    with pytest.raises(ValueError, match=f"expected {WIDTH} features"):
        scorer.score([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        scorer.score([float("nan")] * WIDTH)


def test_scorer_needs_neither_sklearn_nor_pickle() -> None:
    code = (
        "import sys, models.scorer, models.detector; "
        "assert 'sklearn' not in sys.modules, 'sklearn imported'; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
