"""Retraining during a replay: pause, let the job catch up, train from the decision log,
publish, and wait until every scoring subtask runs the new version.

The job records the version each subtask runs in the Redis hash `fraud:model:active`
(field = subtask index); continuing before it shows the new version everywhere would
score the next window with a mix of models. A subtask looks at the registry only while it
scores (at most every few seconds), and the replay is paused, so the wait sends a few
probe transactions (ids starting with `PROBE_PREFIX`, never learnt from) for fresh users
until every subtask has reported. Only fields below the scoring operator's parallelism are
read: a field left behind by an earlier, wider job must not make the wait hang.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from foundation.settings import Settings
from fraudctl.backtest.dataset import derived_card, format_ms
from fraudctl.backtest.decisions import DecisionCollector
from fraudctl.backtest.replay import RetrainEvent
from fraudctl.log_training import PROBE_PREFIX

ACTIVE_KEY: Final = "fraud:model:active"
SCORING_VERTEX: Final = "score per user"  # the name the job gives its scoring operator
TARGET_PRECISION: Final = 0.85  # `fraudctl train`'s default
PROBES_PER_ROUND: Final = 16  # fresh users per round: with p subtasks, all are hit w.h.p.
Trainer = Callable[[], str]  # trains from the log, publishes, returns the new version
Phase = Callable[[str], None]


class ProbeSender(Protocol):
    async def send_batch(self, bodies: list[dict[str, Any]]) -> Any: ...


class RetrainError(RuntimeError):
    """The retrain could not be completed in a way the replay can continue from."""


def active_key(settings: Settings) -> str:
    return str(getattr(settings.redis, "model_active_key", ACTIVE_KEY))


def rolled_out(active: dict[str, str], version: str, subtasks: int) -> bool:
    """True when subtasks 0..subtasks-1 all report `version` (other fields are ignored)."""
    return all(active.get(str(index)) == version for index in range(subtasks))


def scoring_parallelism(settings: Settings) -> int:
    """The running scoring operator's parallelism (Flink REST), else the configured one."""
    from foundation.flink_rest import FlinkRest
    from fraudctl.jobs import find_job

    try:
        job = find_job(settings)
        if job is not None:
            detail = FlinkRest.of(settings).job_detail(job.job_id)
            for vertex in detail.get("vertices", []):
                if str(vertex.get("name", "")).startswith(SCORING_VERTEX):
                    return int(vertex["parallelism"])
    except Exception:  # REST trouble: fall back to the setting
        pass
    return settings.job.parallelism


def probe_bodies(clock_ms: int, count: int, tag: str) -> list[dict[str, Any]]:
    """Transactions for `count` fresh users at the replay's event clock."""
    bodies = []
    for _ in range(count):
        name = f"{PROBE_PREFIX}{tag}-{secrets.token_hex(4)}"
        bodies.append(
            {
                "transaction_id": name,
                "user_id": name,
                "card_number": derived_card(name),
                "amount": 1.0,
                "timestamp": format_ms(clock_ms),
                "merchant_id": f"{PROBE_PREFIX}merchant",
                "location": "Online",
            }
        )
    return bodies


def from_log_trainer(settings: Settings, label_delay_ms: int) -> Trainer:
    """`fraudctl train --from-log` as a function: decision log + labels from Kafka, train,
    publish to the stack's registry (`model.artifacts_dir`) as the current version."""

    def train() -> str:
        from fraudctl.log_training import train_from_log

        card, _extra = train_from_log(
            settings, label_delay_ms, settings.model.artifacts_dir, TARGET_PRECISION
        )
        return str(card.model_version)

    return train


class Retrainer:
    """The replay's retrain hook (see `Replayer`)."""

    def __init__(
        self,
        settings: Settings,
        collector: DecisionCollector,
        trainer: Trainer,
        *,
        probes: ProbeSender | None = None,
        redis_client: Any = None,
        subtasks: int | None = None,
        stall_s: float = 60.0,
        rollout_timeout_s: float = 180.0,
        poll_s: float = 1.0,
        on_phase: Phase | None = None,
    ) -> None:
        self.settings = settings
        self.collector = collector
        self.trainer = trainer
        self.probes = probes
        self.stall_s = stall_s
        self.rollout_timeout_s = rollout_timeout_s
        self.poll_s = poll_s
        self.on_phase = on_phase or (lambda _text: None)
        self.subtasks = subtasks
        self.tag = secrets.token_hex(3)
        if redis_client is None:
            from foundation.redis_client import sync_client

            redis_client = sync_client(settings.redis, socket_timeout=10)
        self.redis = redis_client

    async def __call__(self, at_event_ms: int, sent: int) -> RetrainEvent:
        started = time.monotonic()
        self.on_phase(f"retrain: waiting for the job to score {sent:,} transactions")
        caught_up = await asyncio.to_thread(self.collector.wait_for, sent, stall_s=self.stall_s)
        if not caught_up:
            raise RetrainError(
                f"the job scored {self.collector.count():,} of {sent:,} transactions and then "
                f"nothing for {self.stall_s:.0f} s: is it running? (`fraudctl job status`)"
            )
        self.on_phase("retrain: training from the decision log")
        try:
            version = await asyncio.to_thread(self.trainer)
        except (ValueError, LookupError) as exc:  # e.g. too few labels: keep the current model
            return RetrainEvent(at_event_ms, None, time.monotonic() - started, f"skipped: {exc}")
        self.on_phase(f"retrain: waiting for every subtask to run {version}")
        await self._wait_rollout(version, at_event_ms)
        return RetrainEvent(at_event_ms, version, time.monotonic() - started, "rolled out")

    def close(self) -> None:
        close = getattr(self.redis, "close", None)
        if callable(close):
            close()

    async def _wait_rollout(self, version: str, clock_ms: int) -> None:
        key = active_key(self.settings)
        if self.subtasks is None:
            self.subtasks = await asyncio.to_thread(scoring_parallelism, self.settings)
        deadline = time.monotonic() + self.rollout_timeout_s
        active: dict[str, str] = {}
        while time.monotonic() < deadline:
            raw = await asyncio.to_thread(self.redis.hgetall, key)
            active = {_text(field): _text(value) for field, value in raw.items()}
            if rolled_out(active, version, self.subtasks):
                return
            if self.probes is not None:
                await self.probes.send_batch(probe_bodies(clock_ms, PROBES_PER_ROUND, self.tag))
            await asyncio.sleep(self.poll_s)
        shown = {k: v for k, v in active.items() if k.isdigit() and int(k) < self.subtasks}
        raise RetrainError(
            f"model {version} was published but after {self.rollout_timeout_s:.0f} s the job's "
            f"{self.subtasks} scoring subtasks report {shown or 'nothing'} in Redis {key}: "
            "is hot reload working (is the job reading this registry directory)?"
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
