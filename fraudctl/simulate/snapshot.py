"""What the live display reads from a running simulation, every refresh."""

from __future__ import annotations

from dataclasses import dataclass

from fraudctl.alerts.quality import DetectionQuality
from fraudctl.simulate.stats import Outcomes


@dataclass(frozen=True)
class Snapshot:
    """What the live display shows, read every refresh."""

    phase: str
    elapsed_s: float
    planned: int | None
    sent: int
    skipped: int
    in_flight: int
    outcomes: Outcomes
    latency_now: tuple[float | None, float | None]
    latency_all: tuple[float | None, float | None]
    lag_s: float
    alerts_seen: int
    decisions: int | None
    frauds_sent: int
    quality: DetectionQuality
    gate_reason: str
    gate_retry_in_s: float | None
    gateway_saturated: bool
    labels_written: int
    warnings: tuple[str, ...]
    event_time: str | None
