"""Retrying a call until its server is back, with capped exponential backoff, written once.

Readers and writers whose server (Redis, Kafka) may go away for a while do not give up:
they try the same call again, waiting `first_s`, `2·first_s`, … up to `max_s` between
tries. `on_retry` hears every failure (with how many there were so far), so a caller can
report "down" once; the call returning means the server is back. Errors that are not
listed as transient propagate at once. Built on tenacity; the policy objects are made
once and reused, so a call that succeeds first time costs little.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type
from tenacity.wait import wait_exponential

T = TypeVar("T")
Errors = tuple[type[BaseException], ...]
RetryHook = Callable[[BaseException, int], None]
AsyncRetryHook = Callable[[BaseException, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between tries: `first_s`, doubling, never above `max_s`."""

    first_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError(
                f"backoff needs 0 < first_s <= max_s, got first_s={self.first_s}, "
                f"max_s={self.max_s}"
            )

    def wait(self) -> wait_exponential:
        return wait_exponential(multiplier=self.first_s, max=self.max_s)


def _failure(state: RetryCallState) -> BaseException:
    error = state.outcome.exception() if state.outcome is not None else None
    return error if error is not None else RuntimeError("retried without an error")


class Reconnect:
    """Calls `fn()` until it returns, retrying on `errors` (blocking; for threads)."""

    def __init__(
        self,
        errors: Errors,
        backoff: Backoff,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: RetryHook | None = None,
    ) -> None:
        self._on_retry = on_retry
        self._retrying = Retrying(
            retry=retry_if_exception_type(errors),
            wait=backoff.wait(),
            sleep=sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def _before_sleep(self, state: RetryCallState) -> None:
        if self._on_retry is not None:
            self._on_retry(_failure(state), state.attempt_number)

    def __call__(self, fn: Callable[[], T]) -> T:
        return self._retrying(fn)


class AsyncReconnect:
    """The same for coroutines: awaits `fn()` until it returns, sleeping without blocking."""

    def __init__(
        self,
        errors: Errors,
        backoff: Backoff,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: AsyncRetryHook | None = None,
    ) -> None:
        self._on_retry = on_retry
        self._retrying = AsyncRetrying(
            retry=retry_if_exception_type(errors),
            wait=backoff.wait(),
            sleep=sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    async def _before_sleep(self, state: RetryCallState) -> None:
        if self._on_retry is not None:
            await self._on_retry(_failure(state), state.attempt_number)

    async def __call__(self, fn: Callable[[], Awaitable[T]]) -> T:
        # tenacity keeps a call's progress per thread; coroutines sharing this object in one
        # thread would mix theirs, so each call gets its own copy of the policy.
        return await self._retrying.copy()(fn)
