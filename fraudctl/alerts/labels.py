"""Labels as the operator tools show them: a bounded Redis mirror of labels they posted.

The labels themselves live on the Kafka topic `transaction-labels` (posted through the
gateway, see fraudctl/labels_client.py). Tools that posted a label may also mirror it to
Redis for display, one key per transaction, `{labels_key}:{transaction_id}`, that expires
after `MIRROR_TTL_S`: the mirror cannot grow without bound, and readers look up only the
ids they show (MGET), never scan. The value is what a person reads: an analyst's verdict
(`confirmed_fraud`, `false_positive`) or the label of another source (`fraud`, `legit`).
The simulator mirrors only the labels of its transactions that were alerted.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

import redis
import redis.asyncio as aioredis

from models.contracts.label import Label, LabelValue

MIRROR_TTL_S: Final = 24 * 3600
NOT_FRAUD_LABELS = frozenset({"legit", "legitimate", "normal", "none", "false_positive"})


class Verdict(StrEnum):
    """What an analyst decided about an alert."""

    CONFIRMED_FRAUD = "confirmed_fraud"
    FALSE_POSITIVE = "false_positive"

    @property
    def label(self) -> LabelValue:
        return "fraud" if self is Verdict.CONFIRMED_FRAUD else "legit"


def is_fraud_label(value: str) -> bool:
    """True when a label says the transaction was fraud (a pattern or a confirmation)."""
    return value.strip().lower() not in NOT_FRAUD_LABELS and value.strip() != ""


def display_value(label: Label) -> str:
    """What the mirror holds for a label: the analyst's verdict, else the label itself."""
    if label.source == "analyst":
        return (Verdict.CONFIRMED_FRAUD if label.is_fraud else Verdict.FALSE_POSITIVE).value
    return label.label


def mirror_key(prefix: str, transaction_id: str) -> str:
    return f"{prefix}:{transaction_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LabelStore:
    """The mirror, for blocking callers (the console's workers, the CLI)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int = MIRROR_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def record(self, labels: Iterable[Label]) -> int:
        """Mirror labels (the newest wins); returns how many were written."""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for label in labels:
            pipe.set(
                mirror_key(self.prefix, label.transaction_id), display_value(label), ex=self.ttl_s
            )
            count += 1
        if count:
            pipe.execute()
        return count

    def get_many(self, transaction_ids: Iterable[str]) -> dict[str, str]:
        """The mirrored labels of the given transactions that have one (one MGET)."""
        ids = list(dict.fromkeys(transaction_ids))
        if not ids:
            return {}
        values: list[Any] = self.client.mget([mirror_key(self.prefix, t) for t in ids])  # type: ignore[assignment]
        return {txn: _text(v) for txn, v in zip(ids, values, strict=True) if v is not None}


async def mirror_labels(
    client: aioredis.Redis, prefix: str, labels: Iterable[Label], ttl_s: int = MIRROR_TTL_S
) -> int:
    """`LabelStore.record` for asyncio callers (the simulator)."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for label in labels:
        pipe.set(mirror_key(prefix, label.transaction_id), display_value(label), ex=ttl_s)
        count += 1
    if count:
        await pipe.execute()
    return count
