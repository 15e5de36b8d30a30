"""The end-of-run summary: what was asked, what was achieved, and how well fraud was caught.

Built from the run's counters by `build_summary` (pure arithmetic, unit-tested) and
printed as a rich table or, with `--json`, as one JSON object for scripts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fraudctl.alerts.quality import DetectionQuality
from fraudctl.simulate.quality import RunQuality
from fraudctl.simulate.schedule import DriveResult
from fraudctl.simulate.stats import (
    LatencyHistogram,
    Outcomes,
    achieved_rate,
    rate_error,
)


@dataclass(frozen=True)
class Latency:
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    samples: int

    @classmethod
    def of(cls, histogram: LatencyHistogram) -> Latency:
        if histogram.count == 0:
            return cls(None, None, None, 0)
        return cls(
            _round(histogram.percentile(50)),
            _round(histogram.percentile(99)),
            _round(histogram.max_ms),
            histogram.count,
        )


@dataclass(frozen=True)
class Quality:
    true_positives: int
    false_positives: int
    false_negatives: int | None  # None: misses unknown
    precision: float | None
    recall: float | None

    @classmethod
    def of(cls, quality: DetectionQuality) -> Quality:
        return cls(
            quality.true_positives,
            quality.false_positives,
            quality.false_negatives,
            _round(quality.precision, 4),
            _round(quality.recall, 4),
        )


@dataclass(frozen=True)
class Summary:
    """Everything a run reports (see the README for each field)."""

    run_id: str
    seed: int
    gateway: str
    mode: str  # "single" or "batch of N"
    stopped_by: str
    requested_rate: float
    elapsed_s: float
    sent: int
    achieved_rate: float
    rate_error: float
    accepted: int
    accepted_rate: float
    rejected: int
    failed: int
    not_sent: int
    behind: int
    max_lag_ms: float
    by_status: dict[str, int]
    errors: list[dict[str, Any]]
    latency: Latency
    frauds_injected: int
    by_pattern: dict[str, dict[str, Any]]
    alerts_seen: int
    scored: int | None
    alert_latency: Latency
    quality: Quality
    labels_key: str
    labels_recorded: int
    event_time: dict[str, str | None]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        """The inverse of `to_dict` (e.g. a child process's `--json` output)."""
        fields = dict(data)
        fields["latency"] = Latency(**fields["latency"])
        fields["alert_latency"] = Latency(**fields["alert_latency"])
        fields["quality"] = Quality(**fields["quality"])
        return cls(**fields)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def build_summary(
    *,
    run_id: str,
    seed: int,
    gateway: str,
    batch_size: int,
    requested_rate: float,
    drive: DriveResult,
    outcomes: Outcomes,
    latency: LatencyHistogram,
    alert_latency: LatencyHistogram,
    quality: RunQuality,
    scored: int | None,
    labels_key: str,
    labels_recorded: int,
    event_time: tuple[str | None, str | None],
    notes: list[str],
) -> Summary:
    """The numbers of a finished run. Rates are over the sending window (start of the
    schedule to its end or the interrupt), so a run that fell behind shows a lower rate."""
    elapsed = drive.elapsed_s
    achieved = achieved_rate(drive.sent, elapsed)
    return Summary(
        run_id=run_id,
        seed=seed,
        gateway=gateway,
        mode="single" if batch_size == 1 else f"batch of {batch_size}",
        stopped_by=drive.stopped_by,
        requested_rate=requested_rate,
        elapsed_s=round(elapsed, 3),
        sent=drive.sent,
        achieved_rate=round(achieved, 2),
        rate_error=round(rate_error(achieved, requested_rate), 4),
        accepted=outcomes.accepted,
        accepted_rate=round(achieved_rate(outcomes.accepted, elapsed), 2),
        rejected=outcomes.rejected,
        failed=outcomes.failed,
        not_sent=drive.skipped,
        behind=drive.behind,
        max_lag_ms=round(drive.max_lag_s * 1000, 1),
        by_status={str(status): n for status, n in sorted(outcomes.by_status.items(), key=str)},
        errors=[asdict(reason) for reason in outcomes.reasons()],
        latency=Latency.of(latency),
        frauds_injected=quality.frauds_sent,
        by_pattern={
            row.pattern: {
                "injected": row.injected,
                "alerted": row.alerted,
                "recall": _round(row.recall, 4),
            }
            for row in quality.by_pattern()
        },
        alerts_seen=quality.alerts_seen,
        scored=scored,
        alert_latency=Latency.of(alert_latency),
        quality=Quality.of(quality.final()),
        labels_key=labels_key,
        labels_recorded=labels_recorded,
        event_time={"first": event_time[0], "last": event_time[1]},
        notes=list(notes),
    )
