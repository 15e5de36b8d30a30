"""Unit tests score with the Python trees: a native build per small trained model would only
load the host (tests/unit/models/test_native_trees.py turns it back on)."""

import pytest

from models.native_trees import NATIVE_ENV


@pytest.fixture(autouse=True)
def _python_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NATIVE_ENV, "0")
