"""The one reconnect helper: capped exponential waits, a hook per failure, other errors pass."""

from __future__ import annotations

import pytest

from foundation.retry import AsyncReconnect, Backoff, Reconnect


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_waits_double_up_to_the_cap_and_the_hook_hears_each_failure() -> None:
    sleeps: list[float] = []
    heard: list[tuple[str, int]] = []
    reconnect = Reconnect(
        (ConnectionError,),
        Backoff(0.05, 2.0),
        sleep=sleeps.append,
        on_retry=lambda error, failures: heard.append((str(error), failures)),
    )
    assert reconnect(Flaky(8, ConnectionError("refused"))) == "done"
    assert sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert heard == [("refused", n) for n in range(1, 9)]


def test_the_backoff_starts_again_for_the_next_call() -> None:
    sleeps: list[float] = []
    reconnect = Reconnect((ConnectionError,), Backoff(0.5, 5.0), sleep=sleeps.append)
    reconnect(Flaky(3, ConnectionError()))
    reconnect(Flaky(1, ConnectionError()))
    assert sleeps == [0.5, 1.0, 2.0, 0.5]


def test_an_error_not_listed_propagates_at_once() -> None:
    flaky = Flaky(1, ValueError("bad input"))
    reconnect = Reconnect((ConnectionError,), Backoff(0.1, 1.0), sleep=lambda _s: None)
    with pytest.raises(ValueError, match="bad input"):
        reconnect(flaky)
    assert flaky.calls == 1


@pytest.mark.parametrize(("first", "most"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_a_backoff_that_cannot_work_is_refused(first: float, most: float) -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(first, most)


async def test_the_async_helper_sleeps_without_blocking_and_awaits_its_hook() -> None:
    sleeps: list[float] = []
    heard: list[int] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def hook(_error: BaseException, failures: int) -> None:
        heard.append(failures)

    flaky = Flaky(3, OSError("down"))

    async def call() -> str:
        return flaky()

    reconnect = AsyncReconnect((OSError,), Backoff(0.5, 5.0), sleep=sleep, on_retry=hook)
    assert await reconnect(call) == "done"
    assert sleeps == [0.5, 1.0, 2.0]
    assert heard == [1, 2, 3]
