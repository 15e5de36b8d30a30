"""One backtest: replay the file through the stack, drain, join decisions with labels,
compute the metrics for the test period.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from foundation.settings import Settings
from fraudctl.backtest.dataset import Dataset, format_ms
from fraudctl.backtest.decisions import DecisionCollector, LoggedDecision
from fraudctl.backtest.labels import LabelPoster
from fraudctl.backtest.metrics import DAY_MS, Metrics, Scored, compute_metrics
from fraudctl.backtest.replay import (
    Outgoing,
    ReplayConfig,
    Replayer,
    ReplayStats,
    prepare,
)
from fraudctl.backtest.retrain import Retrainer, Trainer, from_log_trainer
from fraudctl.simulate.sender import GatewaySender

DEFAULT_TEST_DAYS = 7


class BacktestError(RuntimeError):
    """The backtest cannot run (gateway or decision log unreachable, job stalled)."""


@dataclass(frozen=True)
class BacktestOptions:
    gateway_url: str
    label_delay_ms: int | None = 7 * DAY_MS
    retrain_every_ms: int | None = None
    test_from_ms: int | None = None
    k: int = 100
    batch_size: int = 500
    lanes: int = 4
    isolate: bool = True
    drain_stall_s: float = 60.0
    tag: str = field(default_factory=lambda: "bt" + secrets.token_hex(3))


@dataclass
class BacktestResult:
    tag: str
    rows_in_file: int
    test_from_ms: int
    metrics: Metrics
    scored: list[Scored]
    replay: ReplayStats
    bad: dict[str, Any]
    notes: list[str]
    labels: dict[str, Any]
    undecided: int  # accepted test rows the job wrote no decision for

    def to_dict(self) -> dict[str, Any]:
        payload = self.metrics.to_dict()
        payload.update(
            {
                "run_tag": self.tag,
                "rows_in_file": self.rows_in_file,
                "replayed": len(self.replay.accepted),
                "not_stored": self.replay.failed,
                "bad_rows": self.bad,
                "undecided": self.undecided,
                "test_from": format_ms(self.test_from_ms),
                "labels": self.labels,
                "retrains": [event.to_dict() for event in self.replay.retrains],
                "replay_seconds": round(self.replay.seconds, 1),
                "notes": self.notes,
            }
        )
        return payload


def default_test_from(dataset: Dataset) -> int:
    """The last DEFAULT_TEST_DAYS days of the file (all of it when it is shorter)."""
    return max(dataset.start_ms, dataset.end_ms - DEFAULT_TEST_DAYS * DAY_MS)


def local_card(digits: str) -> str:
    """A card id for decisions that carry no fingerprint (older job): never the number."""
    return "local-" + hashlib.sha256(digits.encode()).hexdigest()[:24]


def join(
    accepted: list[Outgoing], decisions: dict[str, LoggedDecision], test_from_ms: int
) -> tuple[list[Scored], int]:
    """Test rows with their first decision; also how many test rows had none."""
    scored: list[Scored] = []
    undecided = 0
    for item in accepted:
        row = item.row
        if row.event_ms < test_from_ms:
            continue
        decision = decisions.get(item.transaction_id)
        if decision is None:
            undecided += 1
            continue
        scored.append(
            Scored(
                transaction_id=row.transaction_id,
                event_ms=row.event_ms,
                fraud=row.fraud,
                score=decision.score,
                flagged=decision.flagged,
                card=decision.card_fingerprint or local_card(item.body["card_number"]),
                anomaly_score=decision.anomaly_score,
                pattern=row.pattern,
                model_version=decision.model_version,
            )
        )
    return scored, undecided


async def run_backtest(
    settings: Settings,
    options: BacktestOptions,
    dataset: Dataset,
    *,
    progress: Callable[[str, ReplayStats | None, int], None] | None = None,
    trainer: Trainer | None = None,
) -> BacktestResult:
    """Replay, drain, report. `progress(phase, stats, decisions)` is called as it goes."""
    tell = progress or (lambda _phase, _stats, _decided: None)
    config = ReplayConfig(
        tag=options.tag,
        batch_size=min(options.batch_size, settings.gateway.max_batch),
        lanes=options.lanes,
        label_delay_ms=options.label_delay_ms,
        retrain_every_ms=options.retrain_every_ms or None,
        isolate=options.isolate,
    )
    items = prepare(dataset.rows, config, dataset.bad)
    suffix = f"-{options.tag}"
    collector = DecisionCollector(settings, lambda txn: txn.endswith(suffix))
    sender = GatewaySender(options.gateway_url, connections=config.lanes + 1, timeout_s=30.0)
    labels = LabelPoster(options.gateway_url) if options.label_delay_ms is not None else None
    retrainer: Retrainer | None = None
    try:
        answer = await sender.health()
        if not answer.reachable:
            raise BacktestError(
                f"cannot reach the gateway at {options.gateway_url} ({answer.detail}): is the "
                "stack up? Start it with `fraudctl up`"
            )
        try:
            collector.start()
        except RuntimeError as exc:
            raise BacktestError(str(exc)) from None
        if config.retrain_every_ms:
            retrainer = Retrainer(
                settings,
                collector,
                trainer or from_log_trainer(settings, config.label_delay_ms or 0),
                probes=sender,
                on_phase=lambda text: tell(text, None, collector.count()),
                stall_s=options.drain_stall_s,
            )
        replayer = Replayer(
            config,
            sender,
            dataset.bad,
            labels=labels,
            retrain=retrainer,
            progress=lambda stats: tell("replaying", stats, collector.count()),
        )
        stats = await replayer.run(items)
        expected = len(stats.accepted)
        done = await asyncio.to_thread(
            collector.wait_for,
            expected,
            stall_s=options.drain_stall_s,
            on_progress=lambda got: tell("draining", stats, got),
        )
        decisions = collector.snapshot()
    finally:
        collector.close()
        if retrainer is not None:
            retrainer.close()
        await sender.close()
        if labels is not None:
            await labels.close()
    test_from = options.test_from_ms
    if test_from is None:
        test_from = default_test_from(dataset)
    scored, undecided = join(stats.accepted, decisions, test_from)
    notes = list(dataset.notes)
    if not done:
        notes.append(
            f"the job wrote decisions for {len(decisions):,} of {expected:,} replayed "
            f"transactions, then nothing for {options.drain_stall_s:.0f} s; the rest are "
            "counted as undecided"
        )
    if collector.duplicates:
        notes.append(f"{collector.duplicates:,} duplicate decisions ignored (first kept)")
    if not scored:
        raise BacktestError(
            f"no decided transactions at or after {format_ms(test_from)} (the test period): "
            "check --test-from and that the scoring job is running"
        )
    return BacktestResult(
        tag=options.tag,
        rows_in_file=dataset.size,
        test_from_ms=test_from,
        metrics=compute_metrics(scored, options.k),
        scored=scored,
        replay=stats,
        bad=dataset.bad.to_dict(),
        notes=notes,
        labels=labels.result.to_dict() if labels is not None else {"sent": 0},
        undecided=undecided,
    )
