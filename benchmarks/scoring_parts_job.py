"""The scoring job with one part of the scorer's per-record work left out, for
benchmarks/bench_job_parts.py: what each part costs in the running job, not in one process.

The graph is the job's own (`flink_job.job.build_job`); only the scorer class differs:

- `full`: the scorer as shipped;
- `no-state-write`: the user's keyed state is never written to Flink (kept in the scorer's
  cache only, so features stay right while the job runs: the cost of the JVM write);
- `no-alerts`: flagged transactions are logged but no alert goes to the Redis writer;
- `small-decision`: every decision record is replaced by a ~100-byte one after it was built
  (what the ~1 KB record costs downstream: Row conversion, Kafka sink, broker, reader);
- `no-model`: every transaction gets one fixed, unflagged decision (so no alerts either);
- `python-trees`: the model's trees stay generated Python, never native code
  (models/native_trees.py): what the native trees save in the running job.

Submitted with `flink run -py`; settings come from FRAUDCTL_*.
Usage: scoring_parts_job.py <variant> <job-name>
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import orjson
from pyflink.common import Row

from flink_job import ordering
from flink_job.connectors import make_environment
from flink_job.functions import ALERTS, ScoreTransactions
from flink_job.job import build_job
from flink_job.model import ModelPackage
from foundation.settings import get_settings
from models.detector import Decision
from models.features import UserState


def mapped(
    steps: Generator[Any, None, UserState | None], keep: Any
) -> Generator[Any, None, UserState | None]:
    """Re-yield what `steps` yields through `keep` (None drops it); return what it returns."""
    try:
        item = next(steps)
        while True:
            kept = keep(item)
            if kept is not None:
                yield kept
            item = next(steps)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class WithoutStateWrite(ScoreTransactions):
    def _save(self, key: str, slot: ordering.UserSlot, now: int) -> None:
        self.cache.put(key, slot, now)


def drop_alerts(item: Any) -> Any:
    """What the scorer yields, minus its alerts."""
    return None if isinstance(item, tuple) and item and item[0] is ALERTS else item


def small_decision(item: Any) -> Any:
    """A decision row with the record cut to what the benchmark reads; the rest as is."""
    if not isinstance(item, Row):
        return item
    record = orjson.loads(item[1])
    small = {k: record[k] for k in ("transaction_id", "received_at", "scored_at", "flagged")}
    return Row(item[0], orjson.dumps(small).decode())


class WithoutAlerts(ScoreTransactions):
    def _score_one(
        self, state: UserState | None, step: ordering.Step
    ) -> Generator[Any, None, UserState | None]:
        return (yield from mapped(super()._score_one(state, step), drop_alerts))


class SmallDecision(ScoreTransactions):
    def _score_one(
        self, state: UserState | None, step: ordering.Step
    ) -> Generator[Any, None, UserState | None]:
        return (yield from mapped(super()._score_one(state, step), small_decision))


class FixedDecision:
    """Stands in for the detector: one unflagged decision, no model evaluated."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.decision = Decision(0.0, detector.threshold, False, (), detector.model_version, 0.0)

    def decide(self, *_args: Any) -> Decision:
        return self.decision

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detector, name)


class WithoutModel(ScoreTransactions):
    def _prepare(self, now: int, ctx: Any) -> None:
        super()._prepare(now, ctx)
        switch = self.switch
        if switch is not None and not isinstance(switch.detector, FixedDecision):
            switch.detector = FixedDecision(switch.detector)  # type: ignore[assignment]


class PythonTrees(ScoreTransactions):
    kept: Any = None

    def _prepare(self, now: int, ctx: Any) -> None:
        super()._prepare(now, ctx)
        detector = self.switch.detector if self.switch is not None else None
        if detector is not None and detector is not self.kept:  # once per loaded model
            detector.scorer.tree_sum.keep_python()
            if detector.supervised is not None:
                detector.supervised.tree_sum.keep_python()
            self.kept = detector


VARIANTS: dict[str, type[ScoreTransactions]] = {
    "full": ScoreTransactions,
    "no-state-write": WithoutStateWrite,
    "no-alerts": WithoutAlerts,
    "small-decision": SmallDecision,
    "no-model": WithoutModel,
    "python-trees": PythonTrees,
}


def main() -> None:
    variant, name = sys.argv[1:3]
    settings = get_settings()
    env = make_environment(settings)
    build_job(env, settings, ModelPackage.load(settings.model.artifacts_dir), VARIANTS[variant])
    env.execute_async(name)


if __name__ == "__main__":
    main()
