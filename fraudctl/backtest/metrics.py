"""Detection quality of one backtest from (label, decision) pairs: no I/O, no stack.

Everything is computed from the rows handed in, so the same numbers can be recomputed
from the decision log by anyone. Ranking metrics use the model's `score` (and the
IsolationForest's `anomaly_score` for the unsupervised baseline); precision and recall
use the job's own `flagged` decision, i.e. the alert threshold in force at the time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Scored:
    """One test transaction: its ground truth joined with the job's decision."""

    transaction_id: str
    event_ms: int
    fraud: bool
    score: float
    flagged: bool
    card: str
    anomaly_score: float | None = None
    pattern: str | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class DayResult:
    day: str
    transactions: int
    frauds: int
    alerts: int
    true_alerts: int
    cards: int
    card_precision_at_k: float | None


@dataclass
class Metrics:
    """What the report shows; `to_dict` is the --json payload."""

    transactions: int
    frauds: int
    alerts: int
    true_alerts: int
    roc_auc: float | None
    average_precision: float | None
    precision: float | None
    recall: float | None
    card_precision_at_k: float | None
    k: int
    iforest_average_precision: float | None
    iforest_roc_auc: float | None
    iforest_scored: int
    days: list[DayResult] = field(default_factory=list)
    recall_by_pattern: dict[str, dict[str, float | int]] = field(default_factory=dict)
    model_versions: dict[str, int] = field(default_factory=dict)

    @property
    def alerts_per_day(self) -> dict[str, int]:
        return {day.day: day.alerts for day in self.days}

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["alerts_per_day"] = self.alerts_per_day
        payload["card_precision_at_k_per_day"] = {
            day.day: day.card_precision_at_k for day in self.days
        }
        return payload


def day_of(event_ms: int) -> str:
    """The UTC calendar day of an event time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(event_ms // 1000, UTC).strftime("%Y-%m-%d")


def ranking(labels: Sequence[bool], scores: Sequence[float]) -> tuple[float | None, float | None]:
    """(ROC-AUC, average precision); None for both when only one class is present."""
    if not labels or len(set(labels)) < 2:
        return None, None
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth = [int(value) for value in labels]
    return float(roc_auc_score(truth, scores)), float(average_precision_score(truth, scores))


def card_precision_at_k(rows: Sequence[Scored], k: int) -> float | None:
    """Of the k highest-scoring cards (card score = its max score in `rows`), the share with
    a fraud in `rows`; with fewer than k cards, the share of all of them. Ties on score go
    by card id, so the result does not depend on row order."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    best: dict[str, float] = {}
    fraud_cards: set[str] = set()
    for row in rows:
        if row.card not in best or row.score > best[row.card]:
            best[row.card] = row.score
        if row.fraud:
            fraud_cards.add(row.card)
    if not best:
        return None
    top = sorted(best, key=lambda card: (-best[card], card))[:k]
    return sum(1 for card in top if card in fraud_cards) / len(top)


def compute_metrics(rows: Sequence[Scored], k: int = 100) -> Metrics:
    """All report figures for the test rows (deduplicated, one per transaction)."""
    labels = [row.fraud for row in rows]
    roc_auc, average_precision = ranking(labels, [row.score for row in rows])
    with_anomaly = [row for row in rows if row.anomaly_score is not None]
    if_roc, if_ap = ranking(
        [row.fraud for row in with_anomaly],
        [float(row.anomaly_score) for row in with_anomaly if row.anomaly_score is not None],
    )
    frauds = sum(labels)
    alerts = sum(1 for row in rows if row.flagged)
    true_alerts = sum(1 for row in rows if row.flagged and row.fraud)
    days = _daily(rows, k)
    per_day = [day.card_precision_at_k for day in days if day.card_precision_at_k is not None]
    return Metrics(
        transactions=len(rows),
        frauds=frauds,
        alerts=alerts,
        true_alerts=true_alerts,
        roc_auc=roc_auc,
        average_precision=average_precision,
        precision=true_alerts / alerts if alerts else None,
        recall=true_alerts / frauds if frauds else None,
        card_precision_at_k=sum(per_day) / len(per_day) if per_day else None,
        k=k,
        iforest_average_precision=if_ap,
        iforest_roc_auc=if_roc,
        iforest_scored=len(with_anomaly),
        days=days,
        recall_by_pattern=_by_pattern(rows),
        model_versions=dict(Counter(row.model_version or "?" for row in rows).most_common()),
    )


def _daily(rows: Sequence[Scored], k: int) -> list[DayResult]:
    by_day: dict[str, list[Scored]] = defaultdict(list)
    for row in rows:
        by_day[day_of(row.event_ms)].append(row)
    return [
        DayResult(
            day=day,
            transactions=len(group),
            frauds=sum(1 for row in group if row.fraud),
            alerts=sum(1 for row in group if row.flagged),
            true_alerts=sum(1 for row in group if row.flagged and row.fraud),
            cards=len({row.card for row in group}),
            card_precision_at_k=card_precision_at_k(group, k),
        )
        for day, group in sorted(by_day.items())
    ]


def _by_pattern(rows: Sequence[Scored]) -> dict[str, dict[str, float | int]]:
    """Recall per fraud pattern (rows whose pattern is set and which are fraud)."""
    totals: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for row in rows:
        if row.fraud and row.pattern:
            totals[row.pattern] += 1
            caught[row.pattern] += row.flagged
    return {
        name: {"frauds": totals[name], "caught": caught[name], "recall": caught[name] / count}
        for name, count in sorted(totals.items())
    }
