"""Gateway metrics in the Prometheus text format, through `prometheus_client`.

One uvicorn worker keeps its metrics in a registry of its own. With several workers each
is a separate process, so a scrape would see only the worker that answered it: the stack
manager then sets PROMETHEUS_MULTIPROC_DIR (a fresh directory per start) and every worker
writes its values to memory-mapped files there, which any worker sums up on a scrape.
The mode is fixed when `prometheus_client` is first imported, from that variable.

Label values come from fixed sets (route templates, status codes, rejection reasons),
never from request data, so the number of series stays bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS_S: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# How several workers' gauges combine: the lowest broker_up (one worker that cannot reach
# the broker is worth seeing), the sum of queued records. Only live workers count.
GaugeMode = Literal["livemin", "livesum"]
_LIVE_GAUGE_FILE: Final = re.compile(r"gauge_live[a-z]+_(\d+)\.db")

# `_created` series double the output and no dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> Path | None:
    """The shared directory when the gateway runs with several workers, else None."""
    value = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(value) if value else None


class GatewayMetrics:
    """Everything /metrics reports; gauges are read from callables (see `refresh_gauges`)."""

    def __init__(self) -> None:
        self.shared_dir = multiprocess_dir()
        if self.shared_dir is not None and not self.shared_dir.is_dir():
            raise RuntimeError(
                f"{MULTIPROC_ENV}={self.shared_dir} is not a directory: create it (empty) "
                "before starting the workers, or unset it for a single worker"
            )
        # Multiprocess values live in the files; the objects need no registry of their own.
        self._registry: CollectorRegistry | None = (
            None if self.shared_dir is not None else CollectorRegistry(auto_describe=True)
        )
        self._requests = Counter(
            "gateway_requests",
            "HTTP requests by route and status.",
            ("method", "route", "status"),
            registry=self._registry,
        )
        self._accepted = Counter(
            "gateway_transactions_accepted",
            "Transactions the broker confirmed (answered 202).",
            registry=self._registry,
        )
        self._rejected = Counter(
            "gateway_transactions_rejected",
            "Transactions not accepted, by reason.",
            ("reason",),
            registry=self._registry,
        )
        self.produce_latency = Histogram(
            "gateway_produce_latency_seconds",
            "Time from produce to the broker's confirmation.",
            buckets=LATENCY_BUCKETS_S,
            registry=self._registry,
        )
        self._accepted_count = 0
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._gauges: list[tuple[Gauge, Callable[[], float]]] = []

    # -- updates (event loop, per request) ------------------------------------------------

    def count_request(self, method: str, route: str, status: int) -> None:
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._requests.labels(method, route, str(status))
            self._request_children[key] = child
        child.inc()

    def count_rejected(self, reason: str, count: int = 1) -> None:
        self._rejected.labels(reason).inc(count)

    def count_accepted(self, count: int = 1) -> None:
        self._accepted_count += count
        self._accepted.inc(count)

    @property
    def accepted(self) -> int:
        """Transactions accepted by this process (`accepted += n` counts n more)."""
        return self._accepted_count

    @accepted.setter
    def accepted(self, value: int) -> None:
        if value < self._accepted_count:
            raise ValueError("the accepted counter only goes up")
        self.count_accepted(value - self._accepted_count)

    def add_gauge(
        self,
        name: str,
        help_text: str,
        read: Callable[[], float],
        mode: GaugeMode = "livesum",
    ) -> None:
        """A gauge whose value is `read()` at refresh time (every scrape, and periodically)."""
        gauge = Gauge(name, help_text, registry=self._registry, multiprocess_mode=mode)
        self._gauges.append((gauge, read))

    def refresh_gauges(self) -> None:
        """Write this process's gauge values (other workers write theirs on their refresh)."""
        for gauge, read in self._gauges:
            gauge.set(read())

    # -- scrape ------------------------------------------------------------------------------

    def render(self) -> str:
        self.refresh_gauges()
        if self.shared_dir is None:
            assert self._registry is not None
            return generate_latest(self._registry).decode()
        _forget_dead_workers(self.shared_dir)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.shared_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry).decode()


def _forget_dead_workers(shared_dir: Path) -> None:
    """Drop the live gauges of workers that have exited (uvicorn replaces a dead worker)."""
    for path in shared_dir.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if not _alive(pid):
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(pid, str(shared_dir))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
