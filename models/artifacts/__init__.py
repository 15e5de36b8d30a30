"""Where the trained model lives, and `ensure_model` to (re)train it when missing or stale.

Generated files here are git-ignored; this module is not.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from models.scorer import SCORER_FILE, ModelFormatError, PortableScorer

if TYPE_CHECKING:
    from models.training import TrainingConfig

DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parent
CARD_FILE = "model_card.json"
SCALER_FILE = "scaler.joblib"
FOREST_FILE = "isolation_forest.joblib"
LOCK_FILE = ".train.lock"


def model_problem(artifacts_dir: Path) -> str | None:
    """Why the model in `artifacts_dir` cannot be used (None when it can)."""
    card_path = artifacts_dir / CARD_FILE
    if not card_path.is_file():
        return f"no model card at {card_path}"
    try:
        scorer = PortableScorer.load(artifacts_dir / SCORER_FILE)
    except ModelFormatError as error:
        return str(error)
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as error:
        return f"{card_path} is unreadable ({error})"
    if card.get("model_version") != scorer.model_version:
        return (
            f"{card_path} describes {card.get('model_version')!r} but {SCORER_FILE} holds "
            f"{scorer.model_version!r}"
        )
    return None


def ensure_model(
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR,
    log: Callable[[str], None] | None = None,
    config: TrainingConfig | None = None,
) -> Path:
    """Train when the artifacts are missing or stale; return the directory.

    Trains with the default `TrainingConfig` (about 20-30 s of CPU) unless `config` is
    given (its `output_dir` is replaced by `artifacts_dir`). A file lock makes concurrent
    callers wait for one training instead of racing.
    """
    artifacts_dir = Path(artifacts_dir)
    if model_problem(artifacts_dir) is None:
        return artifacts_dir
    with artifacts_lock(artifacts_dir):
        problem = model_problem(artifacts_dir)
        if problem is not None:
            from models.training import TrainingConfig, train  # sklearn only when needed

            if log is not None:
                log(f"training the fraud model ({problem})")
            chosen = TrainingConfig(output_dir=artifacts_dir)
            if config is not None:
                chosen = dataclasses.replace(config, output_dir=artifacts_dir)
            card = train(chosen)
            if log is not None:
                log(f"trained {card.model_version} in {card.training_seconds:.0f} s")
    return artifacts_dir


_held: dict[Path, int] = {}


@contextmanager
def artifacts_lock(artifacts_dir: Path) -> Iterator[None]:
    """Exclusive across processes (flock), re-entrant within one (train inside ensure_model)."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    key = artifacts_dir.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with open(key / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(lock, fcntl.LOCK_UN)
