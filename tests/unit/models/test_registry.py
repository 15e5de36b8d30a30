"""ModelRegistry: versions side by side, an atomic `current`, list/use/load/publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.artifact_files import CARD_FILE, CURRENT_FILE, SCORER_FILE, SUPERVISED_FILE
from models.detector import Detector
from models.registry import ModelRegistry, NoModel
from models.training import ModelCard


def copy_version(source: Path, root: Path, version: str, supervised: bool = True) -> None:
    """A second version in `root`, made by copying a package and renaming it in its card."""
    target = root / "versions" / version
    target.mkdir(parents=True)
    shutil.copy2(source / SCORER_FILE, target / SCORER_FILE)
    card = json.loads((source / CARD_FILE).read_text())
    if supervised:
        shutil.copy2(source / SUPERVISED_FILE, target / SUPERVISED_FILE)
    else:
        card["model_version"] = card["anomaly_model_version"]
        card["supervised"] = None
    (target / CARD_FILE).write_text(json.dumps(card))


def test_empty_registry_says_how_to_fix(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(NoModel, match="fraudctl train"):
        registry.current_version()
    assert registry.list() == [] and "no current model" in (registry.problem() or "")
    with pytest.raises(NoModel, match="no model version 'nope'"):
        registry.use("nope")
    with pytest.raises(NoModel, match="not a model version name"):
        registry.version_dir("../escape")


def test_publish_use_list_load(small_model: tuple[Path, ModelCard], tmp_path: Path) -> None:
    source, card = small_model
    registry = ModelRegistry(tmp_path)
    with registry.staging() as staged:
        for name in (SCORER_FILE, SUPERVISED_FILE, CARD_FILE):
            shutil.copy2(source / name, staged / name)
        version = registry.publish(staged)
    assert version == card.model_version == registry.current_version()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]
    assert registry.version_dir(version).stat().st_mode & 0o777 == 0o755

    copy_version(source, tmp_path, card.anomaly_model_version, supervised=False)
    listed = {info.version: info for info in registry.list()}
    assert listed[version].current and listed[version].kind == "supervised"
    assert listed[card.anomaly_model_version].kind == "iforest"
    assert "average_precision" in listed[version].metrics

    registry.use(card.anomaly_model_version)
    assert (tmp_path / CURRENT_FILE).read_text().strip() == card.anomaly_model_version
    alone = registry.load()
    assert alone.supervised is None and alone.model_version == card.anomaly_model_version
    both = registry.load(version)
    assert both.supervised is not None and both.model_version == version
    assert Detector.load(tmp_path).model_version == card.anomaly_model_version


def test_broken_versions_are_refused(small_model: tuple[Path, ModelCard], tmp_path: Path) -> None:
    source, _ = small_model
    registry = ModelRegistry(tmp_path)
    copy_version(source, tmp_path, "broken")
    (tmp_path / "versions" / "broken" / SCORER_FILE).write_bytes(b"junk")
    with pytest.raises(NoModel, match="cannot be used"):
        registry.use("broken")
    assert registry.list()[0].problem
    with registry.staging() as staged, pytest.raises(NoModel, match="incomplete"):
        registry.publish(staged)
