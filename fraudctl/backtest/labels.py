"""Delayed labels: each replayed transaction's truth becomes known `delay` of event time
after it happened, and is posted to the gateway's `POST /labels` at that moment of the
replay's event clock (`labelled_at` = transaction time + delay), as chargebacks would.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from fraudctl.labels_client import LabelClient, LabelPostError
from models.contracts.label import Label

LABEL_SOURCE: Final = "simulator"  # a replay of recorded outcomes, not an analyst or a bank


@dataclass(order=True)
class _Due:
    due_ms: int
    seq: int
    label: Label = field(compare=False)


class LabelSchedule:
    """Labels waiting for the event clock; `due(clock)` hands out those whose time came."""

    def __init__(self, delay_ms: int) -> None:
        if delay_ms < 0:
            raise ValueError(f"the label delay must be 0 or more, got {delay_ms} ms")
        self.delay_ms = delay_ms
        self._heap: list[_Due] = []
        self._seq = 0

    def add(
        self, transaction_id: str, fraud: bool, event_ms: int, user_id: str, merchant_id: str
    ) -> None:
        due = event_ms + self.delay_ms
        label = Label(
            transaction_id=transaction_id,
            label="fraud" if fraud else "legit",
            source=LABEL_SOURCE,
            labelled_at=due,
            user_id=user_id,
            merchant_id=merchant_id,
        )
        self._seq += 1
        heapq.heappush(self._heap, _Due(due, self._seq, label))

    def due(self, clock_ms: int) -> list[Label]:
        """Labels with `labelled_at <= clock_ms`, in labelled_at order."""
        out = []
        while self._heap and self._heap[0].due_ms <= clock_ms:
            out.append(heapq.heappop(self._heap).label)
        return out

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class LabelResult:
    sent: int = 0
    unresolved: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "unresolved": self.unresolved,
            "refused": dict(self.refused),
            "failed": dict(self.failed),
        }


class LabelPoster:
    """Posts due labels in batches through the shared `LabelClient` (the same road as the
    console and the simulator), in a worker thread, retrying while the gateway is down."""

    def __init__(
        self,
        base_url: str,
        *,
        batch_size: int = 500,
        attempts: int = 6,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.attempts = attempts
        self.result = LabelResult()
        self._client = LabelClient(base_url, timeout_s=30.0, transport=transport)

    async def close(self) -> None:
        self._client.close()

    async def post(self, labels: Sequence[Label]) -> None:
        for start in range(0, len(labels), self.batch_size):
            await asyncio.to_thread(self._post_batch, labels[start : start + self.batch_size])

    def _post_batch(self, labels: Sequence[Label]) -> None:
        delay, reason = 0.5, ""
        for _ in range(self.attempts):
            try:
                posted = self._client.post(labels)
            except LabelPostError as exc:
                if not exc.retryable:
                    self.result.refused[exc.message] += len(labels)
                    return
                reason = exc.message
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.result.sent += posted.accepted
            self.result.unresolved += posted.unresolved
            return
        self.result.failed[reason] += len(labels)
