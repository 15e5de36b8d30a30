"""The scorer variants of benchmarks/bench_job_parts.py leave out what they say, only that."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Row

from benchmarks.scoring_parts_job import (
    VARIANTS,
    Floor,
    OneInputScorer,
    TimedStages,
    drop_alerts,
    mapped,
    read_reports,
    small_decision,
    with_out_dir,
)
from flink_job.functions import ALERTS, DEAD_LETTERS, ScoreTransactions


def scorer_output() -> Generator[Any, None, str]:
    yield DEAD_LETTERS, "a dead letter"
    yield ALERTS, {"transaction_id": "t1"}
    record = {
        "transaction_id": "t1",
        "received_at": 1,
        "scored_at": 2,
        "flagged": True,
        "features": {"amount_z": 3.0},
    }
    yield Row("user-1", orjson.dumps(record).decode())
    return "the state after"


def drain(steps: Generator[Any, None, Any]) -> tuple[list[Any], Any]:
    items = []
    try:
        while True:
            items.append(next(steps))
    except StopIteration as stop:
        return items, stop.value


def test_mapped_keeps_the_return_value_and_drops_what_keep_drops() -> None:
    items, state = drain(mapped(scorer_output(), drop_alerts))
    assert state == "the state after"
    assert [item[0] if isinstance(item, tuple) else "row" for item in items] == [
        DEAD_LETTERS,
        "row",
    ]


def test_small_decision_keeps_key_and_the_fields_the_benchmark_reads() -> None:
    items, state = drain(mapped(scorer_output(), small_decision))
    assert state == "the state after"
    row = items[2]
    assert row[0] == "user-1"
    assert orjson.loads(row[1]) == {
        "transaction_id": "t1",
        "received_at": 1,
        "scored_at": 2,
        "flagged": True,
    }
    assert items[1] == (ALERTS, {"transaction_id": "t1"})  # alerts untouched


def test_every_variant_is_a_scorer_and_full_is_the_shipped_one() -> None:
    assert VARIANTS["full"] is ScoreTransactions
    assert all(issubclass(cls, ScoreTransactions) for cls in VARIANTS.values())


def test_the_one_input_scorer_sees_empty_broadcast_state_and_the_real_keyed_context() -> None:
    seen: list[Any] = []

    class Recorder(ScoreTransactions):
        def __init__(self) -> None:
            pass

        def process_element(self, value: Any, ctx: Any) -> Any:
            seen.append((value, list(ctx.get_broadcast_state("labels").items()), ctx.watermark))
            return iter(())

    class KeyedContext:
        watermark = 42

    one_input = OneInputScorer(Recorder())
    keyed = KeyedContext()
    one_input.process_element("record-1", keyed)
    one_input.process_element("record-2", keyed)
    assert seen == [("record-1", [], 42), ("record-2", [], 42)]
    assert VARIANTS["one-input"] is ScoreTransactions  # the graph differs, not the scorer


def test_floor_emits_one_decision_sized_record_of_the_transaction_and_nothing_else() -> None:
    wire = ("t-7", "user-7", "1234", "fp", 12.5, "EUR", "m-1", "Berlin",
            "2026-11-29T12:00:00+00:00", 52.5, 13.4, 1_795_000_000_123)  # fmt: skip
    floor = Floor.__new__(Floor)  # no open(): it uses nothing the scorer sets up
    rows = list(floor.process_element(wire, None))
    assert len(rows) == 1
    assert rows[0][0] == "user-7"
    record = orjson.loads(rows[0][1])
    assert record["transaction_id"] == "t-7"
    assert record["received_at"] == 1_795_000_000_123
    assert isinstance(record["scored_at"], int)
    assert 900 <= len(rows[0][1]) <= 1_300  # the size of a real decision


def test_stage_reports_of_several_scorers_merge_weighted_by_records(tmp_path: Path) -> None:
    (tmp_path / "stages-1-1.json").write_text(
        json.dumps({"records": 30_000, "us": {"features": 10.0, "model": 20.0}})
    )
    (tmp_path / "stages-2-1.json").write_text(
        json.dumps({"records": 10_000, "us": {"features": 30.0}})
    )
    (tmp_path / "other.json").write_text("{}")  # not a report
    assert read_reports(tmp_path) == {"features": 15.0, "model": 15.0}
    assert read_reports(tmp_path / "nothing-here") == {}


def test_the_timed_scorer_class_carries_its_report_directory(tmp_path: Path) -> None:
    timed = with_out_dir(tmp_path)
    assert issubclass(timed, TimedStages) and timed.out_dir == str(tmp_path)
    assert VARIANTS["stages"] is TimedStages
