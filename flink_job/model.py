"""The model travels inside the job: read on the client, rebuilt in each TaskManager worker.

`ModelPackage.load` reads the portable scorer files of the registry's current version (or
of a flat artifacts directory) once on the machine that submits the job; their bytes are
part of the scoring function and so of the job graph. This is the fallback: while the
registry has a current version that the TaskManagers can read, the scorer follows it
(flink_job/model_switch.py, hot reload); without one, it scores with this package.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.artifact_files import CURRENT_FILE, VERSIONS_DIR
from models.detector import Detector
from models.scorer import SCORER_FILE, ModelFormatError, PortableScorer, check_compatible
from models.supervised_scorer import SUPERVISED_FILE, SupervisedScorer


class ModelMissing(RuntimeError):
    """No usable model artifacts; the message says how to create them."""


@dataclass(frozen=True)
class ModelPackage:
    """The portable scorer files' bytes plus what the client read from them."""

    scorer_bytes: bytes
    model_version: str
    threshold: float
    source: str
    supervised_bytes: bytes | None = None

    @classmethod
    def load(cls, artifacts_dir: Path) -> ModelPackage:
        """Read the scorer (training it first when `models.artifacts` offers that)."""
        directory = current_directory(_ensure_trained(artifacts_dir))
        path = directory / SCORER_FILE
        if not path.is_file():
            raise ModelMissing(
                f"no model at {path}: run `fraudctl train` (or `fraudctl setup`) first, or "
                "point FRAUDCTL_MODEL__ARTIFACTS_DIR at a directory that has one"
            )
        data = path.read_bytes()
        supervised_path = directory / SUPERVISED_FILE
        supervised = supervised_path.read_bytes() if supervised_path.is_file() else None
        package = cls(data, "", 0.0, str(path), supervised)
        try:
            detector = package.detector()
        except (ModelFormatError, ValueError) as error:
            raise ModelMissing(str(error)) from None
        # Build the native trees here, once per model version (a few seconds), so the
        # TaskManagers on this host find them built instead of compiling while they score.
        detector.wait_native()
        return cls(data, detector.model_version, detector.threshold, str(path), supervised)

    def detector(self) -> Detector:
        supervised = None
        if self.supervised_bytes is not None:
            source = str(Path(self.source).with_name(SUPERVISED_FILE))
            supervised = SupervisedScorer.from_bytes(self.supervised_bytes, source)
        return Detector(scorer_from_bytes(self.scorer_bytes, self.source), supervised)


def current_directory(artifacts_dir: Path) -> Path:
    """The registry's current version directory, or `artifacts_dir` itself (flat layout)."""
    pointer = artifacts_dir / CURRENT_FILE
    if pointer.is_file():
        version = pointer.read_text().strip()
        if version:
            return artifacts_dir / VERSIONS_DIR / version
    return artifacts_dir


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
