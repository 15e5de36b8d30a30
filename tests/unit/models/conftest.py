"""Shared builders and trained models for the model tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pytest

from models.artifact_files import CLASSIFIER_FILE, FOREST_FILE, SCALER_FILE
from models.artifacts import DEFAULT_ARTIFACTS_DIR, ensure_model
from models.contracts.transaction import Transaction
from models.generator import generate_dataset
from models.label_risk import DAY_MS
from models.registry import ModelRegistry
from models.supervised import replay_labelled
from models.training import ModelCard, TrainingConfig, train

BASE_TIME = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)

# Small enough to train in a couple of seconds, big enough to have every pattern.
SMALL = {
    "users": 300,
    "days": 6.0,
    "eval_users": 300,
    "eval_days": 6.0,
    "fraud_ratio": 0.03,
    "n_estimators": 40,
    "max_samples": 512,
    "supervised_days": 10.0,
    "label_delay_days": 3.0,
}

MakeTxn = Callable[..., Transaction]


@pytest.fixture
def make_txn() -> MakeTxn:
    """Build a Transaction with defaults; `at` is seconds after BASE_TIME."""
    counter = iter(range(1_000_000))

    def build(at: float = 0.0, **fields: Any) -> Transaction:
        values: dict[str, Any] = {
            "transaction_id": f"txn_{next(counter)}",
            "user_id": "user-test-123",
            "card_last4": "4242",
            "card_fingerprint": "f" * 64,
            "amount": 50.0,
            "currency": "USD",
            "merchant_id": "merchant_a",
            "location": "New York",
            "timestamp": BASE_TIME + timedelta(seconds=at),
        }
        values.update(fields)
        return Transaction(**values)

    return build


@pytest.fixture(scope="session")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelCard]:
    """A registry root with one small trained version (current)."""
    root = tmp_path_factory.mktemp("small-model")
    card = train(TrainingConfig(output_dir=root, **SMALL))  # type: ignore[arg-type]
    return root, card


@pytest.fixture(scope="session")
def small_model(small_registry: tuple[Path, ModelCard]) -> tuple[Path, ModelCard]:
    """The version directory of the small model (every file of one package)."""
    root, card = small_registry
    return ModelRegistry(root).version_dir(card.model_version), card


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The current version the stack uses (models/artifacts), trained with the defaults if
    missing."""
    return ensure_model(DEFAULT_ARTIFACTS_DIR)


def classifier_inputs(directory: Path, seed: int) -> tuple[Any, Any, Any]:
    """The version's scikit-learn classifier, generated labelled rows and their supervised
    feature matrix (user + label features + the forest's anomaly score)."""
    classifier = joblib.load(directory / CLASSIFIER_FILE)
    scaler = joblib.load(directory / SCALER_FILE)
    forest = joblib.load(directory / FOREST_FILE)
    data = generate_dataset(seed=seed, n_users=60, days=6, fraud_ratio=0.05)
    rows = replay_labelled(((r.transaction, r.label) for r in data.records), 2 * DAY_MS)
    return classifier, rows, rows.matrix(-forest.score_samples(scaler.transform(rows.user)))
