"""Train a whole package (forest + classifier) from any labelled data, and publish it.

`train_from_records` replays transactions (a labelled file, `fraudctl train --data`);
`train_from_rows` takes feature rows someone already computed (the job's decision log,
`fraudctl train --from-log`) and keeps the current forest, since the logged anomaly
scores came from it. Both cut time slices: train, validation (thresholds), test (report).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.artifact_files import CARD_FILE, SCORER_FILE, SUPERVISED_FILE
from models.contracts.transaction import Transaction
from models.evaluation import choose_threshold, evaluate
from models.export import portable_arrays, write_atomically, write_portable
from models.features import FEATURE_NAMES, FEATURE_SET_VERSION
from models.registry import ModelRegistry, artifacts_lock
from models.scorer import FORMAT_VERSION, PortableScorer
from models.supervised import SupervisedConfig, replay_labelled, time_slices, train_supervised
from models.training import (
    ModelCard,
    TrainingConfig,
    _fit,
    _model_version,
    library_versions,
    save_artifacts,
)


@dataclass(frozen=True)
class PackageConfig:
    """Forest and classifier settings for training from external data."""

    output_dir: Path
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    n_estimators: int = 100
    max_samples: int = 2048
    forest_rows: int = 200_000  # the forest is fitted on a sample of the training slice
    model_seed: int = 0


def train_from_records(
    records: list[tuple[Transaction, str | None]],
    config: PackageConfig,
    source: dict[str, Any],
) -> ModelCard:
    """Replay (labels `label_delay_ms` late), fit forest + classifier, publish, return card."""
    started = time.perf_counter()
    settings = config.supervised
    rows = replay_labelled(records, settings.label_delay_ms, settings.legit_label_share)
    if len(rows) < 100:
        raise ValueError(f"only {len(rows)} usable transactions: give at least 100")
    train_rows, check_rows, test_rows = time_slices(rows.times, settings)
    sample = train_rows
    if len(sample) > config.forest_rows:
        rng = np.random.default_rng(config.model_seed)
        sample = np.sort(rng.choice(train_rows, size=config.forest_rows, replace=False))
    forest_config = TrainingConfig(
        output_dir=config.output_dir,
        n_estimators=config.n_estimators,
        max_samples=config.max_samples,
        model_seed=config.model_seed,
    )
    scaler, forest = _fit(rows.user[sample], forest_config)
    anomaly = -forest.score_samples(scaler.transform(rows.user))
    check_tags = [rows.tags[i] for i in check_rows]
    if not any(check_tags):
        raise ValueError("the validation time slice has no fraud: give more (or longer) data")
    threshold = choose_threshold(anomaly[check_rows], check_tags, settings.target_precision)
    arrays = portable_arrays(scaler, forest, threshold, model_version="")
    arrays["model_version"] = np.array(_model_version(arrays))
    anomaly_version = str(arrays["model_version"])
    result = train_supervised(
        rows.matrix(anomaly), rows.fraud, rows.tags, rows.times, anomaly_version, settings
    )
    result.report["label_counts"]["labels_fed"] = rows.labels_fed
    test_tags = [rows.tags[i] for i in test_rows]
    card = ModelCard(
        model_version=result.model_version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        format_version=FORMAT_VERSION,
        feature_set_version=FEATURE_SET_VERSION,
        feature_names=FEATURE_NAMES,
        threshold=threshold,
        threshold_rule=(
            f"lowest anomaly score with precision >= {settings.target_precision} on the "
            "validation time slice (best F1 when unreachable)"
        ),
        score="anomaly_score = -IsolationForest.score_samples (0..1); flag when >= threshold",
        params={
            "n_estimators": config.n_estimators,
            "max_samples": int(forest.max_samples_),
            "model_seed": config.model_seed,
            "forest_rows": len(sample),
        },
        training={**source, "rows_used": len(rows), "forest_rows": len(sample)},
        validation=evaluate(anomaly[check_rows], check_tags, threshold).to_dict(),
        evaluation=_forest_test(anomaly[test_rows], test_tags, threshold),
        versions=library_versions(),
        training_seconds=round(time.perf_counter() - started, 1),
        anomaly_model_version=anomaly_version,
        supervised=result.report,
    )
    save_artifacts(config.output_dir, card, arrays, scaler, forest, result)
    return card


def train_from_rows(
    user: npt.NDArray[np.float64],
    label: npt.NDArray[np.float64],
    fraud: npt.NDArray[np.bool_],
    times: npt.NDArray[np.int64],
    config: PackageConfig,
    source: dict[str, Any],
    base_version: str | None = None,
) -> ModelCard:
    """A classifier on logged user + label features, packaged with the forest of
    `base_version` (default: the current one), which re-scores every row so the anomaly
    feature comes from one forest even when the log spans several."""
    started = time.perf_counter()
    registry = ModelRegistry(config.output_dir)
    base_dir = registry.version_dir(base_version or registry.current_version())
    base = ModelCard.load(base_dir / CARD_FILE)
    scorer = PortableScorer.load(base_dir / SCORER_FILE)
    anomaly = np.array([scorer.anomaly_score(row) for row in user.tolist()], dtype=np.float64)
    features = np.column_stack([user, label, anomaly])
    tags: list[str | None] = ["fraud" if f else None for f in fraud]
    result = train_supervised(features, fraud, tags, times, scorer.model_version, config.supervised)
    card = ModelCard(
        **{
            **base.to_dict(),
            "feature_names": base.feature_names,
            "model_version": result.model_version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training": {**source, "rows_used": len(fraud), "forest_from": base.model_version},
            "training_seconds": round(time.perf_counter() - started, 1),
            "anomaly_model_version": scorer.model_version,
            "supervised": result.report,
        }
    )
    with artifacts_lock(registry.root), registry.staging() as staged:
        (staged / SCORER_FILE).write_bytes((base_dir / SCORER_FILE).read_bytes())
        write_portable(staged / SUPERVISED_FILE, result.arrays)
        write_atomically(staged / CARD_FILE, (json.dumps(card.to_dict(), indent=2) + "\n").encode())
        registry.publish(staged)
    return card


def _forest_test(
    scores: npt.NDArray[np.float64], tags: list[str | None], threshold: float
) -> dict[str, Any]:
    if not tags:
        return {}
    return evaluate(scores, tags, threshold).to_dict()
