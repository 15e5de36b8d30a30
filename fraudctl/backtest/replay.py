"""Replaying a labelled file through the real gateway in event-time order.

The rows go out in windows of `lanes x batch_size`: inside a window each user's rows are
in one lane, a lane posts its batches one after another, and a window starts only when
the previous one is stored. So every user's transactions reach Kafka in event-time order
(the job's features depend on it) while `lanes` batches are in flight, and the gateway's
503s slow the replay down instead of losing rows (retried with backoff, counted as failed
only after `give_up_s` without progress). Between windows the event clock (the last
replayed event time) releases the labels that are due and, every `retrain_every`, pauses
for a retrain.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fraudctl.backtest.dataset import BadRows, Row, derived_card, format_ms
from fraudctl.backtest.labels import LabelPoster, LabelSchedule
from fraudctl.simulate.sender import GatewaySender, Outcome

ID_LIMIT = 64  # the gateway's identifier length limit


@dataclass(frozen=True)
class ReplayConfig:
    tag: str
    batch_size: int = 500
    lanes: int = 4
    label_delay_ms: int | None = 7 * 86_400_000  # None: no labels are posted
    retrain_every_ms: int | None = None
    isolate: bool = True  # tag user/merchant ids and remap cards, not only transaction ids
    give_up_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A row as this run sends it: the gateway body and the run's (tagged) ids."""

    row: Row
    body: dict[str, Any]

    @property
    def transaction_id(self) -> str:
        return str(self.body["transaction_id"])


def tagged(value: str, tag: str) -> str:
    return f"{value}-{tag}"


def prepare(rows: Sequence[Row], config: ReplayConfig, bad: BadRows) -> list[Outgoing]:
    """Gateway bodies with the run's tag on the ids (so reruns are new transactions, users,
    merchants and cards to the job); rows whose ids would grow too long are bad rows."""
    out: list[Outgoing] = []
    room = ID_LIMIT - len(config.tag) - 1
    names = ("transaction_id", "user_id", "merchant_id") if config.isolate else ("transaction_id",)
    for row in rows:
        too_long = [name for name in names if len(getattr(row, name)) > room]
        if too_long:
            bad.add(
                f"row {row.line}",
                f"{too_long[0]} is longer than {room} characters (room left for the run tag)",
            )
            continue
        card = (
            derived_card(f"{config.tag}:{row.card_number}") if config.isolate else row.card_number
        )
        body: dict[str, Any] = {
            "transaction_id": tagged(row.transaction_id, config.tag),
            "user_id": tagged(row.user_id, config.tag) if config.isolate else row.user_id,
            "card_number": card,
            "amount": row.amount,
            "timestamp": format_ms(row.event_ms),
            "merchant_id": tagged(row.merchant_id, config.tag)
            if config.isolate
            else row.merchant_id,
            "location": row.location,
        }
        if row.currency is not None:
            body["currency"] = row.currency
        if row.latitude is not None and row.longitude is not None:
            body["latitude"] = row.latitude
            body["longitude"] = row.longitude
        out.append(Outgoing(row, body))
    return out


@dataclass
class RetrainEvent:
    at_event_ms: int
    version: str | None
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_ms(self.at_event_ms),
            "version": self.version,
            "seconds": round(self.seconds, 1),
            "detail": self.detail,
        }


@dataclass
class ReplayStats:
    total: int
    accepted: list[Outgoing] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    retrains: list[RetrainEvent] = field(default_factory=list)
    clock_ms: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def failed_count(self) -> int:
        return sum(self.failed.values())


class Retrain(Protocol):
    """Pause-and-retrain hook: returns the event it recorded."""

    def __call__(self, at_event_ms: int, sent: int) -> Awaitable[RetrainEvent]: ...


Progress = Callable[[ReplayStats], None]


class Replayer:
    """Sends prepared rows, posts due labels, and calls the retrain hook on schedule."""

    def __init__(
        self,
        config: ReplayConfig,
        sender: GatewaySender,
        bad: BadRows,
        *,
        labels: LabelPoster | None = None,
        retrain: Retrain | None = None,
        progress: Progress | None = None,
    ) -> None:
        if config.lanes < 1 or config.batch_size < 1:
            raise ValueError("lanes and batch size must be at least 1")
        self.config = config
        self.sender = sender
        self.bad = bad
        self.labels = labels
        self.retrain = retrain
        self.progress = progress
        delay = config.label_delay_ms
        self.schedule = LabelSchedule(delay) if delay is not None and labels else None

    async def run(self, items: Sequence[Outgoing]) -> ReplayStats:
        stats = ReplayStats(total=len(items))
        if not items:
            return stats
        window = self.config.lanes * self.config.batch_size
        every = self.config.retrain_every_ms
        next_retrain = items[0].row.event_ms + every if every else None
        for start in range(0, len(items), window):
            chunk = items[start : start + window]
            await self._send_window(chunk, stats)
            stats.clock_ms = chunk[-1].row.event_ms
            await self._post_due(stats.clock_ms)
            if next_retrain is not None and every and stats.clock_ms >= next_retrain:
                assert self.retrain is not None
                event = await self.retrain(stats.clock_ms, len(stats.accepted))
                stats.retrains.append(event)
                while next_retrain <= stats.clock_ms:
                    next_retrain += every
            self._report(stats)
        stats.seconds = time.monotonic() - stats.started
        self._report(stats)
        return stats

    def _report(self, stats: ReplayStats) -> None:
        if self.progress is not None:
            self.progress(stats)

    async def _post_due(self, clock_ms: int) -> None:
        if self.schedule is not None and self.labels is not None:
            due = self.schedule.due(clock_ms)
            if due:
                await self.labels.post(due)

    async def _send_window(self, chunk: Sequence[Outgoing], stats: ReplayStats) -> None:
        lanes: list[list[Outgoing]] = [[] for _ in range(self.config.lanes)]
        for item in chunk:
            key = item.body["user_id"].encode()
            lanes[zlib.crc32(key) % self.config.lanes].append(item)
        results = await asyncio.gather(*(self._lane(lane) for lane in lanes if lane))
        accepted = {id(item) for done, _ in results for item in done}
        for item in chunk:  # keep event-time order in the accepted list
            if id(item) in accepted:
                stats.accepted.append(item)
                if self.schedule is not None:
                    self.schedule.add(
                        item.transaction_id,
                        item.row.fraud,
                        item.row.event_ms,
                        item.body["user_id"],
                        item.body["merchant_id"],
                    )
        for _, failed in results:
            for reason, count in failed.items():
                stats.failed[reason] = stats.failed.get(reason, 0) + count

    async def _lane(self, items: list[Outgoing]) -> tuple[list[Outgoing], dict[str, int]]:
        done: list[Outgoing] = []
        failed: dict[str, int] = {}
        size = self.config.batch_size
        for start in range(0, len(items), size):
            pending = items[start : start + size]
            delay, stuck_since = 0.25, time.monotonic()
            while pending:
                outcomes = await self.sender.send_batch([item.body for item in pending])
                retry: list[tuple[Outgoing, Outcome]] = []
                for item, outcome in zip(pending, outcomes, strict=True):
                    if outcome.accepted:
                        done.append(item)
                    elif _refused(outcome):
                        self.bad.add(f"row {item.row.line}", _refusal(outcome))
                    else:
                        retry.append((item, outcome))
                if len(retry) < len(pending):
                    delay, stuck_since = 0.25, time.monotonic()
                pending = [item for item, _ in retry]
                if not pending:
                    break
                if time.monotonic() - stuck_since > self.config.give_up_s:
                    reason = _failure(retry[-1][1])
                    unsent = len(pending) + len(items) - min(start + size, len(items))
                    failed[reason] = failed.get(reason, 0) + unsent
                    return done, failed
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return done, failed


def _refused(outcome: Outcome) -> bool:
    """The gateway judged the row itself (4xx other than 408/429): retrying cannot help."""
    status = outcome.status
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


def _refusal(outcome: Outcome) -> str:
    detail = outcome.message or outcome.error or f"HTTP {outcome.status}"
    return f"refused by the gateway: {detail}"


def _failure(outcome: Outcome) -> str:
    detail = outcome.message or outcome.error or str(outcome.status)
    return f"not stored: gateway unavailable ({detail})"
