"""`fraudctl backtest --retrain-every` on the real stack: the replay pauses, trains from the
decision log joined with the labels that arrived, publishes into the stack's registry (a
temporary copy here, see conftest.py), waits until the job scores with the new version,
and the decisions after that carry it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fraudctl.backtest.dataset import load_dataset
from fraudctl.backtest.generated import write_generated
from fraudctl.backtest.runner import BacktestOptions, run_backtest
from fraudctl.jobs import JobInfo
from fraudctl.stack import StackManager
from models.registry import ModelRegistry

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
REPO_ARTIFACTS = Path(__file__).resolve().parents[3] / "models" / "artifacts"


def test_retrain_publishes_and_later_decisions_carry_the_new_version(
    stack: StackManager, scoring_job: JobInfo, tmp_path: Path
) -> None:
    settings = stack.settings
    registry_dir = Path(settings.model.artifacts_dir).resolve()
    if registry_dir == REPO_ARTIFACTS.resolve():
        pytest.skip(
            "the session's stack uses the repository's registry: set "
            "FRAUDCTL_MODEL__ARTIFACTS_DIR to a copy of models/artifacts to run this test"
        )
    registry = ModelRegistry(registry_dir)
    before = registry.current_version()
    path = tmp_path / "traffic.csv"
    write_generated(path, days=10, users=120, seed=8, fraud_ratio=0.04)
    dataset = load_dataset(path)
    options = BacktestOptions(
        gateway_url=settings.gateway.url,
        label_delay_ms=DAY_MS,
        retrain_every_ms=3 * DAY_MS,
        test_from_ms=dataset.start_ms,  # report on every day: before and after the retrains
        batch_size=250,
        lanes=2,  # windows of 500 rows: the event clock reaches each retrain time closely
        k=20,
        drain_stall_s=90,
    )
    result = asyncio.run(run_backtest(settings, options, dataset))

    rolled = [event for event in result.replay.retrains if event.version is not None]
    assert rolled, [event.to_dict() for event in result.replay.retrains]
    assert all(event.detail == "rolled out" for event in rolled)
    newest = rolled[-1].version
    assert registry.current_version() == newest != before
    assert newest in {info.version for info in registry.list()}
    # every decision between one rollout and the next retrain came from the rolled-out model
    checked = 0
    for event, following in zip(rolled, [*rolled[1:], None], strict=True):
        until = following.at_event_ms if following is not None else None
        window = [
            s
            for s in result.scored
            if s.event_ms > event.at_event_ms and (until is None or s.event_ms <= until)
        ]
        assert {s.model_version for s in window} <= {event.version}
        checked += len(window)
    assert checked > 0, "traffic after a retrain"
    # and the decisions before the first one from the model the registry started with
    first = [s for s in result.scored if s.event_ms <= rolled[0].at_event_ms - DAY_MS]
    assert first and {s.model_version for s in first} == {before}

    metrics = result.metrics
    assert metrics.transactions == len(result.scored) > 0 and metrics.frauds > 0
    for value in (metrics.roc_auc, metrics.average_precision, metrics.iforest_average_precision):
        assert value is not None and 0.0 < value <= 1.0
    assert metrics.recall_by_pattern
    payload = result.to_dict()
    assert sum(payload["model_versions"].get(e.version or "", 0) for e in rolled) >= checked
    assert [event["version"] for event in payload["retrains"]] == [
        event.version for event in result.replay.retrains
    ]
