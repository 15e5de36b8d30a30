"""Gateway metrics in the Prometheus text format (version 0.0.4).

A handful of counters and one histogram, updated on the event loop only, so plain ints
suffice; rendering walks them once per scrape. Label values come from fixed sets (route
templates, status codes, rejection reasons), never from request data.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from typing import Final

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Histogram:
    """Cumulative-bucket histogram of seconds."""

    __slots__ = ("_counts", "buckets", "count", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self._counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.count += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        rows: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip(self.buckets, self._counts, strict=False):
            running += count
            rows.append((_number(bound), running))
        rows.append(("+Inf", self.count))
        return rows


class GatewayMetrics:
    """Everything /metrics reports; gauges are read from callables at scrape time."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.produce_latency = Histogram(LATENCY_BUCKETS_S)
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def count_request(self, method: str, route: str, status: int) -> None:
        self.requests[(method, route, status)] += 1

    def count_rejected(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] += count

    def add_gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        lines: list[str] = []
        _header(lines, "gateway_requests_total", "counter", "HTTP requests by route and status.")
        for (method, route, status), value in sorted(self.requests.items()):
            labels = f'method="{method}",route="{route}",status="{status}"'
            lines.append(f"gateway_requests_total{{{labels}}} {value}")
        _header(
            lines,
            "gateway_transactions_accepted_total",
            "counter",
            "Transactions the broker confirmed (answered 202).",
        )
        lines.append(f"gateway_transactions_accepted_total {self.accepted}")
        _header(
            lines,
            "gateway_transactions_rejected_total",
            "counter",
            "Transactions not accepted, by reason.",
        )
        for reason, value in sorted(self.rejected.items()):
            lines.append(f'gateway_transactions_rejected_total{{reason="{reason}"}} {value}')
        name = "gateway_produce_latency_seconds"
        _header(lines, name, "histogram", "Time from produce to the broker's confirmation.")
        for bound, value in self.produce_latency.cumulative():
            lines.append(f'{name}_bucket{{le="{bound}"}} {value}')
        lines.append(f"{name}_sum {_number(self.produce_latency.total)}")
        lines.append(f"{name}_count {self.produce_latency.count}")
        for gauge, (help_text, read) in sorted(self.gauges.items()):
            _header(lines, gauge, "gauge", help_text)
            lines.append(f"{gauge} {_number(read())}")
        return "\n".join(lines) + "\n"


def _header(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))
