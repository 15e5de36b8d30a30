"""The alert feed of one dashboard page: history, then every new alert, and stats.

Each client reads the stream from its own position, so every open page receives every
alert. A page that reconnects says which stream id it saw last (`?after=`) and gets only
what came after, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.alert_stream import START_OF_STREAM, AsyncAlertStreamReader, StreamEntry
from foundation.retry import AsyncReconnect, Backoff

Send = Callable[[dict[str, Any]], Awaitable[None]]

HOUR_MS = 3_600_000
# While Redis is away each page hears "down" once and the feed retries, 0.5 s up to 5 s apart.
STREAM_ERRORS = (RedisError, OSError)
STREAM_BACKOFF = Backoff(first_s=0.5, max_s=5.0)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Stream totals as of stream id `as_of`; pages add the alerts they get after it."""

    total: int
    last_hour: int
    last_hour_capped: bool
    as_of: str

    def message(self) -> dict[str, Any]:
        return {
            "type": "stats",
            "total": self.total,
            "last_hour": self.last_hour,
            "last_hour_capped": self.last_hour_capped,
            "as_of": self.as_of,
        }


class StatsCache:
    """Shared by all clients: counts the stream at most once per `max_age_s`."""

    def __init__(self, client: aioredis.Redis, stream: str, *, max_age_s: float = 5.0,
                 last_hour_cap: int = 5000) -> None:  # fmt: skip
        self.client = client
        self.stream = stream
        self.max_age_s = max_age_s
        self.last_hour_cap = last_hour_cap
        self._stats: StreamStats | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> StreamStats:
        async with self._lock:
            if self._stats is None or time.monotonic() - self._at > self.max_age_s:
                self._stats = await self._count()
                self._at = time.monotonic()
            return self._stats

    async def _count(self) -> StreamStats:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xlen(self.stream)
            pipe.xrevrange(self.stream, count=1)
            total, newest = await pipe.execute()
        as_of = newest[0][0] if newest else START_OF_STREAM
        cutoff = f"{int(time.time() * 1000) - HOUR_MS}-0"
        counted, upper, capped = 0, as_of, False
        while newest:
            page = await self.client.xrevrange(self.stream, max=upper, min=cutoff, count=1000)
            counted += len(page)
            if counted >= self.last_hour_cap:
                counted, capped = self.last_hour_cap, True
                break
            if len(page) < 1000:
                break
            upper = f"({page[-1][0]}"
        return StreamStats(int(total), counted, capped, as_of)


def alert_message(entry: StreamEntry) -> dict[str, Any]:
    return {"type": "alert", "id": entry.stream_id, "alert": entry.alert.model_dump()}


class ClientFeed:
    """Feeds one WebSocket until it is cancelled; survives Redis going away."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        stats: StatsCache,
        *,
        history: int,
        after: str | None,
        block_ms: int = 1000,
        stats_every_s: float = 5.0,
    ) -> None:
        self.reader = AsyncAlertStreamReader(client, stream, last_id=after)
        self.stats = stats
        self.history = history
        self.block_ms = block_ms
        self.stats_every_s = stats_every_s

    async def run(self, send: Send) -> None:
        caught_up = False
        stream_up: bool | None = None
        next_stats = 0.0

        async def down(error: BaseException, _failures: int) -> None:
            nonlocal stream_up
            if stream_up is not False:
                await send({"type": "status", "stream": "down", "detail": str(error)})
            stream_up = False

        reconnect = AsyncReconnect(STREAM_ERRORS, STREAM_BACKOFF, on_retry=down)

        async def step() -> tuple[list[StreamEntry], StreamStats | None]:
            if not caught_up:
                entries = await self.reader.catch_up(self.history)
            else:
                entries = await self.reader.read(block_ms=self.block_ms)
            stats = await self.stats.get() if time.monotonic() >= next_stats else None
            return entries, stats

        while True:
            entries, stats = await reconnect(step)
            if stream_up is not True:
                await send({"type": "status", "stream": "up", "detail": ""})
                stream_up = True
            if not caught_up:
                caught_up = True
                await send({"type": "hello", "history": len(entries)})
            for entry in entries:
                await send(alert_message(entry))
            if stats is not None:
                await send(stats.message())
                next_stats = time.monotonic() + self.stats_every_s
