"""Label scheduling: due after the delay, batched, off the send loop, retried, flushed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from fraudctl.labels_client import LabelPostError, Posted
from fraudctl.simulate.labelling import LabelScheduler
from models.contracts.label import Label
from tests.unit.simulate.fakes import FakeClock

AT_MS = 1_752_573_600_000


class Poster:
    """Records batches; can be told to fail (retryable or not) a number of times."""

    def __init__(self) -> None:
        self.batches: list[list[Label]] = []
        self.fail: LabelPostError | None = None
        self.failures_left = 0

    def __call__(self, labels: Sequence[Label]) -> Posted:
        if self.failures_left > 0:
            self.failures_left -= 1
            assert self.fail is not None
            raise self.fail
        self.batches.append(list(labels))
        return Posted(len(labels), 0)

    @property
    def ids(self) -> list[str]:
        return [label.transaction_id for batch in self.batches for label in batch]


def scheduler(poster: Poster, clock: FakeClock, **kw: object) -> LabelScheduler:
    args: dict[str, object] = {"delay_s": 30.0, "batch": 3}
    args.update(kw)
    return LabelScheduler(poster, clock=clock, labelled_at=lambda: AT_MS, **args)  # type: ignore[arg-type]


def add(sched: LabelScheduler, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        sched.add(f"t{i}", i % 2 == 0, f"u{i}", f"m{i}")


async def test_labels_are_posted_only_once_due_in_batches() -> None:
    clock, poster = FakeClock(), Poster()
    sched = scheduler(poster, clock)
    add(sched, 4)
    clock.advance(10)
    add(sched, 2, start=4)

    assert await sched.post_due() == 0
    clock.advance(20)  # the first four are due, the last two are not
    assert await sched.post_due() == 4
    assert [len(b) for b in poster.batches] == [3, 1]
    assert poster.ids == ["t0", "t1", "t2", "t3"] and sched.pending == 2
    first = poster.batches[0][0]
    assert (first.label, first.source, first.user_id, first.merchant_id) == (
        "fraud", "simulator", "u0", "m0",
    )  # fmt: skip
    assert first.labelled_at == AT_MS
    assert poster.batches[0][1].label == "legit"


async def test_zero_delay_posts_at_once() -> None:
    clock, poster = FakeClock(), Poster()
    sched = scheduler(poster, clock, delay_s=0.0)
    add(sched, 2)
    assert await sched.post_due() == 2


async def test_unavailable_gateway_keeps_labels_in_order_and_backs_off() -> None:
    clock, poster = FakeClock(), Poster()
    poster.fail = LabelPostError("broker_unavailable", "broker down", retryable=True)
    poster.failures_left = 1
    sched = scheduler(poster, clock, delay_s=0.0)
    add(sched, 5)

    assert await sched.post_due() == 0
    assert sched.pending == 5 and "will retry" in sched.error
    assert await sched.post_due() == 0  # backing off: not even tried
    clock.advance(1.0)
    assert await sched.post_due() == 5
    assert poster.ids == [f"t{i}" for i in range(5)]
    assert sched.error == ""


async def test_refused_batches_are_dropped_and_reported() -> None:
    clock, poster = FakeClock(), Poster()
    poster.fail = LabelPostError("invalid_label", "label is not known", retryable=False)
    poster.failures_left = 1
    sched = scheduler(poster, clock, delay_s=0.0)
    add(sched, 4)
    assert await sched.post_due() == 1
    assert sched.refused == 3 and "refused" in sched.error


async def test_finish_posts_what_is_not_due_yet() -> None:
    clock, poster = FakeClock(), Poster()
    sched = scheduler(poster, clock, delay_s=3600.0)
    add(sched, 7)
    await sched.finish(timeout_s=5)
    assert sched.posted == 7 and sched.unposted == 0 and sched.pending == 0


async def test_finish_reports_labels_it_could_not_post() -> None:
    clock, poster = FakeClock(), Poster()
    poster.fail = LabelPostError("unreachable", "no gateway", retryable=True)
    poster.failures_left = 10**6
    sched = scheduler(poster, clock)
    add(sched, 4)
    await sched.finish(timeout_s=0.3)
    assert sched.unposted == 4
    assert "4 labels were still unposted" in sched.error and "no gateway" in sched.error


async def test_posting_never_blocks_the_event_loop() -> None:
    """A slow gateway holds a worker thread, not the loop that sends transactions."""
    clock = FakeClock()
    release = threading.Event()
    posted: list[int] = []

    def slow(labels: Sequence[Label]) -> Posted:
        release.wait(5)
        posted.append(len(labels))
        return Posted(len(labels), 0)

    sched = LabelScheduler(slow, clock=clock, labelled_at=lambda: AT_MS, delay_s=0.0, batch=10)
    add(sched, 3)
    task = asyncio.create_task(sched.post_due())
    ticks = 0
    for _ in range(20):  # the loop keeps running (and adding) while the post waits
        await asyncio.sleep(0.005)
        sched.add("late", False, "u", "m")
        ticks += 1
    assert ticks == 20 and not posted
    release.set()
    assert await task == 23  # the labels added meanwhile went out in the next batches
    assert posted == [3, 10, 10]


async def test_run_posts_periodically_until_stopped() -> None:
    clock, poster = FakeClock(), Poster()
    sched = scheduler(poster, clock, delay_s=0.0, interval_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    add(sched, 2)
    for _ in range(100):
        if sched.posted == 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert sched.posted == 2


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("30s", 30.0), ("5m", 300.0)])
def test_label_delay_flag(text: str, seconds: float) -> None:
    from fraudctl.simulate.options import parse_delay

    assert parse_delay(text) == seconds
