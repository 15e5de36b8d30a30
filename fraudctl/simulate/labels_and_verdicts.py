"""The verdicts the simulator follows beside the gateway: alerts on the stream and the
job's decision log on Kafka (both parsed with `models.contracts`).

Both are best effort: if Redis or Kafka cannot be reached the run goes on, and the
summary says what is missing instead of the simulator failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.alert_stream import AsyncAlertStreamReader
from foundation.decision_log import DecisionLogTail, DecisionLogUnavailable
from foundation.settings import Settings
from models.contracts.decision import DecisionDeduper, DecisionRecord

log = logging.getLogger(__name__)


class AlertFollower:
    """Follows the alert stream from where it ended when the run began."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        on_alert: Callable[[str, int | None], None],
        *,
        belongs: Callable[[str], bool],
    ) -> None:
        self.reader = AsyncAlertStreamReader(client, stream)
        self.on_alert = on_alert
        self.belongs = belongs
        self.error = ""

    async def start(self) -> None:
        """Take the position now, before the first transaction is sent."""
        await self.reader.backfill(0)

    async def poll(self, block_ms: int | None = 100) -> int:
        """Read what arrived; returns how many of this run's alerts were seen."""
        try:
            entries = await self.reader.read(block_ms=block_ms, count=1000)
        except (RedisError, OSError) as exc:
            self.error = f"alert stream unreadable: {exc}"
            await asyncio.sleep(1.0)
            return 0
        self.error = ""
        mine = 0
        for entry in entries:
            if self.belongs(entry.alert.transaction_id):
                mine += 1
                self.on_alert(entry.alert.transaction_id, entry.alert.latency_ms)
        return mine

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll()


class DecisionFollower:
    """This run's decisions from the decision log, followed from its end at start.

    The shared `DecisionLogTail` reads in a thread and drops repeats (first per id counts);
    decisions wait in a queue the event loop drains: they tell how much of the run the job
    has scored, and what it decided. Kafka is optional for the simulator: when the log
    cannot be read, `available` stays False and `error` says why.
    """

    def __init__(self, settings: Settings, belongs: Callable[[str], bool]) -> None:
        self.decisions: deque[DecisionRecord] = deque()
        self.tail = DecisionLogTail(settings, "fraudctl-simulate", belongs, self.decisions.append)
        self.available = False
        self._error = ""

    @property
    def dedupe(self) -> DecisionDeduper:
        return self.tail.dedupe

    @property
    def invalid(self) -> int:
        return self.tail.invalid

    @property
    def error(self) -> str:
        return self._error or self.tail.error

    def start(self, timeout_s: float = 3.0) -> None:
        """Assign every partition at its current end; on any failure, stay unavailable."""
        try:
            self.tail.start(timeout_s)
        except DecisionLogUnavailable as exc:
            self._error = f"{exc}; precision/recall come from alerts alone"
            return
        self.available = True

    def drain(self) -> list[DecisionRecord]:
        out = []
        while self.decisions:
            out.append(self.decisions.popleft())
        return out

    def close(self) -> None:
        self.tail.close()
