"""The model travels inside the job: read on the client, rebuilt in each TaskManager worker.

`ModelPackage.load` reads the portable scorer file once on the machine that submits the
job; its bytes are part of the scoring function and so of the job graph. A restart from a
checkpoint therefore scores with exactly the model the job was submitted with, and the
TaskManagers never need the artifacts directory. Retraining takes effect on the next
`fraudctl submit`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.detector import Detector
from models.scorer import SCORER_FILE, ModelFormatError, PortableScorer, check_compatible


class ModelMissing(RuntimeError):
    """No usable model artifacts; the message says how to create them."""


@dataclass(frozen=True)
class ModelPackage:
    """The portable scorer file's bytes plus what the client read from it."""

    scorer_bytes: bytes
    model_version: str
    threshold: float
    source: str

    @classmethod
    def load(cls, artifacts_dir: Path) -> ModelPackage:
        """Read the scorer (training it first when `models.artifacts` offers that)."""
        directory = _ensure_trained(artifacts_dir)
        path = directory / SCORER_FILE
        if not path.is_file():
            raise ModelMissing(
                f"no model at {path}: run `fraudctl train` (or `fraudctl setup`) first, or "
                "point FRAUDCTL_MODEL__ARTIFACTS_DIR at a directory that has one"
            )
        data = path.read_bytes()
        try:
            scorer = scorer_from_bytes(data, str(path))
        except ModelFormatError as error:
            raise ModelMissing(str(error)) from None
        return cls(data, scorer.model_version, scorer.threshold, str(path))

    def detector(self) -> Detector:
        return Detector(scorer_from_bytes(self.scorer_bytes, self.source))


def scorer_from_bytes(data: bytes, source: str) -> PortableScorer:
    """The portable scorer from the file's bytes (no pickle: `allow_pickle=False`)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise ModelFormatError(f"{source} is not a portable scorer file ({error})") from None
    check_compatible(arrays, source)
    return PortableScorer(arrays, source)


def _ensure_trained(artifacts_dir: Path) -> Path:
    try:
        from models.artifacts import ensure_model  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return artifacts_dir
    path = Path(ensure_model(artifacts_dir))
    return path if path.is_dir() else path.parent
