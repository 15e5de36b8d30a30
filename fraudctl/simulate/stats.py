"""Counting a run: outcomes by status, the gateway's reasons, latency percentiles, rates.

Everything here is plain arithmetic on counters, so the summary a run prints can be
checked by unit tests without a gateway.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field

ACCEPTED = 202
UNREACHABLE = "unreachable"  # could not connect
TIMEOUT = "timeout"  # no answer within the request timeout (outcome unknown)
CONNECTION_LOST = "connection_lost"  # the connection broke mid-request (outcome unknown)
CANCELLED = "cancelled"  # abandoned unanswered when the run ended (outcome unknown)
MAX_DISTINCT_REASONS = 25


class LatencyHistogram:
    """Log-bucketed latencies (1% wide buckets from 10 µs to 10 min): fixed memory, any
    number of samples, percentiles within 1%."""

    _MIN_MS = 0.01
    _GROWTH = 1.01

    def __init__(self) -> None:
        self._log_growth = math.log(self._GROWTH)
        size = int(math.log(600_000 / self._MIN_MS) / self._log_growth) + 2
        self._counts = [0] * size
        self.count = 0
        self.max_ms = 0.0
        self.total_ms = 0.0

    def add(self, ms: float) -> None:
        ms = max(ms, 0.0)
        index = 0 if ms <= self._MIN_MS else int(math.log(ms / self._MIN_MS) / self._log_growth) + 1
        self._counts[min(index, len(self._counts) - 1)] += 1
        self.count += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100) in ms; None when empty. Never above the true max."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be between 0 and 100, got {q}")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index, bucket in enumerate(self._counts):
            seen += bucket
            if seen >= rank:
                upper = self._MIN_MS * self._GROWTH**index
                return min(upper, self.max_ms)
        return self.max_ms

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.count if self.count else None


class RecentLatency:
    """Latencies of the last few seconds, for the live display's p50/p99 'now'."""

    def __init__(self, window_s: float = 5.0, max_samples: int = 20_000) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, ms: float, at: float | None = None) -> None:
        self._samples.append((time.monotonic() if at is None else at, ms))

    def percentiles(self, *qs: float, now: float | None = None) -> list[float | None]:
        horizon = (time.monotonic() if now is None else now) - self.window_s
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        values = sorted(ms for _, ms in self._samples)
        if not values:
            return [None for _ in qs]
        return [
            values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))] for q in qs
        ]


@dataclass(frozen=True)
class ReasonCount:
    status: int | str
    error: str
    message: str
    count: int


@dataclass
class Outcomes:
    """Per-transaction outcomes: by status and, for refusals, by the gateway's reason."""

    by_status: Counter[int | str] = field(default_factory=Counter)
    _reasons: dict[tuple[int | str, str], list[str | int]] = field(default_factory=dict)

    def add(self, status: int | str, error: str = "", message: str = "", n: int = 1) -> None:
        self.by_status[status] += n
        if status == ACCEPTED:
            return
        key = (status, error or str(status))
        if key not in self._reasons and len(self._reasons) >= MAX_DISTINCT_REASONS:
            key = (status, "other")
        entry = self._reasons.setdefault(key, [0, message])
        entry[0] = int(entry[0]) + n
        if not entry[1] and message:
            entry[1] = message

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def accepted(self) -> int:
        return self.by_status[ACCEPTED]

    @property
    def rejected(self) -> int:
        """4xx: the gateway refused these transactions (our input was wrong)."""
        return sum(n for s, n in self.by_status.items() if isinstance(s, int) and 400 <= s < 500)

    @property
    def failed(self) -> int:
        """5xx and transport failures: the gateway could not (or may not) have stored these."""
        return self.total - self.accepted - self.rejected

    def reasons(self) -> list[ReasonCount]:
        """The refusals, most frequent first, each with one message as the gateway gave it."""
        rows = [
            ReasonCount(status, error, str(entry[1]), int(entry[0]))
            for (status, error), entry in self._reasons.items()
        ]
        return sorted(rows, key=lambda row: (-row.count, str(row.status), row.error))


def achieved_rate(count: int, elapsed_s: float) -> float:
    """Transactions per second over the sending window (0 for an empty window)."""
    return count / elapsed_s if elapsed_s > 0 else 0.0


def rate_error(achieved: float, requested: float) -> float:
    """Relative error of the achieved rate: +0.01 is 1% faster than requested."""
    return achieved / requested - 1.0 if requested > 0 else 0.0


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
