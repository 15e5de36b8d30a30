"""The final summary's arithmetic, and its JSON round trip."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from fraudctl.simulate.display import render_summary
from fraudctl.simulate.quality import RunQuality
from fraudctl.simulate.schedule import DriveResult
from fraudctl.simulate.stats import UNREACHABLE, LatencyHistogram, Outcomes
from fraudctl.simulate.summary import Summary, build_summary


def make_summary(
    *,
    sent: int = 4000,
    elapsed: float = 20.0,
    skipped: int = 0,
    behind: int = 0,
    requested: float = 200.0,
) -> Summary:
    outcomes = Outcomes()
    outcomes.add(202, n=sent - 15)
    outcomes.add(422, "invalid_transaction", "timestamp: is more than 24 hours in the future", n=10)
    outcomes.add(503, "broker_unavailable", "the broker did not confirm in time", n=3)
    outcomes.add(UNREACHABLE, "unreachable", "connection refused", n=2)
    latency = LatencyHistogram()
    for ms in range(1, 101):  # 1..100 ms
        latency.add(float(ms))
    quality = RunQuality()
    for i in range(40):
        quality.sent(f"f{i}", "card_testing" if i % 2 else "amount_spike")
    for i in range(30):  # 30 of 40 frauds caught
        quality.alert(f"f{i}")
    for i in range(10):  # and 10 genuine ones flagged
        quality.sent(f"g{i}", None)
        quality.alert(f"g{i}")
    drive = DriveResult(
        started_at=100.0,
        ended_at=100.0 + elapsed,
        sent=sent,
        skipped=skipped,
        dispatches=sent,
        max_lag_s=0.0123,
        stopped_by="duration",
        behind=behind,
    )
    return build_summary(
        run_id="abcd1234",
        seed=7,
        gateway="http://127.0.0.1:8000",
        batch_size=1,
        requested_rate=requested,
        drive=drive,
        outcomes=outcomes,
        latency=latency,
        alert_latency=LatencyHistogram(),
        quality=quality,
        scored=3900,
        labels_key="fraud:labels",
        labels_recorded=sent - 15,
        event_time=("2026-11-01T00:00:00Z", "2026-11-28T00:00:00Z"),
        notes=["a note"],
    )


def test_rates_counts_and_quality() -> None:
    s = make_summary()
    assert s.achieved_rate == 200.0 and s.rate_error == 0.0
    assert s.accepted == 3985 and s.accepted_rate == pytest.approx(199.25)
    assert (s.rejected, s.failed) == (10, 5)
    assert s.by_status == {"202": 3985, "422": 10, "503": 3, "unreachable": 2}
    assert s.errors[0]["status"] == 422 and s.errors[0]["count"] == 10
    assert "24 hours" in s.errors[0]["message"]
    assert s.latency.p50_ms == pytest.approx(50.0, rel=0.01)
    assert s.latency.p99_ms == pytest.approx(99.0, rel=0.01)
    assert s.latency.max_ms == 100.0 and s.latency.samples == 100
    assert s.max_lag_ms == 12.3
    q = s.quality
    assert (q.true_positives, q.false_positives, q.false_negatives) == (30, 10, 10)
    assert q.precision == 0.75 and q.recall == 0.75
    assert s.frauds_injected == 40
    assert s.by_pattern["amount_spike"] == {"injected": 20, "alerted": 15, "recall": 0.75}
    assert s.alert_latency.samples == 0 and s.alert_latency.p50_ms is None


def test_a_slow_run_reports_its_shortfall() -> None:
    s = make_summary(sent=3000, elapsed=21.0, behind=1000, requested=200.0)
    assert s.achieved_rate == pytest.approx(142.86)
    assert s.rate_error == pytest.approx(-0.2857, abs=1e-4)
    assert s.behind == 1000


def test_json_round_trip_and_rendering() -> None:
    s = make_summary(skipped=12)
    text = json.dumps(s.to_dict())
    again = Summary.from_dict(json.loads(text))
    assert again == s
    console = Console(width=120, record=True)
    console.print(render_summary(s))
    out = console.export_text()
    for expected in ("200.0 tx/s achieved", "precision 75.0%", "recall 75.0%", "12 not sent"):
        assert expected in out
