"""Reading `fraud:alerts` from a reader's own position, so every reader sees every alert.

Shared by the dashboard (a service) and the operator tools, hence in the foundation.

Readers use XREAD from the last stream id they saw (no consumer group, no LPOP): the
console, the dashboard's clients and `fraudctl alerts` never take alerts from each other,
and a reader that reconnects resumes where it stopped instead of counting twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from models.contracts.alert import Alert, AlertParseError, parse_alert_fields

log = logging.getLogger(__name__)

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
START_OF_STREAM = "0-0"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One alert with the stream id it was read at (its position and its arrival time)."""

    stream_id: str
    alert: Alert

    @property
    def stream_ms(self) -> int:
        return stream_id_ms(self.stream_id)


def stream_id_ms(stream_id: str) -> int:
    """The millisecond part of a stream id: when Redis received the entry."""
    return int(stream_id.split("-", 1)[0])


def check_stream_id(value: str) -> str:
    """Validate a stream id from outside (e.g. a browser), with a message that says how."""
    if not STREAM_ID.match(value):
        raise ValueError(
            f"stream id {value!r} is not valid: use the form '<milliseconds>-<sequence>', "
            "e.g. '1721037600000-0'"
        )
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Position:
    """Position bookkeeping and decoding shared by the sync and async readers."""

    def __init__(self, stream: str, last_id: str | None) -> None:
        self.stream = stream
        self.last_id = check_stream_id(last_id) if last_id is not None else None
        self.skipped = 0
        self.last_error: str | None = None

    def _decode(self, raw: Iterable[Sequence[Any]]) -> list[StreamEntry]:
        entries: list[StreamEntry] = []
        for raw_id, fields in raw:
            stream_id = _text(raw_id)
            self.last_id = stream_id
            try:
                entries.append(StreamEntry(stream_id, parse_alert_fields(fields or {})))
            except AlertParseError as exc:
                self.skipped += 1
                self.last_error = f"entry {stream_id}: {exc}"
                log.warning("skipping stream entry %s: %s", stream_id, exc)
        return entries

    def _after_backfill(self, newest_first: list[Any]) -> list[StreamEntry]:
        if not newest_first:
            self.last_id = self.last_id or START_OF_STREAM
            return []
        return self._decode(reversed(newest_first))

    def _xread_result(self, result: Any) -> list[StreamEntry]:
        if not result:
            return []
        # redis-py gives [[stream, [(id, fields), ...]]] for RESP2.
        _, raw = result[0]
        return self._decode(raw)


class AlertStreamReader(_Position):
    """Blocking reader for threads (the console's worker, `fraudctl alerts --follow`)."""

    def __init__(self, client: redis.Redis, stream: str, *, last_id: str | None = None) -> None:
        super().__init__(stream, last_id)
        self.client = client

    def backfill(self, count: int) -> list[StreamEntry]:
        """The newest `count` alerts, oldest first; positions the reader after them."""
        if count <= 0:
            newest: list[Any] = self.client.xrevrange(self.stream, count=1)  # type: ignore[assignment]
            self.last_id = _text(newest[0][0]) if newest else START_OF_STREAM
            return []
        raw: list[Any] = self.client.xrevrange(self.stream, count=count)  # type: ignore[assignment]
        return self._after_backfill(raw)

    def catch_up(self, limit: int) -> list[StreamEntry]:
        """The newest `limit` alerts after the current position (after a reconnect)."""
        if self.last_id is None:
            return self.backfill(limit)
        raw: list[Any] = self.client.xrevrange(  # type: ignore[assignment]
            self.stream, max="+", min=f"({self.last_id}", count=limit
        )
        return self._after_backfill(raw)

    def read(self, block_ms: int | None = 1000, count: int = 500) -> list[StreamEntry]:
        """Alerts after the position, waiting up to `block_ms` for one (None: no wait)."""
        if self.last_id is None:
            self.backfill(0)
        assert self.last_id is not None
        result = self.client.xread({self.stream: self.last_id}, count=count, block=block_ms)
        return self._xread_result(result)


class AsyncAlertStreamReader(_Position):
    """The same reader for asyncio code (the dashboard's WebSocket handlers)."""

    def __init__(self, client: aioredis.Redis, stream: str, *, last_id: str | None = None) -> None:
        super().__init__(stream, last_id)
        self.client = client

    async def backfill(self, count: int) -> list[StreamEntry]:
        if count <= 0:
            newest = await self.client.xrevrange(self.stream, count=1)
            self.last_id = _text(newest[0][0]) if newest else START_OF_STREAM
            return []
        return self._after_backfill(await self.client.xrevrange(self.stream, count=count))

    async def catch_up(self, limit: int) -> list[StreamEntry]:
        if self.last_id is None:
            return await self.backfill(limit)
        raw = await self.client.xrevrange(self.stream, max="+", min=f"({self.last_id}", count=limit)
        return self._after_backfill(raw)

    async def read(self, block_ms: int | None = 1000, count: int = 500) -> list[StreamEntry]:
        if self.last_id is None:
            await self.backfill(0)
        assert self.last_id is not None
        result = await self.client.xread({self.stream: self.last_id}, count=count, block=block_ms)
        return self._xread_result(result)
