"""Open-loop scheduling: slot i is due at start + i / rate, whatever the gateway does.

The driver never waits for a response before the next send, so a slow gateway shows up
as latency and errors rather than as a quietly lower rate. Slots that pass while the
gateway is known to be down are skipped (counted, not retried later in a burst), and
when the machine falls behind, late slots are sent at once and the lag is recorded.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

MAX_SLEEP_S = 0.25  # how long the driver may sleep before looking at the stop flag again
LATE_GRACE_S = 1.0  # a timed run may overrun by this much to send late slots, then stops
YIELD_EVERY = 16  # when behind, let responses be handled every so many dispatches


class Clock(Protocol):
    """Where time comes from (real in production, fake in unit tests)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Gate(Protocol):
    """Says whether sending is paused (the gateway is down and being probed)."""

    @property
    def is_open(self) -> bool: ...


class AlwaysClosed:
    is_open = False


@dataclass(frozen=True)
class Schedule:
    """Rate, batching and the end of a run (by duration, by count, or none: until stopped)."""

    rate: float
    batch_size: int = 1
    duration_s: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.batch_size < 1:
            raise ValueError("rate must be positive and batch_size at least 1")

    def due(self, slot: int) -> float:
        """Seconds after the start at which `slot` is due."""
        return slot / self.rate

    def slots_before_end(self) -> int | None:
        """How many slots fall inside the duration (None without one)."""
        if self.duration_s is None:
            return None
        # Slot i is inside when i / rate < duration (tiny epsilon against float noise).
        return max(0, math.ceil(self.duration_s * self.rate - 1e-9))


@dataclass
class DriveResult:
    """What the driver did; times are clock seconds."""

    started_at: float
    ended_at: float
    sent: int
    skipped: int
    dispatches: int
    max_lag_s: float
    stopped_by: str  # "duration", "count" or "interrupt"
    behind: int = 0  # slots of a timed run never sent because the sender fell too far behind

    @property
    def elapsed_s(self) -> float:
        return self.ended_at - self.started_at


Dispatch = Callable[[int, float], Awaitable[None]]


@dataclass
class DriveState:
    """Live counters the display reads while the driver runs."""

    started_at: float | None = None
    next_due: float | None = None
    sent: int = 0
    skipped: int = 0
    dispatches: int = 0
    max_lag_s: float = 0.0
    behind: int = 0


async def drive(
    schedule: Schedule,
    dispatch: Dispatch,
    *,
    clock: Clock,
    stop: asyncio.Event,
    gate: Gate | None = None,
    state: DriveState | None = None,
) -> DriveResult:
    """Call `dispatch(n, due_at)` for each batch as it falls due, until the run's end.

    `dispatch` must hand the work off and return quickly (it may wait for room when too
    many requests are in flight; that delay shows up as lag and latency). A timed run
    that falls more than LATE_GRACE_S behind its end stops there and counts the slots it
    could not send as `behind`, so the achieved rate is reported, not hidden.
    """
    gate = gate or AlwaysClosed()
    state = state or DriveState()
    start = clock.now()
    state.started_at = start
    end_slot = schedule.slots_before_end()
    slot = 0
    stopped_by = "interrupt"
    end_at: float | None = None
    while not stop.is_set():
        if end_slot is not None and slot >= end_slot:
            stopped_by, end_at = "duration", start + (schedule.duration_s or 0.0)
            break
        if schedule.count is not None and state.sent >= schedule.count:
            stopped_by, end_at = "count", start + schedule.due(slot)
            break
        due = start + schedule.due(slot)
        state.next_due = due
        now = clock.now()
        if end_slot is not None and now >= start + (schedule.duration_s or 0.0) + LATE_GRACE_S:
            stopped_by, state.behind = "duration", end_slot - slot
            break
        if now < due:
            await clock.sleep(min(due - now, MAX_SLEEP_S))
            continue
        size = schedule.batch_size
        if end_slot is not None:
            size = min(size, end_slot - slot)
        if schedule.count is not None:
            size = min(size, schedule.count - state.sent)
        if gate.is_open:
            state.skipped += size
        else:
            state.max_lag_s = max(state.max_lag_s, now - due)
            await dispatch(size, due)
            state.sent += size
            state.dispatches += 1
            if state.dispatches % YIELD_EVERY == 0:
                await clock.sleep(0)
        slot += size
    if end_at is not None:
        await _sleep_until(clock, end_at, stop)
    ended = clock.now() if end_at is None else max(end_at, clock.now())
    return DriveResult(
        started_at=start,
        ended_at=ended,
        sent=state.sent,
        skipped=state.skipped,
        dispatches=state.dispatches,
        max_lag_s=state.max_lag_s,
        stopped_by=stopped_by,
        behind=state.behind,
    )


async def _sleep_until(clock: Clock, moment: float, stop: asyncio.Event) -> None:
    """Wait out the last slot's interval, so the run lasts what it was asked to."""
    while not stop.is_set():
        left = moment - clock.now()
        if left <= 0:
            return
        await clock.sleep(min(left, MAX_SLEEP_S))
