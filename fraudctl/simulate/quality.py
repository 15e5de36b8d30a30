"""This run's detection quality: its ground truth joined with the alerts, incrementally.

Labels, alerts and decisions arrive in any order (an alert can beat the gateway's 202 to
the simulator), so each event is joined with what is already known on the other side
and the counts stay exact without rescanning. Only fraud ids are kept per id; genuine
transactions are counted, which keeps memory small on long runs.

Two views: `live()` counts a fraud as missed only once the job has decided it was not
fraud (from the decision log), so frauds still in the pipeline do not drag recall down;
`final()` counts every fraud that has no alert as missed, the usual definition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fraudctl.alerts.quality import DetectionQuality

LEGIT_LABEL = "legit"  # the label of a genuine transaction


def label_of(pattern: str | None) -> str:
    """A transaction's truth as one word: the fraud pattern's name, or `legit`."""
    return pattern if pattern else LEGIT_LABEL


@dataclass(frozen=True)
class PatternQuality:
    pattern: str
    injected: int
    alerted: int

    @property
    def recall(self) -> float | None:
        return self.alerted / self.injected if self.injected else None


class RunQuality:
    """Ground truth of one run's transactions joined with alerts and decisions."""

    def __init__(self) -> None:
        self.frauds: dict[str, str] = {}  # transaction id -> pattern, for frauds sent
        self.legit_sent = 0
        self.alerted: set[str] = set()  # this run's transactions seen on the alert stream
        self._cleared_frauds: set[str] = set()  # frauds the job decided were not fraud
        self._withdrawn: set[str] = set()  # sent but not accepted: not part of the truth
        self._flagged_waiting: set[str] = set()  # flagged in the decision log, no alert yet
        self.decisions = 0
        self.alerts_seen = 0
        self.true_positives = 0
        self.false_positives = 0
        self._injected: Counter[str] = Counter()
        self._caught: Counter[str] = Counter()

    def sent(self, transaction_id: str, pattern: str | None) -> None:
        """Register ground truth as the transaction leaves (before any alert can come)."""
        if pattern is None:
            self.legit_sent += 1
            return
        self.frauds[transaction_id] = pattern
        self._injected[pattern] += 1

    def withdraw(self, transaction_id: str, pattern: str | None) -> None:
        """The gateway did not accept it: it never reached the detector, so it is no truth."""
        self._withdrawn.add(transaction_id)
        if pattern is None:
            self.legit_sent -= 1
            if transaction_id in self.alerted:
                self.false_positives -= 1
            return
        if self.frauds.pop(transaction_id, None) is None:
            return
        self._injected[pattern] -= 1
        if transaction_id in self.alerted:
            self.true_positives -= 1
            self._caught[pattern] -= 1
        self._cleared_frauds.discard(transaction_id)

    def alert(self, transaction_id: str) -> None:
        """An alert for one of this run's transactions (duplicates are ignored)."""
        if transaction_id in self.alerted:
            return
        self.alerted.add(transaction_id)
        self.alerts_seen += 1
        self._flagged_waiting.discard(transaction_id)
        if transaction_id in self._withdrawn:
            return
        self._count_alert(transaction_id)

    def _count_alert(self, transaction_id: str) -> None:
        pattern = self.frauds.get(transaction_id)
        if pattern is None:
            self.false_positives += 1
            return
        self.true_positives += 1
        self._caught[pattern] += 1
        self._cleared_frauds.discard(transaction_id)

    def decision(self, transaction_id: str, flagged: bool) -> None:
        """A record of the decision log for one of this run's transactions."""
        self.decisions += 1
        if transaction_id in self.alerted:
            return
        if flagged:
            self._flagged_waiting.add(transaction_id)
            return
        if transaction_id in self.frauds:
            self._cleared_frauds.add(transaction_id)

    @property
    def alerts_pending(self) -> int:
        """Flagged by the job but not yet seen on the alert stream."""
        return len(self._flagged_waiting)

    @property
    def frauds_sent(self) -> int:
        return len(self.frauds)

    def live(self) -> DetectionQuality:
        """Misses are frauds the job has already decided against; in-flight ones wait."""
        if self.decisions == 0:
            return self.final()
        return DetectionQuality(
            self.true_positives, self.false_positives, len(self._cleared_frauds)
        )

    def final(self) -> DetectionQuality:
        """Every fraud without an alert is a miss."""
        missed = self.frauds_sent - self.true_positives
        return DetectionQuality(self.true_positives, self.false_positives, missed)

    def by_pattern(self) -> list[PatternQuality]:
        return [
            PatternQuality(name, count, self._caught[name])
            for name, count in sorted(self._injected.items())
            if count > 0
        ]
