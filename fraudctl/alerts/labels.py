"""Labels kept apart from transactions: the Redis hash `fraud:labels`.

transaction_id -> a fraud pattern name from the simulator's ground truth (e.g.
`card_testing`), a word meaning "not fraud" (`legit`), or an analyst's verdict from the
console (`confirmed_fraud`, `false_positive`). An analyst's verdict replaces what was there.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import redis


class Verdict(StrEnum):
    """What an analyst decided about an alert."""

    CONFIRMED_FRAUD = "confirmed_fraud"
    FALSE_POSITIVE = "false_positive"


NOT_FRAUD_LABELS = frozenset({"legit", "legitimate", "normal", "none", "false_positive"})


def is_fraud_label(value: str) -> bool:
    """True when a label says the transaction was fraud (a pattern or a confirmation)."""
    return value.strip().lower() not in NOT_FRAUD_LABELS and value.strip() != ""


class LabelStore:
    """Reads and writes `fraud:labels` (blocking; call it from a worker thread)."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key

    def set_verdict(self, transaction_id: str, verdict: Verdict) -> None:
        if not transaction_id:
            raise ValueError("a label needs a transaction id: select an alert first")
        self.client.hset(self.key, transaction_id, verdict.value)

    def get_many(self, transaction_ids: Iterable[str]) -> dict[str, str]:
        """The labels of the given transactions that have one."""
        ids = list(dict.fromkeys(transaction_ids))
        if not ids:
            return {}
        values: list[Any] = self.client.hmget(self.key, ids)  # type: ignore[assignment]
        return {
            txn: (value.decode() if isinstance(value, bytes) else str(value))
            for txn, value in zip(ids, values, strict=True)
            if value is not None
        }

    def scan_all(self, batch: int = 2000) -> dict[str, str]:
        """Every label (HSCAN in batches, so Redis is never blocked by one big call)."""
        labels: dict[str, str] = {}
        for txn, value in self.client.hscan_iter(self.key, count=batch):
            key = txn.decode() if isinstance(txn, bytes) else str(txn)
            labels[key] = value.decode() if isinstance(value, bytes) else str(value)
        return labels
