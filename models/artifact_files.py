"""Names of the files in the artifacts directory, shared by the registry, training and loading."""

from __future__ import annotations

from models.scorer import SCORER_FILE
from models.supervised_scorer import SUPERVISED_FILE

CARD_FILE = "model_card.json"
SCALER_FILE = "scaler.joblib"
FOREST_FILE = "isolation_forest.joblib"
CLASSIFIER_FILE = "classifier.joblib"
CURRENT_FILE = "current"  # the name of the version in use
VERSIONS_DIR = "versions"  # one directory per version
LOCK_FILE = ".train.lock"

__all__ = [
    "CARD_FILE",
    "CLASSIFIER_FILE",
    "CURRENT_FILE",
    "FOREST_FILE",
    "LOCK_FILE",
    "SCALER_FILE",
    "SCORER_FILE",
    "SUPERVISED_FILE",
    "VERSIONS_DIR",
]
