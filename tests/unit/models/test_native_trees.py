"""Native trees: the same sums as the Python trees (so as sklearn), or the Python trees stay."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from models import native_trees
from models.detector import Detector
from models.export import portable_arrays, write_portable
from models.native_trees import (
    CACHE_ENV,
    NATIVE_ENV,
    NativeTreesError,
    TreeSum,
    c_source,
    python_trees,
)
from models.scorer import PortableScorer
from models.training import ModelCard
from tests.unit.models.conftest import classifier_inputs
from tests.unit.models.test_scorer import Matrix, fitted, probe_set, real_vectors  # noqa: F401

TREES = [  # two small trees over 2 features: (left, right, feature, split, leaf_value)
    ([1, -1, 3, -1, -1], [2, -1, 4, -1, -1], [0, 0, 1, 0, 0], [0.5, 0.0, -1.25, 0.0, 0.0],
     [0.0, 1.0, 0.0, 2.5, -3.0]),
    ([-1], [-1], [0], [0.0], [0.125]),
]  # fmt: skip


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Native trees on (unit tests turn them off), built into a private temporary cache."""
    if native_trees.compiler() is None:
        pytest.skip("no C compiler on this host: the Python trees are all there is")
    monkeypatch.delenv(NATIVE_ENV, raising=False)
    directory = tmp_path / "native-cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


def small_sum(native: bool = True) -> TreeSum:
    return TreeSum(TREES, 2, native=native)


def test_the_c_source_takes_every_branch_in_order() -> None:
    source = c_source(TREES)
    assert "if (x[0] <= 0.5) {" in source and "if (x[1] <= -1.25) {" in source
    assert source.index("d += 1.0;") < source.index("d += 2.5;") < source.index("d += 0.125;")
    with pytest.raises(NativeTreesError, match="non-finite"):
        c_source([([-1], [-1], [0], [0.0], [float("nan")])])


def test_native_sums_equal_the_python_ones(cache: Path) -> None:
    trees = small_sum()
    assert trees.wait_settled() == "native"
    for x in ([0.5, -1.25], [0.6, -1.25], [0.6, -1.0], [-9.0, 9.0], [0.5000001, -1.2499]):
        assert trees.total(x) == python_trees(TREES, 2)(*x)
    assert [path.suffix for path in cache.iterdir()].count(".so") == 1


def test_the_forest_stays_bit_for_bit_sklearns(
    cache: Path,
    real_vectors: Matrix,  # noqa: F811
    tmp_path: Path,
) -> None:
    scaler, model = fitted(real_vectors, n_estimators=100, max_samples=256)
    path = tmp_path / "scorer.npz"
    write_portable(path, portable_arrays(scaler, model, threshold=0.6, model_version="t"))
    scorer = PortableScorer.load(path)
    probes = probe_set(real_vectors)
    python = [scorer.score(row.tolist()) for row in probes]
    assert scorer.tree_sum.wait_settled() == "native"
    native = [scorer.score(row.tolist()) for row in probes]
    assert native == python  # exactly: same comparisons, same order of additions
    expected = model.score_samples(scaler.transform(probes))
    assert np.max(np.abs(np.array(native) - expected)) <= 1e-9


def test_the_classifier_stays_bit_for_bit_sklearns(
    cache: Path, small_model: tuple[Path, ModelCard]
) -> None:
    directory, _card = small_model
    detector = Detector.load(directory)
    scorer = detector.supervised
    assert scorer is not None
    assert detector.wait_native() == ("native", "native")
    classifier, _rows, matrix = classifier_inputs(directory, seed=98)
    vectors = [row.tolist() for row in matrix]
    native = [scorer.tree_sum.total(x) for x in vectors]
    assert native == [scorer.tree_sum.python(*x) for x in vectors]  # exactly
    got = [scorer.probability(x) for x in vectors]
    assert np.max(np.abs(np.array(got) - classifier.predict_proba(matrix)[:, 1])) <= 1e-9


def test_turned_off_the_python_trees_score_at_once(cache: Path) -> None:
    trees = small_sum(native=False)
    assert trees.settled.is_set() and trees.kind == "python"
    assert trees.total([0.6, -1.0]) == -2.875


@pytest.mark.parametrize("how", ["no compiler", "build fails", "sums differ", "shared cache"])
def test_anything_wrong_keeps_the_python_trees_and_says_why(
    cache: Path, how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if how == "no compiler":
        monkeypatch.setenv("CC", "/nonexistent/cc")
    elif how == "build fails":
        monkeypatch.setenv("CC", "false")
    elif how == "sums differ":
        monkeypatch.setattr(native_trees, "load_native", lambda _source, _width: lambda _x: 0.5)
    else:
        cache.mkdir(mode=0o777)
        cache.chmod(0o777)
    caplog.set_level(logging.WARNING, logger="models.native_trees")
    trees = small_sum()
    assert trees.wait_settled(60) == "python"
    assert trees.total([0.6, -1.0]) == -2.875
    if how != "no compiler":
        expected = {"build fails": "false failed", "sums differ": "differs from Python",
                    "shared cache": "not private"}[how]  # fmt: skip
        assert expected in caplog.text


def test_kept_in_python_the_trees_never_switch(cache: Path) -> None:
    trees = small_sum()
    trees.keep_python()
    assert trees.wait_settled() == "python"
    assert trees.total([0.6, -1.0]) == -2.875
