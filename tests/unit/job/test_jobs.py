"""Job lifecycle bookkeeping without a cluster: one copy, where to resume from, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundation.flink_rest import FlinkRest
from foundation.settings import Settings, settings_with
from fraudctl import job_record, jobs
from fraudctl.stack.errors import StackError
from fraudctl.stack.flink_submit import JobSubmitFailed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_with({"state_dir": tmp_path, "flink.rest_port": 1})


def overview(*entries: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "jobs": [
            {"jid": jid, "name": name, "state": state, "start-time": index}
            for index, (jid, name, state) in enumerate(entries)
        ]
    }


def test_only_active_copies_of_the_scoring_job_count(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = settings.flink.job_name
    listing = overview(
        ("a", name, "CANCELED"), ("b", "other job", "RUNNING"), ("c", name, "RESTARTING")
    )
    monkeypatch.setattr(FlinkRest, "get", lambda _self, _path: listing)
    assert [job.job_id for job in jobs.scoring_jobs(settings)] == ["c"]


def test_submit_refuses_when_a_copy_is_active(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = overview(("abc123", settings.flink.job_name, "RUNNING"))
    monkeypatch.setattr(FlinkRest, "get", lambda _self, _path: listing)
    with pytest.raises(jobs.JobAlreadyRunning, match=r"abc123.*fraudctl job cancel"):
        jobs.submit_job(settings)


def test_an_unreachable_jobmanager_says_how_to_start_it(settings: Settings) -> None:
    with pytest.raises(jobs.FlinkUnreachable, match="fraudctl up"):
        jobs.scoring_jobs(settings)


def checkpoint(root: Path, job_id: str, number: int, complete: bool = True) -> Path:
    path = root / "data" / "flink" / "checkpoints" / job_id / f"chk-{number}"
    path.mkdir(parents=True)
    if complete:
        (path / "_metadata").write_bytes(b"x")
    return path


def test_resume_from_the_newest_complete_checkpoint_of_the_last_run(
    settings: Settings, tmp_path: Path
) -> None:
    job_record.write_record(settings, "old", "m1", None)
    checkpoint(tmp_path, "old", 3)
    job_record.write_record(settings, "new", "m1", None)
    wanted = checkpoint(tmp_path, "new", 7)
    checkpoint(tmp_path, "new", 12)
    checkpoint(tmp_path, "new", 9, complete=False)
    (tmp_path / "data/flink/checkpoints/new/chk-12/_metadata").unlink()
    assert job_record.latest_checkpoint(settings) == wanted


def test_a_savepoint_of_the_last_run_wins_over_its_checkpoints(
    settings: Settings, tmp_path: Path
) -> None:
    job_record.write_record(settings, "run", "m1", None)
    checkpoint(tmp_path, "run", 4)
    savepoint = tmp_path / "data/flink/savepoints/savepoint-run-1"
    savepoint.mkdir(parents=True)
    (savepoint / "_metadata").write_bytes(b"x")
    job_record.remember_savepoint(settings, "run", str(savepoint))
    assert job_record.latest_checkpoint(settings) == savepoint


def test_nothing_to_resume_on_a_first_start(settings: Settings) -> None:
    assert job_record.latest_checkpoint(settings) is None


def test_checkpoints_of_old_runs_are_removed(settings: Settings, tmp_path: Path) -> None:
    for run in ("r1", "r2", "r3"):
        checkpoint(tmp_path, run, 1)
        job_record.write_record(settings, run, "m1", None)
    root = tmp_path / "data/flink/checkpoints"
    assert sorted(path.name for path in root.iterdir()) == ["r2", "r3"]


def test_a_parallelism_above_the_partitions_is_refused(tmp_path: Path) -> None:
    settings = settings_with({"state_dir": tmp_path, "job.parallelism": 4})
    with pytest.raises(StackError, match="FRAUDCTL_JOB__PARALLELISM"):
        jobs.check_parallelism(settings)


def test_a_parallelism_without_enough_slots_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "_rest", lambda _settings, _path: {"slots-total": 1})
    with pytest.raises(StackError, match="needs 2 task slots but only 1 registered"):
        jobs.check_parallelism(settings, slot_wait_s=0.2)


def test_the_model_version_comes_from_the_model_card(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_dir = tmp_path / "versions" / "iforest-abc"
    version_dir.mkdir(parents=True)
    (version_dir / "model_card.json").write_text(json.dumps({"model_version": "iforest-abc"}))
    monkeypatch.setattr(jobs, "ensure_model", lambda _root: version_dir)
    assert jobs.model_version(settings) == "iforest-abc"


def test_an_unusable_model_is_refused_with_the_fix(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "ensure_model", lambda _root: tmp_path / "empty")
    with pytest.raises(JobSubmitFailed, match="fraudctl train"):
        jobs.model_version(settings)
