"""The supervised model: learn fraud from labels, on features a replay could have known.

`replay_labelled` walks labelled transactions in event-time order through the same
feature code as the job (`update_and_extract`) and a `LabelRiskBook` that receives each
label only at `labelled_at = event time + label delay`, so no row sees its own label or
any label from its future. `train_supervised` fits a `HistGradientBoostingClassifier` on
[user features, label features, anomaly score] of the earliest time slice, chooses the
alert threshold on the next slice and reports on the last one (never looked at before).
Gradient-boosted trees export to the same compiled portable form as the forest
(`models.supervised_scorer`) and need ~100 shallow trees, i.e. microseconds per record.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from models.contracts.transaction import Transaction
from models.evaluation import choose_threshold, evaluate
from models.features import UserState, update_and_extract
from models.label_risk import DAY_MS, LabelRiskBook
from models.supervised_scorer import SUPERVISED_FEATURE_NAMES, SUPERVISED_FORMAT_VERSION

EXPIRE_EVERY_MS = DAY_MS


@dataclass(frozen=True)
class SupervisedConfig:
    """What shapes the classifier and its evaluation; defaults suit 10^4..10^6 rows."""

    label_delay_ms: int = 7 * DAY_MS
    legit_label_share: float = 1.0  # share of genuine transactions that get a "legit" label
    train_share: float = 0.6
    validation_share: float = 0.2  # the rest (the latest rows) is the held-out test slice
    max_iter: int = 120
    max_leaf_nodes: int = 15
    learning_rate: float = 0.1
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    model_seed: int = 0
    target_precision: float = 0.8
    # After the threshold is chosen and the slices are reported on, fit the exported model
    # again on every row: the newest labels (the validation and test slices) are the ones
    # most like tomorrow's traffic, and leaving them out costs more than it protects.
    refit_on_all: bool = True

    def __post_init__(self) -> None:
        if self.label_delay_ms < 0:
            raise ValueError(f"the label delay must be >= 0, got {self.label_delay_ms} ms")
        if not 0.0 <= self.legit_label_share <= 1.0:
            raise ValueError(f"legit_label_share must be in [0, 1], got {self.legit_label_share}")
        if min(self.train_share, self.validation_share) <= 0 or (
            self.train_share + self.validation_share >= 1.0
        ):
            raise ValueError(
                "train_share and validation_share must be > 0 and leave room for a test slice"
            )
        if not 0.0 < self.target_precision <= 1.0:
            raise ValueError(f"target_precision must be in (0, 1], got {self.target_precision}")


class TrainingLabel(NamedTuple):
    """The fields of a label the book reads (see models/contracts/label.py)."""

    transaction_id: str
    label: str
    labelled_at: int
    user_id: str | None
    merchant_id: str | None
    card_fingerprint: str | None
    source: str = "simulator"


@dataclass
class LabelledRows:
    """Replayed rows in event-time order: features as the job would have computed them."""

    user: npt.NDArray[np.float64]  # FEATURE_NAMES columns
    label: npt.NDArray[np.float64]  # LABEL_FEATURE_NAMES columns
    times: npt.NDArray[np.int64]  # event time, epoch ms
    fraud: npt.NDArray[np.bool_]
    tags: list[str | None]  # a pattern name (or "fraud") for frauds, None for genuine
    transaction_ids: list[str]
    labels_fed: dict[str, int]

    def __len__(self) -> int:
        return len(self.tags)

    def matrix(self, anomaly: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """`SUPERVISED_FEATURE_NAMES` columns."""
        return np.column_stack([self.user, self.label, anomaly])


def replay_labelled(
    records: Iterable[tuple[Transaction, str | None]],
    label_delay_ms: int,
    legit_label_share: float = 1.0,
) -> LabelledRows:
    """Features of every non-duplicate record; labels reach the book `label_delay_ms` late.

    `records` must be in event-time order. A genuine record is labelled "legit" when a
    stable hash of its id falls in `legit_label_share` (deterministic, independent of order).
    """
    states: dict[str, UserState] = {}
    book = LabelRiskBook()
    pending: deque[TrainingLabel] = deque()  # labelled_at grows with event time: a FIFO suffices
    user_rows: list[tuple[float, ...]] = []
    label_rows: list[tuple[float, ...]] = []
    times: list[int] = []
    tags: list[str | None] = []
    ids: list[str] = []
    fed = {"fraud": 0, "legit": 0}
    next_expiry = None
    last = None
    for txn, tag in records:
        now = txn.event_time_ms
        if last is not None and now < last:
            raise ValueError(
                f"records must be in event-time order: {txn.transaction_id} is older than "
                "the one before it"
            )
        last = now
        while pending and pending[0].labelled_at <= now:
            label = pending.popleft()
            book.add(label)
            fed[label.label] += 1
        if next_expiry is None or now >= next_expiry:
            book.expire(now)
            next_expiry = now + EXPIRE_EVERY_MS
        result = update_and_extract(states.get(txn.user_id), txn)
        if result.duplicate:
            continue
        states[txn.user_id] = result.state
        user_rows.append(result.vector)
        label_rows.append(book.features(txn.merchant_id, txn.user_id, txn.card_fingerprint, now))
        times.append(now)
        tags.append(tag)
        ids.append(txn.transaction_id)
        if tag is not None or _sampled(txn.transaction_id, legit_label_share):
            pending.append(
                TrainingLabel(
                    txn.transaction_id,
                    "fraud" if tag is not None else "legit",
                    now + label_delay_ms,
                    txn.user_id,
                    txn.merchant_id,
                    txn.card_fingerprint,
                )
            )
    width_user = len(user_rows[0]) if user_rows else 0
    return LabelledRows(
        user=np.array(user_rows, dtype=np.float64).reshape(len(user_rows), width_user),
        label=np.array(label_rows, dtype=np.float64).reshape(len(label_rows), -1),
        times=np.array(times, dtype=np.int64),
        fraud=np.array([tag is not None for tag in tags], dtype=bool),
        tags=tags,
        transaction_ids=ids,
        labels_fed=fed,
    )


@dataclass
class SupervisedResult:
    """A fitted classifier, its portable arrays and what the model card says about it."""

    classifier: HistGradientBoostingClassifier
    arrays: dict[str, Any]
    threshold: float
    report: dict[str, Any]

    @property
    def model_version(self) -> str:
        return str(self.arrays["model_version"])


def time_slices(
    times: npt.NDArray[np.int64], config: SupervisedConfig
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Row indices of the train, validation and test slices, cut by event time."""
    order = np.argsort(times, kind="stable")
    n = len(order)
    first = int(n * config.train_share)
    second = int(n * (config.train_share + config.validation_share))
    return order[:first], order[first:second], order[second:]


def train_supervised(
    features: npt.NDArray[np.float64],
    fraud: npt.NDArray[np.bool_],
    tags: Sequence[str | None],
    times: npt.NDArray[np.int64],
    anomaly_model_version: str,
    config: SupervisedConfig,
) -> SupervisedResult:
    """Fit on the earliest slice, threshold on the next, metrics on the latest; then (by
    default) fit the exported model on all rows, keeping that threshold."""
    if features.shape[1] != len(SUPERVISED_FEATURE_NAMES):
        raise ValueError(
            f"expected {len(SUPERVISED_FEATURE_NAMES)} columns ({SUPERVISED_FEATURE_NAMES}), "
            f"got {features.shape[1]}"
        )
    train_rows, check_rows, test_rows = time_slices(times, config)
    for name, rows in (("training", train_rows), ("validation", check_rows)):
        if not fraud[rows].any() or fraud[rows].all():
            raise ValueError(
                f"the {name} time slice needs both fraud and genuine transactions "
                f"({int(fraud[rows].sum())} frauds in {len(rows)} rows): give more data"
            )
    classifier = fit_classifier(features[train_rows], fraud[train_rows], config)
    check_scores = classifier.predict_proba(features[check_rows])[:, 1]
    check_tags = [tags[i] for i in check_rows]
    threshold = choose_threshold(check_scores, check_tags, config.target_precision)
    arrays = classifier_arrays(classifier, threshold, "", anomaly_model_version)
    arrays["model_version"] = np.array(_version_of(arrays))
    report = {
        "model_version": str(arrays["model_version"]),
        "anomaly_model_version": anomaly_model_version,
        "classifier": "HistGradientBoostingClassifier",
        "feature_names": list(SUPERVISED_FEATURE_NAMES),
        "threshold": threshold,
        "threshold_rule": (
            f"lowest fraud probability with precision >= {config.target_precision} on the "
            "validation time slice (best F1 when unreachable)"
        ),
        "params": asdict(config),
        "label_counts": {
            "rows": len(fraud),
            "fraud": int(fraud.sum()),
            "legit": int((~fraud).sum()),
            "train_rows": len(train_rows),
            "validation_rows": len(check_rows),
            "test_rows": len(test_rows),
        },
        "slices_ms": {
            "validation_from": int(times[check_rows].min()) if len(check_rows) else None,
            "test_from": int(times[test_rows].min()) if len(test_rows) else None,
        },
        "validation": metrics(check_scores, fraud[check_rows], check_tags, threshold),
        "feature_importances": gain_importances(classifier),
    }
    if len(test_rows):
        test_scores = classifier.predict_proba(features[test_rows])[:, 1]
        report["test"] = metrics(
            test_scores, fraud[test_rows], [tags[i] for i in test_rows], threshold
        )
    if config.refit_on_all:
        classifier = fit_classifier(features, fraud, config)
        arrays = classifier_arrays(classifier, threshold, "", anomaly_model_version)
        arrays["model_version"] = np.array(_version_of(arrays))
        report["model_version"] = str(arrays["model_version"])
        report["feature_importances"] = gain_importances(classifier)
        report["refit"] = (
            f"the exported model was fitted again on all {len(fraud):,} rows after the "
            "threshold was chosen; the slice metrics describe the model fitted on the "
            "training slice"
        )
    return SupervisedResult(classifier, arrays, threshold, report)


def fit_classifier(
    rows: npt.NDArray[np.float64], fraud: npt.NDArray[np.bool_], config: SupervisedConfig
) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        learning_rate=config.learning_rate,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        early_stopping=False,
        random_state=config.model_seed,
    ).fit(rows, fraud.astype(np.int64))


def metrics(
    scores: npt.NDArray[np.float64],
    fraud: npt.NDArray[np.bool_],
    tags: Sequence[str | None],
    threshold: float,
) -> dict[str, Any]:
    """AP, ROC-AUC, precision/recall at the threshold, recall per pattern."""
    result: dict[str, Any] = evaluate(scores, tags, threshold).to_dict()
    result["average_precision"] = result["pr_auc"]
    both = bool(fraud.any() and not fraud.all())
    result["roc_auc"] = round(float(roc_auc_score(fraud, scores)), 4) if both else None
    return result


def gain_importances(classifier: HistGradientBoostingClassifier) -> dict[str, float]:
    """Share of the total split gain per feature (sorted, largest first)."""
    gains = np.zeros(len(SUPERVISED_FEATURE_NAMES))
    for iteration in classifier._predictors:
        nodes = iteration[0].nodes
        internal = nodes["is_leaf"] == 0
        np.add.at(gains, nodes["feature_idx"][internal], nodes["gain"][internal])
    total = gains.sum() or 1.0
    pairs = sorted(zip(SUPERVISED_FEATURE_NAMES, gains / total, strict=True), key=lambda p: -p[1])
    return {name: round(float(share), 4) for name, share in pairs}


def classifier_arrays(
    classifier: HistGradientBoostingClassifier,
    threshold: float,
    model_version: str,
    anomaly_model_version: str,
) -> dict[str, Any]:
    """The arrays `SupervisedScorer` loads (binary classifier, numeric features only)."""
    if classifier.n_features_in_ != len(SUPERVISED_FEATURE_NAMES):
        raise ValueError(f"the classifier must be fitted on {SUPERVISED_FEATURE_NAMES}")
    if classifier.n_trees_per_iteration_ != 1 or classifier.is_categorical_ is not None:
        raise ValueError("only a binary classifier on numeric features can be exported")
    parts: dict[str, list[npt.NDArray[Any]]] = {
        k: [] for k in ("left", "right", "feature", "split", "leaf_value")
    }
    offsets = [0]
    for (predictor,) in classifier._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        parts["left"].append(np.where(leaf, -1, nodes["left"].astype(np.int64)))
        parts["right"].append(np.where(leaf, -1, nodes["right"].astype(np.int64)))
        parts["feature"].append(np.where(leaf, -1, nodes["feature_idx"].astype(np.int64)))
        parts["split"].append(np.where(leaf, 0.0, nodes["num_threshold"]))
        parts["leaf_value"].append(np.where(leaf, nodes["value"], 0.0))
        offsets.append(offsets[-1] + len(nodes))
    return {
        "format_version": np.int64(SUPERVISED_FORMAT_VERSION),
        "feature_names": np.array(SUPERVISED_FEATURE_NAMES),
        "model_version": np.array(model_version),
        "anomaly_model_version": np.array(anomaly_model_version),
        "threshold": np.float64(threshold),
        "baseline": np.float64(np.ravel(classifier._baseline_prediction)[0]),
        "tree_offsets": np.array(offsets, dtype=np.int64),
        "left": np.concatenate(parts["left"]).astype(np.int32),
        "right": np.concatenate(parts["right"]).astype(np.int32),
        "feature": np.concatenate(parts["feature"]).astype(np.int32),
        "split": np.concatenate(parts["split"]).astype(np.float64),
        "leaf_value": np.concatenate(parts["leaf_value"]).astype(np.float64),
    }


def _version_of(arrays: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        if key != "model_version":
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return f"gbt-{digest.hexdigest()[:12]}"


def _sampled(transaction_id: str, share: float) -> bool:
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    digest = hashlib.blake2b(transaction_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share
