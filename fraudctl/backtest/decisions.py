"""The job's decision log (`transaction-scores`) as the backtest reads it.

The shared decision-log tail starts at the log's end when the run begins (every id of the
run is new, being tagged with the run's tag, so nothing earlier can be ours) and keeps the
first decision per transaction id of this run. The replay counts them to know when the job
has caught up; the report joins them with the file's labels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foundation.decision_log import DecisionLogTail, DecisionLogUnavailable
from foundation.settings import Settings
from models.contracts.decision import DecisionRecord


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """What the report needs from one decision record (the full record holds features)."""

    transaction_id: str
    score: float
    threshold: float | None
    flagged: bool
    anomaly_score: float | None
    model_version: str | None
    card_fingerprint: str | None
    merchant_id: str | None


def slim(record: DecisionRecord) -> LoggedDecision:
    return LoggedDecision(
        transaction_id=record.transaction_id,
        score=record.score,
        threshold=record.threshold,
        flagged=record.flagged,
        anomaly_score=record.anomaly_score,
        model_version=record.model_version,
        card_fingerprint=record.card_fingerprint,
        merchant_id=record.merchant_id,
    )


DecisionLogError = DecisionLogUnavailable  # the decision log cannot be read


class DecisionCollector:
    """Keeps the first decision for each id `wanted(id)` accepts, read in a thread."""

    def __init__(self, settings: Settings, wanted: Callable[[str], bool]) -> None:
        self.decisions: dict[str, LoggedDecision] = {}
        self._lock = threading.Lock()
        self.tail = DecisionLogTail(settings, "fraudctl-backtest", wanted, self._keep)

    @property
    def duplicates(self) -> int:
        return self.tail.duplicates

    @property
    def unparsed(self) -> int:
        return self.tail.invalid

    @property
    def error(self) -> str:
        return self.tail.error

    def start(self, timeout_s: float = 10.0) -> None:
        """Assign every partition at its current end; raise DecisionLogError if impossible."""
        self.tail.start(timeout_s)

    def _keep(self, record: DecisionRecord) -> None:
        decision = slim(record)
        with self._lock:
            self.decisions[decision.transaction_id] = decision

    def add_values(self, values: Any) -> None:
        """Parse and keep decision values (the thread's loop; also used by tests)."""
        self.tail.add_values(values)

    def count(self) -> int:
        with self._lock:
            return len(self.decisions)

    def snapshot(self) -> dict[str, LoggedDecision]:
        with self._lock:
            return dict(self.decisions)

    def wait_for(
        self,
        expected: int,
        *,
        stall_s: float,
        on_progress: Callable[[int], None] | None = None,
        poll_s: float = 0.25,
    ) -> bool:
        """Block until `expected` decisions are in; False when none arrived for `stall_s`."""
        last, last_change = -1, time.monotonic()
        while True:
            got = self.count()
            if on_progress is not None:
                on_progress(got)
            if got >= expected:
                return True
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                return False
            time.sleep(poll_s)

    def close(self) -> None:
        self.tail.close()
