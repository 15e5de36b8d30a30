"""The scoring job with one part of the scorer's per-record work left out, for
benchmarks/bench_job_parts.py: what each part costs in the running job, not in one process.

The graph is the job's own (`flink_job.job.build_job`); only the scorer class differs:

- `full`: the scorer as shipped;
- `no-state-write`: the user's keyed state is never written to Flink (kept in the scorer's
  cache only, so features stay right while the job runs: the cost of the JVM write);
- `tiny-state-write`: a one-element value written in place of the user's state (the JVM
  call without the bytes: which of the two the write costs);
- `relaxed-gc`: CPython's cyclic collector run less often (`gc.set_threshold(50_000, 50,
  100)`, `gc.freeze()` at open): what the collector costs with many users cached;
- `no-alerts`: flagged transactions are logged but no alert goes to the Redis writer;
- `small-decision`: every decision record is replaced by a ~100-byte one after it was built
  (what the ~1 KB record costs downstream: Row conversion, Kafka sink, broker, reader);
- `no-model`: every transaction gets one fixed, unflagged decision (so no alerts either);
- `python-trees`: the model's trees stay generated Python, never native code
  (models/native_trees.py): what the native trees save in the running job;
- `linger-2`, `no-compression`, `linger-5`, `linger-10`, `linger-20`: the scorer as shipped,
  the job's Kafka writers lingering 2 ms (as before `job.log_linger_ms`), 2 ms without
  compression, or 5, 10 or 20 ms (fewer, fuller batches: each new batch allocates a fresh
  lz4 stream, in the scorer's thread, and is one more produce request to the broker); zstd
  is not on the connector's classpath;
- `floor`: the scorer does nothing but emit a decision-sized record (~1 KB, its own
  transaction id and times, the rest fixed) per transaction: no state, features, labels,
  model or alerts. What the job's graph costs around the scorer's work (parse, key_by,
  the two-input Python operator, the Row conversion and the decision log's writer);
- `stages`: the scorer as shipped, each stage of its per-record work timed in thread CPU
  inside the running job (see "Stages" below; bench_job_cpu.py reports it);
- `one-input`: the full scorer in a one-input keyed operator, labels and rules not
  connected (it sees an empty label book and no operator rules): what the two-input
  broadcast operator costs against the one-input kind the bare job uses.

Stages. A profile of one stage at a time in one process (profile_record.py) keeps each
stage's code and data hot in the caches; in the job every record runs all of them, between
the JVM's work, on two shared cores. `stages` wraps each stage where the scorer calls it
(module globals of flink_job.functions, the detector's and the label book's methods, the
scorer's own methods) inside the TaskManager's interpreter, and times besides them all of
`process_element` and the thread's CPU between the end of one call and the start of the
next (PyFlink's handling of the record and its outputs, the chained Kafka writer). Each
timed call reads the thread's CPU clock twice (~0.2 us each here), so the stages run a
little slower than in the shipped scorer. The figures are means since the job started
(the CPU benchmark's own window is 20-80 % of the output). The code lives here, in the
script Flink runs, so it travels with the job (the benchmarks are not installed on the
TaskManagers).

Submitted with `flink run -py`; settings come from FRAUDCTL_*.
Usage: scoring_parts_job.py <variant> <job-name>
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Row
from pyflink.datastream import KeyedProcessFunction, KeyedStream, RuntimeContext

from flink_job import connectors, functions, ordering
from flink_job.connectors import make_environment
from flink_job.functions import ALERTS, ScoreTransactions
from flink_job.job import build_job
from flink_job.model import ModelPackage
from foundation.clock import now_ms
from foundation.settings import get_settings
from models import detector, label_risk
from models.detector import Decision
from models.features import UserState

TINY_IMAGE = (0,)


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


class TinyStateWrite(ScoreTransactions):
    """Writes one small fixed value instead of the user's image: the call without the bytes."""

    def _save(self, key: str, slot: ordering.UserSlot, now: int) -> None:
        self.slots.update(TINY_IMAGE)
        self.cache.put(key, slot, now)


class RelaxedGc(ScoreTransactions):
    """CPython's collector run less often, and the objects alive at open left out of it."""

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)


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


# The decision-sized record of `floor`: a real decision's fields, its values fixed but for
# the transaction id and the times (so the writers' compression meets realistic records).
FLOOR_FIELDS = (
    '"user_id":"u","timestamp":"2026-11-29T12:00:00Z","event_time_ms":1795000000000,'
    '"amount":42.5,"currency":"EUR","score":0.123456,"threshold":0.5,"flagged":false,'
    '"reasons":[{"feature":"amount","value":42.5,"baseline":30.1,"message":"amount 1.4x'
    ' the user\'s median"}],"features":{'
    + ",".join(f'"feature_{i:02d}":{i * 0.731:.6f}' for i in range(24))
    + '},"model_version":"v1","late":false,"merchant_id":"m-1","card_fingerprint":'
    '"0123456789abcdef0123456789abcdef","anomaly_score":0.1,"rule_hits":[]'
)


class Floor(ScoreTransactions):
    """The graph around the scorer, without the scorer's work (see `floor` above)."""

    def process_element(self, value: Any, ctx: Any) -> Any:
        now = str(now_ms())
        yield Row(
            value[1],
            f'{{"transaction_id":"{value[0]}",{FLOOR_FIELDS},"received_at":{value[11]},'
            f'"scored_at":{now}}}',
        )


WRITE_EVERY = 10_000  # records between two reports of a scorer
INSIDE = "process_element, all of it"
BETWEEN = "between calls (PyFlink, Java, chained writer)"
# (where it lives, its name there, what the report calls it)
STAGES: tuple[tuple[Any, str, str], ...] = (
    (ScoreTransactions, "_prepare", "prepare (label book, rules, model check)"),
    (functions, "from_wire", "from_wire"),
    (ScoreTransactions, "_slot", "user slot (cache, or state read)"),
    (ordering, "admit", "ordering.admit"),
    (functions, "update_and_extract", "features (update_and_extract)"),
    (label_risk.LabelRiskBook, "features", "label risk features"),
    (detector.Detector, "decide", "model (detector.decide)"),
    (functions, "evaluate_rules", "operator rules"),
    (functions, "alert_record", "alert record"),
    (functions, "decision_record", "decision record (JSON)"),
    (ScoreTransactions, "_watermark", "watermark read"),
    (ordering, "settle", "ordering.settle"),
    (ScoreTransactions, "_save", "state write + slot cache"),
)
# No lock (it would not travel with the job): under the GIL, two scorers opening at the
# same moment could at worst wrap a stage twice.
_installed: list[bool] = []
TOTALS: Counter[str] = Counter()  # per interpreter: stage -> CPU ns


def _timed(name: str, work: Callable[..., Any]) -> Callable[..., Any]:
    clock = time.thread_time_ns

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return work(*args, **kwargs)
        finally:
            TOTALS[name] += clock() - start

    return timed


def install_timers() -> None:
    """Wrap every stage once per interpreter."""
    if _installed:
        return
    for owner, attribute, name in STAGES:
        setattr(owner, attribute, _timed(name, getattr(owner, attribute)))
    _installed.append(True)


class TimedStages(ScoreTransactions):
    """The shipped scorer, timed stage by stage; writes `stages-<pid>-<thread>.json` (CPU
    us per record per stage) into `out_dir` every WRITE_EVERY records."""

    out_dir = ""  # set on a subclass by `with_out_dir` (pickled with the job)

    def open(self, runtime_context: Any) -> None:
        install_timers()
        super().open(runtime_context)
        self.records = 0
        self.last_end: int | None = None

    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        clock = time.thread_time_ns
        start = clock()
        if self.last_end is not None:
            TOTALS[BETWEEN] += start - self.last_end
        for item in super().process_element(value, ctx):
            TOTALS[INSIDE] += clock() - start
            yield item
            start = clock()
        end = clock()
        TOTALS[INSIDE] += end - start
        self.last_end = end
        self.records += 1
        if self.records % WRITE_EVERY == 0:
            self._report()

    def _report(self) -> None:
        per_record = {name: ns / self.records / 1000 for name, ns in TOTALS.items()}
        out = Path(self.out_dir) / f"stages-{os.getpid()}-{threading.get_ident()}.json"
        out.write_text(json.dumps({"records": self.records, "us": per_record}))


def stages_dir(settings: Any) -> Path:
    """Where the `stages` scorers of a stack write their reports."""
    out = Path(settings.state_dir).expanduser() / "bench-stages"
    out.mkdir(parents=True, exist_ok=True)
    return out


def with_out_dir(out_dir: Path) -> type[TimedStages]:
    """TimedStages writing into `out_dir` (a class made here travels with the job)."""
    return type("TimedStagesInto", (TimedStages,), {"out_dir": str(out_dir)})


def read_reports(out_dir: Path) -> dict[str, float]:
    """The scorers' reports in `out_dir`, merged: CPU us per record per stage."""
    records, weighted = 0, Counter[str]()
    for path in sorted(out_dir.glob("stages-*.json")):
        report = json.loads(path.read_text())
        records += report["records"]
        for name, us in report["us"].items():
            weighted[name] += us * report["records"]
    return {name: total / records for name, total in weighted.items()} if records else {}


class EmptyBroadcastState:
    def items(self) -> tuple[()]:
        return ()


class OneInputContext:
    """The keyed context, answering broadcast-state reads with empty state."""

    empty = EmptyBroadcastState()

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def get_broadcast_state(self, _descriptor: Any) -> EmptyBroadcastState:
        return self.empty

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ctx, name)


class OneInputScorer(KeyedProcessFunction):  # type: ignore[misc]
    """ScoreTransactions as a one-input keyed function (nothing broadcast to it)."""

    def __init__(self, scorer: ScoreTransactions) -> None:
        self.scorer = scorer
        self.wrapped: OneInputContext | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.scorer.open(runtime_context)

    def process_element(self, value: Any, ctx: Any) -> Any:
        wrapped = self.wrapped
        if wrapped is None or wrapped.ctx is not ctx:
            wrapped = self.wrapped = OneInputContext(ctx)
        return self.scorer.process_element(value, wrapped)


class OneInputConnection:
    """What `KeyedStream.connect` returns while the one-input graph is built."""

    def __init__(self, keyed: KeyedStream) -> None:
        self.keyed = keyed

    def process(self, scorer: ScoreTransactions, output_type: Any) -> Any:
        return self.keyed.process(OneInputScorer(scorer), output_type=output_type)


def build_one_input(env: Any, settings: Any, package: ModelPackage) -> None:
    """The job's own graph (build_job), with the scorer connected to nothing broadcast."""
    connect = KeyedStream.connect
    KeyedStream.connect = lambda keyed, _other: OneInputConnection(keyed)
    try:
        build_job(env, settings, package, ScoreTransactions)
    finally:
        KeyedStream.connect = connect


VARIANTS: dict[str, type[ScoreTransactions]] = {
    "full": ScoreTransactions,
    "no-state-write": WithoutStateWrite,
    "tiny-state-write": TinyStateWrite,
    "relaxed-gc": RelaxedGc,
    "no-alerts": WithoutAlerts,
    "small-decision": SmallDecision,
    "no-model": WithoutModel,
    "python-trees": PythonTrees,
    "floor": Floor,
    "stages": TimedStages,  # built with its out_dir (with_out_dir)
    "one-input": ScoreTransactions,  # built by build_one_input
}
# Variants of the job's Kafka writers (linger ms, codec), the scorer as shipped.
SINK_VARIANTS: dict[str, tuple[int, str]] = {
    "linger-2": (2, "lz4"),  # the writers before log_linger_ms (10 ms)
    "no-compression": (2, "none"),
    "linger-5": (5, "lz4"),
    "linger-10": (10, "lz4"),
    "linger-20": (20, "lz4"),
}
ALL_VARIANTS = (*VARIANTS, *SINK_VARIANTS)


def chosen_variants(parser: argparse.ArgumentParser, names: str) -> list[str]:
    """The comma-separated variant names of a benchmark's `--variants`; unknown ones end
    the benchmark with the list to choose from."""
    variants = [v for v in names.split(",") if v]
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}: choose from {list(ALL_VARIANTS)}")
    return variants


def main() -> None:
    variant, name = sys.argv[1:3]
    settings = get_settings()
    if variant in SINK_VARIANTS:  # the shipped scorer, its Kafka writers configured otherwise
        linger_ms, connectors.SINK_COMPRESSION = SINK_VARIANTS[variant]
        job = settings.job.model_copy(update={"log_linger_ms": linger_ms})
        settings = settings.model_copy(update={"job": job})
        variant = "full"
    env = make_environment(settings)
    package = ModelPackage.load(settings.model.artifacts_dir)
    if variant == "one-input":
        build_one_input(env, settings, package)
    elif variant == "stages":
        build_job(env, settings, package, with_out_dir(stages_dir(settings)))
    else:
        build_job(env, settings, package, VARIANTS[variant])
    env.execute_async(name)


if __name__ == "__main__":
    main()
