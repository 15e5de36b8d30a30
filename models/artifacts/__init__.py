"""Where the trained models live (a `models.registry` root), and `ensure_model`.

Generated files here are git-ignored; this module is not. `ensure_model` and
`model_problem` take the registry root and speak about its `current` version;
`ensure_model` returns that version's directory (it holds `scorer.npz`, and
`supervised.npz` when a classifier was trained).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from models.artifact_files import (
    CARD_FILE,
    CLASSIFIER_FILE,
    CURRENT_FILE,
    FOREST_FILE,
    LOCK_FILE,
    SCALER_FILE,
    SCORER_FILE,
    SUPERVISED_FILE,
    VERSIONS_DIR,
)
from models.registry import ModelRegistry, NoModel, artifacts_lock

if TYPE_CHECKING:
    from models.training import TrainingConfig

DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parent

__all__ = [
    "CARD_FILE",
    "CLASSIFIER_FILE",
    "CURRENT_FILE",
    "DEFAULT_ARTIFACTS_DIR",
    "FOREST_FILE",
    "LOCK_FILE",
    "SCALER_FILE",
    "SCORER_FILE",
    "SUPERVISED_FILE",
    "VERSIONS_DIR",
    "artifacts_lock",
    "ensure_model",
    "model_problem",
]


def model_problem(artifacts_dir: Path) -> str | None:
    """Why the current model under `artifacts_dir` cannot be used (None when it can)."""
    return ModelRegistry(artifacts_dir).problem()


def ensure_model(
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR,
    log: Callable[[str], None] | None = None,
    config: TrainingConfig | None = None,
) -> Path:
    """Train when no usable current model exists; return the current version's directory.

    Files from before versions existed (directly in `artifacts_dir`) are ignored. Trains
    with the default `TrainingConfig` unless `config` is given (its `output_dir` is
    replaced by `artifacts_dir`). A file lock makes concurrent callers wait for one
    training instead of racing.
    """
    registry = ModelRegistry(Path(artifacts_dir))
    if registry.problem() is None:
        return registry.version_dir(registry.current_version())
    with artifacts_lock(registry.root):
        problem = registry.problem()
        if problem is not None:
            from models.training import TrainingConfig, train  # sklearn only when needed

            if log is not None:
                log(f"training the fraud model ({problem})")
            chosen = TrainingConfig(output_dir=registry.root)
            if config is not None:
                chosen = dataclasses.replace(config, output_dir=registry.root)
            card = train(chosen)
            if log is not None:
                log(f"trained {card.model_version} in {card.training_seconds:.0f} s")
    try:
        return registry.version_dir(registry.current_version())
    except NoModel as error:  # pragma: no cover - train always publishes
        raise RuntimeError(str(error)) from None
