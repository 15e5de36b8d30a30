"""The open-loop driver keeps its rate: on a fake clock exactly, on the real one within 2%."""

from __future__ import annotations

import asyncio
import time

import pytest

from fraudctl.simulate.schedule import (
    LATE_GRACE_S,
    DriveResult,
    MonotonicClock,
    Schedule,
    drive,
)
from tests.unit.simulate.fakes import FakeClock


class Recorder:
    """A dispatch that records (clock time, size, due) and optionally costs time."""

    def __init__(self, clock: FakeClock | None = None, cost_s: float = 0.0) -> None:
        self.calls: list[tuple[float, int, float]] = []
        self.clock = clock
        self.cost_s = cost_s

    async def __call__(self, n: int, due: float) -> None:
        now = self.clock.now() if self.clock else time.monotonic()
        self.calls.append((now, n, due))
        if self.clock and self.cost_s:
            self.clock.advance(self.cost_s)

    @property
    def items(self) -> int:
        return sum(n for _, n, _ in self.calls)


async def run(
    schedule: Schedule, clock: FakeClock, recorder: Recorder, **kw: object
) -> DriveResult:
    return await drive(schedule, recorder, clock=clock, stop=asyncio.Event(), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [200.0, 1000.0, 333.3, 7.0])
async def test_timed_run_sends_rate_times_duration_on_schedule(rate: float) -> None:
    clock, rec = FakeClock(), Recorder()
    rec.clock = clock
    result = await run(Schedule(rate, duration_s=20.0), clock, rec)
    expected = -(-(rate * 20.0) // 1)  # ceil: slot i goes out when i / rate < 20 s
    assert rec.items == result.sent == expected
    assert result.elapsed_s == pytest.approx(20.0)
    assert result.sent / result.elapsed_s == pytest.approx(rate, rel=0.001)
    assert result.stopped_by == "duration" and result.behind == 0
    for sent_at, _, due in rec.calls:  # never early, never late on a fake clock
        assert sent_at == pytest.approx(due, abs=1e-9)
    gaps = [b[2] - a[2] for a, b in zip(rec.calls, rec.calls[1:], strict=False)]
    assert min(gaps) == pytest.approx(1 / rate) and max(gaps) == pytest.approx(1 / rate)


async def test_batches_go_out_every_batch_interval_with_the_exact_total() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    await run(Schedule(1000.0, batch_size=50, duration_s=10.0), clock, rec)
    assert rec.items == 10_000 and len(rec.calls) == 200
    assert {n for _, n, _ in rec.calls} == {50}
    assert rec.calls[1][2] - rec.calls[0][2] == pytest.approx(0.05)


async def test_last_batch_is_cut_to_what_fits_in_the_duration() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    await run(Schedule(100.0, batch_size=30, duration_s=1.0), clock, rec)
    assert [n for _, n, _ in rec.calls] == [30, 30, 30, 10]


async def test_count_run_stops_after_count_and_lasts_count_over_rate() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    result = await run(Schedule(250.0, batch_size=7, count=1000), clock, rec)
    assert rec.items == 1000
    assert result.stopped_by == "count"
    assert result.elapsed_s == pytest.approx(4.0)


async def test_gateway_down_skips_slots_without_a_burst_after() -> None:
    clock = FakeClock()
    rec = Recorder(clock)

    class Gate:
        @property
        def is_open(self) -> bool:  # down from 2 s to 5 s into the run
            return 1002.0 <= clock.now() < 1005.0

    result = await run(Schedule(100.0, duration_s=10.0), clock, rec, gate=Gate())
    assert result.skipped == 300
    assert result.sent == 700
    assert all(not (1002.0 <= at < 1005.0) for at, _, _ in rec.calls)
    after = [due for _, _, due in rec.calls if due >= 1005.0]
    assert after[0] == pytest.approx(1005.0) and len(after) == 500  # resumes on schedule


async def test_a_count_run_makes_up_skipped_slots_by_running_longer() -> None:
    clock = FakeClock()
    rec = Recorder(clock)

    class Gate:
        @property
        def is_open(self) -> bool:
            return clock.now() < 1001.0

    result = await run(Schedule(100.0, count=200), clock, rec, gate=Gate())
    assert result.sent == 200 and result.skipped == 100
    assert result.elapsed_s == pytest.approx(3.0)


async def test_a_slow_sender_is_reported_behind_not_hidden() -> None:
    clock = FakeClock()
    rec = Recorder(clock, cost_s=0.002)  # each dispatch costs 2 ms: at most 500/s
    result = await run(Schedule(1000.0, duration_s=5.0), clock, rec)
    assert result.stopped_by == "duration"
    assert result.elapsed_s == pytest.approx(5.0 + LATE_GRACE_S, abs=0.01)
    assert result.sent == pytest.approx(3000, abs=2)
    assert result.sent + result.behind == 5000
    assert result.sent / result.elapsed_s == pytest.approx(500, rel=0.01)
    assert result.max_lag_s > 2.0


async def test_stop_interrupts_an_endless_run_promptly() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    stop = asyncio.Event()

    async def dispatch(n: int, due: float) -> None:
        await rec(n, due)
        if rec.items >= 123:
            stop.set()

    result = await drive(Schedule(50.0), dispatch, clock=clock, stop=stop)
    assert result.stopped_by == "interrupt" and result.sent == 123
    assert result.elapsed_s == pytest.approx(122 / 50.0)


@pytest.mark.parametrize(("rate", "batch"), [(200.0, 1), (1000.0, 1), (1000.0, 20)])
async def test_real_clock_rate_within_two_percent(rate: float, batch: int) -> None:
    """On the real event loop (sleep granularity, scheduling noise) the rate holds."""
    rec = Recorder()
    seconds = 3.0
    result = await drive(
        Schedule(rate, batch_size=batch, duration_s=seconds),
        rec,
        clock=MonotonicClock(),
        stop=asyncio.Event(),
    )
    assert result.sent == round(rate * seconds)
    assert result.sent / result.elapsed_s == pytest.approx(rate, rel=0.02)
    half = result.started_at + seconds / 2  # and evenly spread, not bunched at the end
    first_half = sum(n for at, n, _ in rec.calls if at < half)
    assert first_half == pytest.approx(rate * seconds / 2, rel=0.05)
