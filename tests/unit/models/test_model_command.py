"""`fraudctl model list|use`: versions in the registry and the current pointer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from fraudctl.commands.model import app
from models.registry import ModelRegistry
from models.training import ModelCard
from tests.unit.models.test_registry import copy_version


def test_list_and_use(small_registry: tuple[Path, ModelCard], tmp_path: Path) -> None:
    source_root, card = small_registry
    root = tmp_path / "models"
    shutil.copytree(source_root, root)
    version_dir = ModelRegistry(root).version_dir(card.model_version)
    copy_version(version_dir, root, card.anomaly_model_version, supervised=False)

    listed = CliRunner().invoke(app, ["list", "--output-dir", str(root), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["version"]: row for row in json.loads(listed.output)}
    assert rows[card.model_version]["current"] and rows[card.model_version]["kind"] == "supervised"

    used = CliRunner().invoke(app, ["use", card.anomaly_model_version, "--output-dir", str(root)])
    assert used.exit_code == 0 and card.anomaly_model_version in used.output
    assert ModelRegistry(root).current_version() == card.anomaly_model_version
    table = CliRunner().invoke(app, ["list", "--output-dir", str(root)])
    assert table.exit_code == 0 and "Models in" in table.output and "*" in table.output


def test_use_unknown_version_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["use", "gbt-nope", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no model version 'gbt-nope'" in result.output
    empty = CliRunner().invoke(app, ["list", "--output-dir", str(tmp_path)])
    assert empty.exit_code == 0 and "fraudctl train" in " ".join(empty.output.split())
