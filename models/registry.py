"""Model versions side by side in the artifacts directory, and which one is `current`.

Layout: `<root>/versions/<version>/` holds one complete package (the Isolation Forest's
`scorer.npz`, optionally the classifier's `supervised.npz`, `model_card.json` written last,
and the sklearn objects for inspection); `<root>/current` holds the name of the version
the job scores with. A version directory is built in a staging directory and renamed into
place, and `current` is replaced atomically, so a reader sees a whole version or none.
`current_version()` is one small file read: the job polls it to hot-reload.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.artifact_files import (
    CARD_FILE,
    CURRENT_FILE,
    LOCK_FILE,
    SCORER_FILE,
    SUPERVISED_FILE,
    VERSIONS_DIR,
)
from models.detector import Detector
from models.scorer import ModelFormatError, PortableScorer
from models.supervised_scorer import SupervisedScorer

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NoModel(LookupError):
    """No usable (current) model; the message says how to create or choose one."""


@dataclass(frozen=True)
class VersionInfo:
    """One stored version, as `fraudctl model list` shows it."""

    version: str
    created_at: str
    kind: str  # "supervised" (classifier + Isolation Forest) or "iforest"
    current: bool
    metrics: dict[str, Any]
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "kind": self.kind,
            "current": self.current,
            "metrics": self.metrics,
            "problem": self.problem,
        }


class ModelRegistry:
    """The versions under one artifacts directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def current_version(self) -> str:
        """The version the job should score with (cheap: one small file read)."""
        try:
            version = (self.root / CURRENT_FILE).read_text().strip()
        except FileNotFoundError:
            raise NoModel(
                f"no current model in {self.root}: run `fraudctl train` (or `fraudctl model "
                "use VERSION`)"
            ) from None
        if not version:
            raise NoModel(f"{self.root / CURRENT_FILE} is empty: run `fraudctl model use VERSION`")
        return version

    def version_dir(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise NoModel(f"{version!r} is not a model version name")
        return self.root / VERSIONS_DIR / version

    def versions(self) -> list[str]:
        folder = self.root / VERSIONS_DIR
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name))

    def list(self) -> list[VersionInfo]:
        """Every stored version, oldest first."""
        try:
            current: str | None = self.current_version()
        except NoModel:
            current = None
        found = []
        for version in self.versions():
            card = _read_card(self.version_dir(version))
            found.append(
                VersionInfo(
                    version=version,
                    created_at=str(card.get("created_at", "")),
                    kind="supervised" if card.get("supervised") else "iforest",
                    current=version == current,
                    metrics=_headline(card),
                    problem=version_problem(self.version_dir(version)),
                )
            )
        found.sort(key=lambda info: (info.created_at, info.version))
        return found

    def problem(self) -> str | None:
        """Why the current model cannot be used (None when it can)."""
        try:
            version = self.current_version()
        except NoModel as error:
            return str(error)
        return version_problem(self.version_dir(version))

    def use(self, version: str) -> None:
        """Make a stored, usable version current (the running job picks it up)."""
        directory = self.version_dir(version)
        if not directory.is_dir():
            known = ", ".join(self.versions()) or "none"
            raise NoModel(f"no model version {version!r} in {self.root} (stored: {known})")
        problem = version_problem(directory)
        if problem is not None:
            raise NoModel(f"version {version} cannot be used: {problem}")
        _write_atomically(self.root / CURRENT_FILE, (version + "\n").encode())

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private directory to build a version in; removed unless published."""
        self.root.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def publish(self, staged: Path, make_current: bool = True) -> str:
        """Move a complete staged package into `versions/` and (by default) make it current."""
        problem = version_problem(staged)
        if problem is not None:
            raise NoModel(f"refusing to publish an incomplete model: {problem}")
        version = str(_read_card(staged)["model_version"])
        target = self.version_dir(version)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():  # the name is a content hash: an existing one is the same model
            staged.chmod(0o755)  # staging directories are private until published
            os.rename(staged, target)
        if make_current:
            self.use(version)
        return version

    def load(self, version: str | None = None) -> Detector:
        """The detector of `version` (default: the current one)."""
        chosen = version or self.current_version()
        directory = self.version_dir(chosen)
        problem = version_problem(directory)
        if problem is not None:
            raise NoModel(f"model {chosen} cannot be used: {problem}")
        return Detector.load(directory)


def version_problem(directory: Path) -> str | None:
    """Why the package in `directory` cannot be used (None when it can)."""
    card_path = directory / CARD_FILE
    if not card_path.is_file():
        return f"no model card at {card_path}"
    try:
        scorer = PortableScorer.load(directory / SCORER_FILE)
        supervised_path = directory / SUPERVISED_FILE
        supervised = SupervisedScorer.load(supervised_path) if supervised_path.is_file() else None
    except ModelFormatError as error:
        return str(error)
    card = _read_card(directory)
    if not card:
        return f"{card_path} is unreadable"
    expected = supervised.model_version if supervised is not None else scorer.model_version
    if card.get("model_version") != expected:
        return (
            f"{card_path} describes {card.get('model_version')!r} but the scorer files hold "
            f"{expected!r}"
        )
    if supervised is not None and supervised.anomaly_model_version != scorer.model_version:
        return (
            f"the classifier was trained with Isolation Forest {supervised.anomaly_model_version} "
            f"but {SCORER_FILE} holds {scorer.model_version}"
        )
    return None


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


def _read_card(directory: Path) -> dict[str, Any]:
    try:
        card = json.loads((directory / CARD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _headline(card: dict[str, Any]) -> dict[str, Any]:
    """The held-out numbers worth a column in `model list`."""
    supervised = card.get("supervised") or {}
    source = supervised.get("test") or card.get("evaluation") or {}
    return {
        key: source[key]
        for key in ("average_precision", "pr_auc", "roc_auc", "precision", "recall")
        if key in source
    }


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
