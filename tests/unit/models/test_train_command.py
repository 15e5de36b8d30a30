"""`fraudctl train`: options reach the library, the evaluation is printed."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from fraudctl.commands import train as train_command
from models.registry import ModelRegistry
from models.training import TrainingConfig

TINY = [
    "--users", "150", "--days", "4", "--eval-users", "120", "--eval-days", "6",
    "--fraud-ratio", "0.06", "--trees", "20", "--max-samples", "256",
    "--supervised-days", "8", "--label-delay", "2d",
]  # fmt: skip


def app() -> typer.Typer:
    application = typer.Typer()
    train_command.register(application)

    @application.command("noop")
    def noop() -> None:  # a second command keeps `train` a named subcommand
        """Nothing."""

    return application


def test_prints_the_evaluation_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["train", "--output-dir", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    for text in (
        "precision",
        "pr_auc",
        "recall card_testing",
        "recall impossible_travel",
        "Supervised model",
        "average_precision",
        "gbt-",
    ):
        assert text in result.output, text
    registry = ModelRegistry(tmp_path)
    version = registry.current_version()
    assert version in result.output
    assert (registry.version_dir(version) / "supervised.npz").is_file()


def test_json_output_is_the_model_card(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["train", "--output-dir", str(tmp_path), "--json", *TINY])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["training"]["seed"] == 7 and card["evaluation"]["users"] == 120
    assert card["params"]["n_estimators"] == 20
    assert card["supervised"]["params"]["label_delay_ms"] == 2 * 86_400_000
    assert card["model_version"] == ModelRegistry(tmp_path).current_version()


def test_bad_options_are_refused_with_a_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app(), ["train", "--output-dir", str(tmp_path), "--seed", "5", "--eval-seed", "5"]
    )
    assert result.exit_code == 2
    assert "eval_seed must differ" in result.output
    late = CliRunner().invoke(app(), ["train", "--output-dir", str(tmp_path), "--label-delay", "x"])
    assert late.exit_code == 2 and "not a duration" in late.output
    both = CliRunner().invoke(
        app(), ["train", "--output-dir", str(tmp_path), "--data", "x.csv", "--from-log"]
    )
    assert both.exit_code == 2 and "not both" in both.output


def test_durations() -> None:
    assert train_command.parse_duration_ms("7d") == 7 * 86_400_000
    assert train_command.parse_duration_ms("12h") == 12 * 3_600_000
    assert train_command.parse_duration_ms("0") == 0
    assert train_command.parse_duration_ms("1.5") == int(1.5 * 86_400_000)


def test_cli_defaults_are_the_library_defaults() -> None:
    options = inspect.signature(train_command.train_command).parameters
    defaults = TrainingConfig(output_dir=Path("."))
    pairs = {
        "seed": "train_seed",
        "eval_seed": "eval_seed",
        "users": "users",
        "days": "days",
        "eval_users": "eval_users",
        "eval_days": "eval_days",
        "fraud_ratio": "fraud_ratio",
        "trees": "n_estimators",
        "max_samples": "max_samples",
        "target_precision": "target_precision",
        "supervised": "supervised",
        "supervised_days": "supervised_days",
    }
    for option, field in pairs.items():
        assert options[option].default == getattr(defaults, field), option
