"""The simulator's ground truth, posted as labels through the gateway after a delay.

Every accepted transaction gets a label (fraud or legit) that becomes due `delay_s` after
it was accepted, as a chargeback or an analyst's verdict would come later than the
payment. Due labels go out in batches through `LabelClient.post` in a worker thread, so
the send loop never waits for them; `add` only appends to a queue. A batch the gateway
could not store stays queued and is retried with growing backoff; one it refused (422,
a bug) is dropped and reported. `finish` posts whatever is still queued at the end, due or
not, within a time limit, and reports what it could not.

`labelled_at` is the simulated clock (the event time of the newest transaction sent)
when the batch goes out, so the job sees each label arrive after its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from fraudctl.labels_client import LabelPostError, Posted
from fraudctl.simulate.schedule import Clock
from models.contracts.label import Label

log = logging.getLogger(__name__)
BACKOFF_MAX_S = 10.0

PostLabels = Callable[[Sequence[Label]], Posted]
OnPosted = Callable[[list[Label]], Awaitable[None]]


class Truth(NamedTuple):
    """One accepted transaction's ground truth, waiting for its label to be due."""

    due: float
    transaction_id: str
    fraud: bool
    user_id: str
    merchant_id: str


class LabelScheduler:
    """Queues ground truth and posts it when due; see the module doc."""

    def __init__(
        self,
        post: PostLabels,
        *,
        clock: Clock,
        labelled_at: Callable[[], int],
        delay_s: float,
        batch: int,
        on_posted: OnPosted | None = None,
        interval_s: float = 0.25,
    ) -> None:
        self._post = post
        self._clock = clock
        self._labelled_at = labelled_at
        self.delay_s = delay_s
        self.batch = batch
        self._on_posted = on_posted
        self.interval_s = interval_s
        self._queue: deque[Truth] = deque()
        self.posted = 0
        self.refused = 0
        self.unposted = 0
        self.error = ""
        self._retry_at = 0.0
        self._backoff_s = 0.0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add(self, transaction_id: str, fraud: bool, user_id: str, merchant_id: str) -> None:
        """Queue one accepted transaction's truth (cheap: the send loop calls it)."""
        due = self._clock.now() + self.delay_s
        self._queue.append(Truth(due, transaction_id, fraud, user_id, merchant_id))

    def _take(self, *, everything: bool) -> list[Truth]:
        now = self._clock.now()
        taken: list[Truth] = []
        while self._queue and len(taken) < self.batch:
            if not everything and self._queue[0].due > now:
                break
            taken.append(self._queue.popleft())
        return taken

    def _build_and_post(self, truths: list[Truth], at_ms: int) -> list[Label]:
        """In the worker thread: make the labels and post them."""
        labels = [
            Label(
                transaction_id=t.transaction_id,
                label="fraud" if t.fraud else "legit",
                source="simulator",
                labelled_at=at_ms,
                user_id=t.user_id,
                merchant_id=t.merchant_id,
            )
            for t in truths
        ]
        self._post(labels)
        return labels

    async def post_due(self, *, everything: bool = False) -> int:
        """Post due labels (all queued ones with `everything`), batch by batch.

        Returns how many were stored; stops at the first batch the gateway could not take.
        """
        stored = 0
        if self._clock.now() < self._retry_at:
            return stored
        while truths := self._take(everything=everything):
            try:
                labels = await asyncio.to_thread(self._build_and_post, truths, self._labelled_at())
            except asyncio.CancelledError:  # the outcome is unknown: keep them (resent later)
                self._queue.extendleft(reversed(truths))
                raise
            except LabelPostError as exc:
                if exc.retryable:
                    self._queue.extendleft(reversed(truths))
                    self._backoff_s = min(BACKOFF_MAX_S, max(0.5, self._backoff_s * 2))
                    self._retry_at = self._clock.now() + self._backoff_s
                    self.error = f"labels not posted yet (will retry): {exc.message}"
                    return stored
                self.refused += len(truths)
                self.error = f"{len(truths)} labels refused by the gateway: {exc.message}"
                continue
            except Exception as exc:  # a bug must show in the summary, not kill the run
                log.exception("posting labels failed")
                self.refused += len(truths)
                self.error = f"{len(truths)} labels not posted: {exc!r}"
                continue
            stored += len(labels)
            self.posted += len(labels)
            self._backoff_s, self._retry_at = 0.0, 0.0
            if self.error.startswith("labels not posted yet"):
                self.error = ""
            if self._on_posted is not None:
                await self._on_posted(labels)
        return stored

    async def run(self, stop: asyncio.Event) -> None:
        """Post due labels every `interval_s` until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            await self.post_due()

    async def finish(self, timeout_s: float) -> None:
        """Post everything still queued (due or not), for at most `timeout_s`."""
        self._retry_at = 0.0
        try:
            async with asyncio.timeout(timeout_s):
                while self._queue:
                    await self.post_due(everything=True)
                    if self._queue:
                        await self._clock.sleep(max(0.01, self._retry_at - self._clock.now()))
        except TimeoutError:
            pass
        self.unposted = len(self._queue)
        if self.unposted:
            self.error = (
                f"{self.unposted} labels were still unposted when the run ended "
                f"({self.error or 'time ran out'})"
            )
