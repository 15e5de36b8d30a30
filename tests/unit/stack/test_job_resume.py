"""Resuming the scoring job (fraudctl/jobs.py) without a cluster: never twice, never empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foundation import flink_rest
from foundation.flink_rest import FlinkJob
from foundation.settings import Settings, settings_with
from fraudctl import job_record, jobs
from fraudctl.stack.flink_submit import JobSubmitFailed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_with({"state_dir": tmp_path, "flink.rest_port": 1})


class FakeCluster:
    """The REST answers and `flink run` of a session cluster, recorded."""

    def __init__(self, slots: int = 2, fail_submit: bool = False, lands: bool = False) -> None:
        self.slots = slots
        self.fail_submit = fail_submit
        self.lands = lands  # a failed/timed-out client whose job reached the cluster anyway
        self.active: list[FlinkJob] = []
        self.submitted: list[dict[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
        monkeypatch.setattr(jobs, "model_version", lambda _s: "v1")
        monkeypatch.setattr(jobs, "prepare_topics", lambda _s: None)
        monkeypatch.setattr(jobs, "scoring_jobs", lambda _s: list(self.active))
        monkeypatch.setattr(jobs, "_rest", lambda _s, _p: {"slots-total": self.slots})
        monkeypatch.setattr(jobs, "submit_python_job", self.submit)
        monkeypatch.setattr(jobs, "_appears", lambda _s, job_id, within_s=0: self.has(job_id))

    def has(self, job_id: str) -> bool:
        return any(job.job_id == job_id for job in self.active)

    def submit(self, _settings: Settings, _script: Path, **kwargs: Any) -> str:
        self.submitted.append(kwargs)
        if self.fail_submit:
            if self.lands:
                self.active.append(FlinkJob(kwargs["job_id"], "job", "CREATED", 1))
            raise JobSubmitFailed("`flink run` did not finish within 180 s")
        self.active.append(FlinkJob(kwargs["job_id"], "job", "CREATED", 1))
        return str(kwargs["job_id"])


def ran_before(settings: Settings, tmp_path: Path, *, with_checkpoint: bool) -> Path | None:
    job_record.write_record(settings, "a" * 32, "v1", None)
    if not with_checkpoint:
        return None
    chk = tmp_path / "data" / "flink" / "checkpoints" / ("a" * 32) / "chk-7"
    chk.mkdir(parents=True)
    (chk / "_metadata").write_bytes(b"x")
    return chk


def test_after_a_jobmanager_restart_the_job_resumes_from_its_checkpoint(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chk = ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = FakeCluster(slots=0)  # the TaskManager has not re-registered yet
    cluster.install(monkeypatch, settings)
    check = jobs.keep_job_running(settings)
    assert check.resumed and check.state == "restarting"
    assert [s["restore_from"] for s in cluster.submitted] == [chk]
    assert not cluster.submitted[0]["allow_non_restored_state"]
    # the next look finds the copy (still waiting for slots) and submits nothing
    again = jobs.keep_job_running(settings)
    assert not again.resumed and again.state == "down" and "task slots (0 of 2)" in again.detail
    assert len(cluster.submitted) == 1
    cluster.slots = 2
    assert jobs.keep_job_running(settings).state == "ok"


def test_a_failed_restore_stops_and_says_how_to_go_on(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = FakeCluster(fail_submit=True)
    cluster.install(monkeypatch, settings)
    check = jobs.keep_job_running(settings)
    assert check.state == "failed"
    assert "--from-savepoint" in check.detail and "--from-scratch" in check.detail
    assert len(cluster.submitted) == 1, "no second, empty submission"
    with pytest.raises(jobs.RestoreFailed, match="NOT started with empty state"):
        jobs.submit_job(settings)


def test_no_checkpoint_after_an_earlier_run_is_not_an_empty_start(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=False)
    cluster = FakeCluster()
    cluster.install(monkeypatch, settings)
    assert jobs.keep_job_running(settings).state == "failed"
    assert cluster.submitted == []
    jobs.submit_job(settings, fresh=True, wait_timeout_s=0)  # --from-scratch, knowingly
    assert cluster.submitted[0]["restore_from"] is None


def test_a_client_timeout_whose_job_landed_is_not_submitted_again(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = FakeCluster(fail_submit=True, lands=True)
    cluster.install(monkeypatch, settings)
    check = jobs.keep_job_running(settings)
    assert check.resumed
    assert jobs.keep_job_running(settings).state == "ok"
    assert len(cluster.submitted) == 1 and len(cluster.active) == 1


def test_a_cancelled_job_is_left_down(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = FakeCluster()
    cluster.install(monkeypatch, settings)
    job_record.mark_wanted(settings, False)
    assert not jobs.keep_job_running(settings).resumed
    assert cluster.submitted == []


def test_another_submission_in_progress_is_not_waited_for(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = FakeCluster()
    cluster.install(monkeypatch, settings)
    with job_record.submission_lock(settings):
        check = jobs.keep_job_running(settings)
    assert check.detail == "a submission is in progress"
    assert cluster.submitted == []


UNMAPPED = (
    "IllegalStateException: Failed to rollback to checkpoint/savepoint file:/x. Cannot map "
    "checkpoint/savepoint state for operator cbc357 to the new program, because the operator "
    "is not available in the new program."
)


class FailingRest:
    """A JobManager on which the submitted job fails while it starts, with `cause`."""

    def __init__(self, cause: str | None) -> None:
        self.cause = cause

    def wait_for_state(self, job_id: str, wanted: str, timeout_s: float) -> str:
        raise flink_rest.JobStateTimeout(f"job {job_id} ended in state FAILED, not {wanted}")

    def failure(self, job_id: str) -> str | None:
        return self.cause

    def job_detail(self, job_id: str) -> dict[str, Any]:
        return {"state": "FAILED"}


def failing_cluster(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, cause: str | None
) -> FakeCluster:
    cluster = FakeCluster()
    cluster.install(monkeypatch, settings)
    fail_on_start(monkeypatch, cause)
    return cluster


def fail_on_start(monkeypatch: pytest.MonkeyPatch, cause: str | None) -> None:
    class Rest:
        @staticmethod
        def of(_settings: Settings) -> FailingRest:
            return FailingRest(cause)

    monkeypatch.setattr(jobs, "FlinkRest", Rest)


def test_a_checkpoint_with_state_the_job_lacks_says_how_to_keep_the_rest(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chk = ran_before(settings, tmp_path, with_checkpoint=True)
    job_record.remember_savepoint(settings, "a" * 32, str(chk))
    before = job_record.read_record(settings)
    cluster = failing_cluster(monkeypatch, settings, UNMAPPED)
    with pytest.raises(jobs.RestoreFailed) as failed:
        jobs.submit_job(settings)
    said = str(failed.value)
    assert f"could not be restored from {chk}" in said and "Cannot map" in said
    assert "NOT started with empty state" in said
    assert "`fraudctl submit --allow-non-restored-state`" in said  # the same checkpoint again
    assert "--from-scratch" in said
    # The job that never ran is no run: the record (and its savepoint) is as it was.
    assert job_record.read_record(settings) == before
    assert job_record.latest_checkpoint(settings) == chk

    cluster.active.clear()  # the failed job is no longer active
    with pytest.raises(jobs.RestoreFailed) as named:
        jobs.submit_job(settings, from_savepoint=chk)
    assert f"--allow-non-restored-state --from-savepoint {chk}`" in str(named.value)
    assert job_record.read_record(settings) == before


def test_three_failed_starts_delete_no_checkpoint_of_the_last_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chk = ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = failing_cluster(monkeypatch, settings, "IOException: disk full")
    for _ in range(3):
        with pytest.raises(jobs.StackError):
            jobs.submit_job(settings)
        cluster.active.clear()
    assert (chk / "_metadata").is_file()
    assert [s["restore_from"] for s in cluster.submitted] == [chk, chk, chk]


def test_any_other_failure_on_start_says_what_flink_says(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran_before(settings, tmp_path, with_checkpoint=True)
    cluster = failing_cluster(monkeypatch, settings, "IOException: disk full")
    with pytest.raises(jobs.StackError, match="Flink says: IOException: disk full") as failed:
        jobs.submit_job(settings)
    assert not isinstance(failed.value, jobs.RestoreFailed)
    cluster.active.clear()
    fail_on_start(monkeypatch, None)  # nothing recorded: the plain state, and where to look
    with pytest.raises(jobs.StackError, match=r"FAILED, not RUNNING\. The JobManager log"):
        jobs.submit_job(settings, fresh=True)
