"""`fraudctl train`: options reach the library, the evaluation is printed."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from fraudctl.commands import train as train_command
from models.training import TrainingConfig

TINY = [
    "--users", "120", "--days", "4", "--eval-users", "120", "--eval-days", "4",
    "--fraud-ratio", "0.05", "--trees", "20", "--max-samples", "256",
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
        "iforest-",
    ):
        assert text in result.output, text
    assert (tmp_path / "model_card.json").is_file() and (tmp_path / "scorer.npz").is_file()


def test_json_output_is_the_model_card(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["train", "--output-dir", str(tmp_path), "--json", *TINY])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["training"]["seed"] == 7 and card["evaluation"]["users"] == 120
    assert card["params"]["n_estimators"] == 20


def test_bad_options_are_refused_with_a_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app(), ["train", "--output-dir", str(tmp_path), "--seed", "5", "--eval-seed", "5"]
    )
    assert result.exit_code == 2
    assert "eval_seed must differ" in result.output


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
    }
    for option, field in pairs.items():
        assert options[option].default == getattr(defaults, field), option
