"""Train the detector: generate, replay through the feature code, fit, pick a threshold, evaluate.

Training data (seed `train_seed`) is split by user: the forest is fitted, without labels,
on the transactions of most users; the alert threshold is chosen on the rest, with labels.
The evaluation uses a separate population generated from `eval_seed`. Then the supervised
classifier learns from the same population over `supervised_days` (labels arriving
`label_delay_days` late, see models.supervised). The package is published as a new version
in the registry at `output_dir` and made current. Same config, same numbers: every random
choice is seeded.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from models.artifact_files import (
    CARD_FILE,
    CLASSIFIER_FILE,
    FOREST_FILE,
    SCALER_FILE,
    SCORER_FILE,
    SUPERVISED_FILE,
)
from models.evaluation import choose_threshold, evaluate
from models.export import portable_arrays, write_atomically, write_portable
from models.features import FEATURE_NAMES, FEATURE_SET_VERSION, UserState, update_and_extract
from models.generator import Dataset, generate_dataset
from models.label_risk import DAY_MS
from models.patterns import DEFAULT_PATTERNS, Pattern
from models.registry import ModelRegistry, artifacts_lock
from models.scorer import FORMAT_VERSION
from models.supervised import (
    SupervisedConfig,
    SupervisedResult,
    metrics,
    replay_labelled,
    train_supervised,
)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides the model; the defaults train in well under a minute."""

    output_dir: Path
    train_seed: int = 7
    eval_seed: int = 1007
    users: int = 2000
    days: float = 14.0
    eval_users: int = 3000
    eval_days: float = 14.0
    fraud_ratio: float = 0.02
    patterns: tuple[Pattern, ...] = field(default=DEFAULT_PATTERNS)
    n_estimators: int = 100
    max_samples: int = 2048
    model_seed: int = 0
    validation_share: float = 0.3
    target_precision: float = 0.85
    supervised: bool = True
    supervised_days: float = 28.0
    label_delay_days: float = 7.0

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_share < 1.0:
            raise ValueError(f"validation_share must be in (0, 1), got {self.validation_share}")
        if not 0.0 < self.target_precision <= 1.0:
            raise ValueError(f"target_precision must be in (0, 1], got {self.target_precision}")
        if self.train_seed == self.eval_seed:
            raise ValueError("eval_seed must differ from train_seed: evaluation needs unseen data")
        if self.n_estimators < 1 or self.max_samples < 2:
            raise ValueError("n_estimators must be >= 1 and max_samples >= 2")
        if self.supervised and self.supervised_days <= self.label_delay_days:
            raise ValueError(
                f"supervised_days ({self.supervised_days}) must exceed label_delay_days "
                f"({self.label_delay_days}): labels must arrive within the data"
            )


@dataclass(frozen=True)
class ModelCard:
    """What was trained, on what, and how well it does (saved as model_card.json)."""

    model_version: str
    created_at: str
    format_version: int
    feature_set_version: int
    feature_names: tuple[str, ...]
    threshold: float
    threshold_rule: str
    score: str
    params: dict[str, Any]
    training: dict[str, Any]
    validation: dict[str, Any]
    evaluation: dict[str, Any]
    versions: dict[str, str]
    training_seconds: float
    anomaly_model_version: str = ""
    supervised: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["feature_names"] = list(self.feature_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        values = dict(data)
        values["feature_names"] = tuple(values["feature_names"])
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        return cls.from_dict(json.loads(path.read_text()))


def replay(dataset: Dataset) -> tuple[npt.NDArray[Any], list[str | None], list[str]]:
    """Feature vectors in event-time order, with labels and user ids (duplicates skipped)."""
    states: dict[str, UserState] = {}
    vectors: list[tuple[float, ...]] = []
    labels: list[str | None] = []
    users: list[str] = []
    for record in dataset.records:
        txn = record.transaction
        result = update_and_extract(states.get(txn.user_id), txn)
        if result.duplicate:
            continue
        states[txn.user_id] = result.state
        vectors.append(result.vector)
        labels.append(record.label)
        users.append(txn.user_id)
    return np.array(vectors, dtype=np.float64), labels, users


def train(config: TrainingConfig) -> ModelCard:
    """Train, evaluate, publish a new version under `config.output_dir`; return the card."""
    started = time.perf_counter()
    days = max(config.days, config.supervised_days) if config.supervised else config.days
    full_set = generate_dataset(
        config.train_seed, config.users, days, config.fraud_ratio, config.patterns
    )
    train_set = _prefix(full_set, config.days)
    vectors, labels, users = replay(train_set)
    fit_rows, check_rows = _split_by_user(users, config.validation_share, config.train_seed)
    scaler, forest = _fit(vectors[fit_rows], config)

    check_scores = -forest.score_samples(scaler.transform(vectors[check_rows]))
    check_labels = [labels[i] for i in check_rows]
    threshold = choose_threshold(check_scores, check_labels, config.target_precision)
    validation = evaluate(check_scores, check_labels, threshold)

    eval_set = generate_dataset(
        config.eval_seed, config.eval_users, config.eval_days, config.fraud_ratio, config.patterns
    )
    eval_vectors, eval_labels, _ = replay(eval_set)
    evaluation = evaluate(
        -forest.score_samples(scaler.transform(eval_vectors)), eval_labels, threshold
    )

    arrays = portable_arrays(scaler, forest, threshold, model_version="")
    arrays["model_version"] = np.array(_model_version(arrays))
    anomaly_version = str(arrays["model_version"])
    supervised = None
    if config.supervised:
        supervised = _train_supervised_on(
            full_set, eval_set, scaler, forest, anomaly_version, config
        )
    card = ModelCard(
        model_version=supervised.model_version if supervised else anomaly_version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        format_version=FORMAT_VERSION,
        feature_set_version=FEATURE_SET_VERSION,
        feature_names=FEATURE_NAMES,
        threshold=threshold,
        threshold_rule=(
            f"lowest anomaly score with precision >= {config.target_precision} "
            f"on the validation users ({config.validation_share:.0%} of training users)"
        ),
        score="anomaly_score = -IsolationForest.score_samples (0..1); flag when >= threshold",
        params={
            "n_estimators": config.n_estimators,
            "max_samples": int(forest.max_samples_),
            "model_seed": config.model_seed,
            "target_precision": config.target_precision,
        },
        training=_data_summary(train_set, len(fit_rows), config.patterns),
        validation=validation.to_dict(),
        evaluation={
            **_data_summary(eval_set, len(eval_labels), config.patterns),
            **evaluation.to_dict(),
        },
        versions=library_versions(),
        training_seconds=round(time.perf_counter() - started, 1),
        anomaly_model_version=anomaly_version,
        supervised=supervised.report if supervised else None,
    )
    save_artifacts(config.output_dir, card, arrays, scaler, forest, supervised)
    return card


def _train_supervised_on(
    full_set: Dataset,
    eval_set: Dataset,
    scaler: StandardScaler,
    forest: IsolationForest,
    anomaly_version: str,
    config: TrainingConfig,
) -> SupervisedResult:
    """The classifier on the training population, checked on the evaluation population too."""
    settings = SupervisedConfig(
        label_delay_ms=int(config.label_delay_days * DAY_MS),
        model_seed=config.model_seed,
        target_precision=config.target_precision,
    )
    pairs = ((r.transaction, r.label) for r in full_set.records)
    rows = replay_labelled(pairs, settings.label_delay_ms)
    anomaly = -forest.score_samples(scaler.transform(rows.user))
    result = train_supervised(
        rows.matrix(anomaly), rows.fraud, rows.tags, rows.times, anomaly_version, settings
    )
    result.report["label_counts"]["labels_fed"] = rows.labels_fed
    held = replay_labelled(((r.transaction, r.label) for r in eval_set.records), 0)
    # labels arrive late: judge only rows after the first delay, when the book is warm
    warm = held.times >= held.times.min() + settings.label_delay_ms if len(held) else held.fraud
    if warm.any() and held.fraud[warm].any():
        held_late = replay_labelled(
            ((r.transaction, r.label) for r in eval_set.records), settings.label_delay_ms
        )
        matrix = held_late.matrix(-forest.score_samples(scaler.transform(held_late.user)))
        scores = result.classifier.predict_proba(matrix[warm])[:, 1]
        result.report["evaluation"] = {
            "seed": eval_set.seed,
            "from_day": config.label_delay_days,
            **metrics(
                scores,
                held_late.fraud[warm],
                [held_late.tags[i] for i in np.flatnonzero(warm)],
                result.threshold,
            ),
        }
    return result


def _prefix(dataset: Dataset, days: float) -> Dataset:
    """The first `days` of a generated dataset (a stream: longer runs extend shorter ones)."""
    if days >= dataset.days:
        return dataset
    end = dataset.start_ms + int(days * DAY_MS)
    kept = tuple(r for r in dataset.records if r.transaction.event_time_ms < end)
    return replace(dataset, days=days, records=kept)


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _fit(rows: npt.NDArray[Any], config: TrainingConfig) -> tuple[StandardScaler, IsolationForest]:
    """Unsupervised: the labels of these rows are never looked at."""
    scaler = StandardScaler().fit(rows)
    forest = IsolationForest(
        n_estimators=config.n_estimators,
        max_samples=min(config.max_samples, len(rows)),
        random_state=config.model_seed,
    ).fit(scaler.transform(rows))
    return scaler, forest


def save_artifacts(
    registry_root: Path,
    card: ModelCard,
    arrays: dict[str, Any],
    scaler: StandardScaler,
    forest: IsolationForest,
    supervised: SupervisedResult | None = None,
    make_current: bool = True,
) -> Path:
    """Stage every file (the card last), publish as a version; return its directory."""
    registry = ModelRegistry(registry_root)
    with artifacts_lock(registry.root), registry.staging() as staged:
        objects: list[tuple[str, Any]] = [(SCALER_FILE, scaler), (FOREST_FILE, forest)]
        if supervised is not None:
            objects.append((CLASSIFIER_FILE, supervised.classifier))
            write_portable(staged / SUPERVISED_FILE, supervised.arrays)
        for name, obj in objects:
            joblib.dump(obj, staged / name)
        write_portable(staged / SCORER_FILE, arrays)
        card_json = json.dumps(card.to_dict(), indent=2) + "\n"
        write_atomically(staged / CARD_FILE, card_json.encode())
        version = registry.publish(staged, make_current=make_current)
    return registry.version_dir(version)


def metrics_of(card: ModelCard) -> dict[str, Any]:
    """The parts of a card that must repeat exactly for the same seeds."""
    return {
        "model_version": card.model_version,
        "threshold": card.threshold,
        "validation": card.validation,
        "evaluation": card.evaluation,
        "supervised": {
            key: value for key, value in (card.supervised or {}).items() if key not in ("params",)
        },
    }


def _split_by_user(
    users: Sequence[str], validation_share: float, seed: int
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    distinct = sorted(set(users))
    chosen = set(
        random.Random(seed).sample(distinct, max(1, int(len(distinct) * validation_share)))
    )
    in_check = np.array([user in chosen for user in users])
    return np.flatnonzero(~in_check), np.flatnonzero(in_check)


def _data_summary(dataset: Dataset, rows: int, patterns: Sequence[Pattern]) -> dict[str, Any]:
    return {
        "seed": dataset.seed,
        "users": dataset.n_users,
        "days": dataset.days,
        "fraud_ratio_config": dataset.fraud_ratio,
        "transactions_total": len(dataset.records),
        "frauds_total": dataset.fraud_count,
        "rows_used": rows,
        "patterns": {p.name: _pattern_config(p) for p in patterns},
    }


def _pattern_config(pattern: Pattern) -> dict[str, Any]:
    config: dict[str, Any] = asdict(pattern)  # type: ignore[call-overload]
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in config.items()
    }


def _model_version(arrays: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        if key != "model_version":
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return f"iforest-{digest.hexdigest()[:12]}"
