"""Joining decisions with labels, the decision-log reader, retrain waits, options, report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from foundation.settings import settings_with
from fraudctl.backtest.dataset import BadRows, build_dataset, load_dataset
from fraudctl.backtest.decisions import DecisionCollector
from fraudctl.backtest.generated import write_generated
from fraudctl.backtest.labels import LabelPoster, LabelSchedule
from fraudctl.backtest.metrics import DAY_MS, compute_metrics
from fraudctl.backtest.options import OptionError, parse_date, parse_duration
from fraudctl.backtest.replay import ReplayConfig, ReplayStats, prepare
from fraudctl.backtest.report import render, write_plot
from fraudctl.backtest.retrain import PROBES_PER_ROUND, Retrainer, RetrainError, rolled_out
from fraudctl.backtest.runner import BacktestResult, default_test_from, join, local_card
from fraudctl.log_training import PROBE_PREFIX
from models.contracts.decision import decision_json
from models.contracts.transaction import Transaction
from tests.unit.backtest.fakes import DAY0, HOUR, FakeGateway, make_rows


def decision_value(txn_id: str, score: float, flagged: bool, **extra: Any) -> bytes:
    txn = Transaction.from_record(
        {
            "transaction_id": txn_id,
            "user_id": "u",
            "card_last4": "1111",
            "card_fingerprint": extra.pop("card", "fp-" + txn_id[:3]),
            "amount": 10.0,
            "currency": "USD",
            "timestamp": "2025-07-01T00:00:00Z",
            "merchant_id": "m",
            "location": "Online",
        }
    )
    return decision_json(
        txn,
        score=score,
        threshold=0.5,
        flagged=flagged,
        reasons=[],
        features={},
        model_version="v1",
        scored_at=1,
        **extra,
    ).encode()


def collector() -> DecisionCollector:
    return DecisionCollector(settings_with({}), lambda txn: txn.endswith("-x"))


def test_collector_keeps_the_first_decision_of_this_run_only() -> None:
    got = collector()
    got.add_values(
        [
            decision_value("a-x", 0.9, True, anomaly_score=0.7),
            decision_value("a-x", 0.1, False),
            decision_value("b-other", 0.5, False),
            b"not json",
            b'{"transaction_id": "c-x"}',
        ]
    )
    assert got.count() == 1
    first = got.snapshot()["a-x"]
    assert (first.score, first.flagged, first.anomaly_score) == (0.9, True, 0.7)
    assert (got.duplicates, got.unparsed) == (1, 2)


def test_collector_wait_for_gives_up_after_a_stall() -> None:
    got = collector()
    assert got.wait_for(0, stall_s=0.1)
    assert not got.wait_for(1, stall_s=0.2, poll_s=0.05)


def test_join_restricts_to_the_test_period_and_counts_undecided() -> None:
    rows = make_rows(48, step_ms=HOUR)
    items = prepare(rows, ReplayConfig(tag="x"), BadRows())
    got = collector()
    got.add_values(
        decision_value(item.transaction_id, 0.1 * (i % 10), i % 4 == 0, anomaly_score=0.2)
        for i, item in enumerate(items)
        if i != 40
    )
    scored, undecided = join(items, got.snapshot(), DAY0 + DAY_MS)
    assert len(scored) == 23 and undecided == 1
    assert scored[0].transaction_id == "t0024" and scored[0].card == "fp-t00"
    assert all(row.event_ms >= DAY0 + DAY_MS for row in scored)


def test_default_test_period_is_the_last_seven_days_or_all() -> None:
    long = build_dataset(
        {
            "transaction_id": ["a", "b"],
            "user_id": ["u", "u"],
            "merchant_id": ["m", "m"],
            "amount": ["1", "1"],
            "timestamp": ["2025-07-01T00:00:00Z", "2025-07-20T00:00:00Z"],
            "label": ["0", "1"],
        },
        {},
    )
    assert default_test_from(long) == long.end_ms - 7 * DAY_MS
    long.rows.pop()
    assert default_test_from(long) == long.start_ms


def test_local_card_never_holds_the_number() -> None:
    assert "4111111111111111" not in local_card("4111111111111111")


def test_durations_and_dates() -> None:
    assert parse_duration("7d", "--x") == 7 * DAY_MS
    assert parse_duration("1.5h", "--x") == 5_400_000
    assert parse_duration("0", "--x") == 0
    with pytest.raises(OptionError, match="--label-delay 'soon'"):
        parse_duration("soon", "--label-delay")
    assert parse_date("2025-07-01", "--x") == DAY0
    assert parse_date("2025-07-01T02:00:00+02:00", "--x") == DAY0
    with pytest.raises(OptionError, match="ISO date"):
        parse_date("July", "--test-from")


class FakeRedis:
    def __init__(self, answers: list[dict[bytes, bytes]]) -> None:
        self.answers = answers

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_rolled_out_needs_every_subtask_and_ignores_stale_fields() -> None:
    assert rolled_out({"0": "v2", "1": "v2"}, "v2", 2)
    assert not rolled_out({"0": "v2", "1": "v1"}, "v2", 2)
    assert not rolled_out({"0": "v2"}, "v2", 2)
    # fields 2 and 3 were left by an earlier job with parallelism 4
    assert rolled_out({"0": "v2", "1": "v2", "2": "v1", "3": "old"}, "v2", 2)


class FakeProbes:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def send_batch(self, bodies: list[dict[str, Any]]) -> list[Any]:
        self.bodies.extend(bodies)
        return []


async def test_retrainer_waits_for_decisions_trains_and_waits_for_rollout() -> None:
    settings = settings_with({"job.parallelism": 2})
    got = collector()
    got.add_values([decision_value("a-x", 0.5, False), decision_value("b-x", 0.5, False)])
    redis = FakeRedis(
        [{b"0": b"v1", b"1": b"v1"}, {b"0": b"v2", b"1": b"v1"}, {b"0": b"v2", b"1": b"v2"}]
    )
    phases: list[str] = []
    probes = FakeProbes()
    retrainer = Retrainer(
        settings,
        got,
        lambda: "v2",
        probes=probes,
        redis_client=redis,
        subtasks=2,
        poll_s=0.01,
        on_phase=phases.append,
        stall_s=1,
    )
    event = await retrainer(DAY0, 2)
    assert (event.version, event.detail) == ("v2", "rolled out")
    assert len(phases) == 3
    # while waiting, probes for fresh users make the idle subtasks look at the registry
    assert len(probes.bodies) == 2 * PROBES_PER_ROUND
    assert all(body["transaction_id"].startswith(PROBE_PREFIX) for body in probes.bodies)
    assert len({body["user_id"] for body in probes.bodies}) == len(probes.bodies)


async def test_retrainer_skips_when_training_refuses_and_fails_when_the_job_stalls() -> None:
    settings = settings_with({})
    got = collector()

    def refuse() -> str:
        raise ValueError("no labels yet")

    retrainer = Retrainer(
        settings, got, refuse, redis_client=FakeRedis([{}]), subtasks=1, stall_s=0.2
    )
    event = await retrainer(DAY0, 0)
    assert event.version is None and event.detail == "skipped: no labels yet"
    with pytest.raises(RetrainError, match="scored 0 of 5"):
        await retrainer(DAY0, 5)
    slow = Retrainer(
        settings,
        got,
        lambda: "v9",
        redis_client=FakeRedis([{b"0": b"v8", b"1": b"v9"}]),
        subtasks=1,
        poll_s=0.05,
        rollout_timeout_s=0.2,
    )
    with pytest.raises(RetrainError, match=r"v9 was published.*'0': 'v8'"):
        await slow(DAY0, 0)


async def test_label_refusal_is_counted_with_the_reason() -> None:
    gateway = FakeGateway()
    gateway.labels_refused = True
    poster = LabelPoster("http://gw", transport=httpx.MockTransport(gateway.handle))
    schedule = LabelSchedule(0)
    schedule.add("a", True, DAY0, "u", "m")
    await poster.post(schedule.due(DAY0))
    await poster.close()
    assert poster.result.sent == 0
    assert list(poster.result.refused.values()) == [1]
    assert "[0].label must be fraud or legit" in next(iter(poster.result.refused))


def test_generated_file_backtests_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    count = write_generated(path, days=2, users=30, seed=3, fraud_ratio=0.1)
    dataset = load_dataset(path)
    assert len(dataset.rows) == count > 50 and dataset.bad.count == 0
    assert dataset.has_pattern
    assert any(row.fraud for row in dataset.rows)
    assert all((row.pattern is not None) == row.fraud for row in dataset.rows)
    with pytest.raises(ValueError, match="--days"):
        write_generated(path, days=0, users=3)


def result_for(tmp_path: Path) -> BacktestResult:
    rows = make_rows(48, step_ms=HOUR)
    items = prepare(rows, ReplayConfig(tag="x"), BadRows())
    got = collector()
    got.add_values(
        decision_value(item.transaction_id, (i % 7) / 7, i % 3 == 0, anomaly_score=(i % 5) / 5)
        for i, item in enumerate(items)
    )
    scored, undecided = join(items, got.snapshot(), DAY0)
    bad = BadRows()
    bad.add("row 9", "amount is not a number")
    return BacktestResult(
        tag="x",
        rows_in_file=49,
        test_from_ms=DAY0,
        metrics=compute_metrics(scored, 3),
        scored=scored,
        replay=ReplayStats(total=48, accepted=items),
        bad=bad.to_dict(),
        notes=["[bold]markup[/bold] stays text"],
        labels={"sent": 10, "refused": {}, "failed": {}},
        undecided=undecided,
    )


def test_report_renders_and_plots(tmp_path: Path) -> None:
    from rich.console import Console

    result = result_for(tmp_path)
    console = Console(record=True, width=160)
    console.print(render(result))
    text = console.export_text()
    assert "average_precision" in text and "card_precision_at_3" in text
    assert "amount is not a number" in text and "[bold]markup[/bold] stays text" in text
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["bad_rows"]["count"] == 1 and payload["replayed"] == 48
    png = tmp_path / "p.png"
    write_plot(png, result.scored, result.metrics)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_command_refuses_bad_arguments(tmp_path: Path) -> None:
    import typer

    from fraudctl.commands.backtest import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None: ...

    runner = CliRunner()
    both = runner.invoke(app, ["backtest", str(tmp_path / "x.csv"), "--generate"])
    assert both.exit_code == 2 and "FILE or --generate" in both.output
    delay = runner.invoke(app, ["backtest", "--generate", "--label-delay", "soon"])
    assert delay.exit_code == 2 and "--label-delay 'soon'" in delay.output
    missing = runner.invoke(app, ["backtest", str(tmp_path / "x.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    retrain = runner.invoke(app, ["backtest", "--generate", "--no-labels", "--retrain-every", "7d"])
    assert retrain.exit_code == 2 and "needs labels" in retrain.output


def test_unreachable_gateway_is_a_clear_error(tmp_path: Path) -> None:
    import typer

    from fraudctl.commands.backtest import register
    from tests.fixtures.ports import free_ports

    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None: ...

    path = tmp_path / "g.csv"
    write_generated(path, days=1, users=10)
    port = free_ports(1)[0]
    result = CliRunner().invoke(
        app, ["backtest", str(path), "--gateway", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 1
    assert "cannot reach the gateway" in result.output
    asyncio.get_event_loop_policy()  # the command's loop is closed; nothing leaks


def test_from_log_trainer_calls_train_from_log_with_the_label_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    import fraudctl.log_training as log_training
    from fraudctl.backtest.retrain import from_log_trainer

    calls: list[tuple[Any, ...]] = []

    def fake(*args: Any) -> tuple[Any, dict[str, Any]]:
        calls.append(args)
        return SimpleNamespace(model_version="sup-123"), {}

    monkeypatch.setattr(log_training, "train_from_log", fake)
    settings = settings_with({})
    assert from_log_trainer(settings, 7 * DAY_MS)() == "sup-123"
    assert calls[0][:3] == (settings, 7 * DAY_MS, settings.model.artifacts_dir)
