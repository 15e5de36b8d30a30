"""Stale job code: a TaskManager started before the job's modules changed is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foundation.flink_rest import FlinkRest, FlinkUnreachable
from foundation.settings import Settings
from fraudctl.stack.job_code import (
    StaleJobCode,
    check_job_code,
    code_fingerprint,
    record_file,
    record_start,
    stale_taskmanagers,
)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_fingerprint_follows_the_job_packages_only(tmp_path: Path) -> None:
    write(tmp_path, "flink_job/job.py", "a = 1\n")
    write(tmp_path, "models/contracts/decision.py", "b = 1\n")
    write(tmp_path, "fraudctl/cli.py", "c = 1\n")
    first = code_fingerprint(tmp_path)
    write(tmp_path, "fraudctl/cli.py", "c = 2\n")  # not loaded by the TaskManagers
    write(tmp_path, "models/artifact.joblib", "binary")  # not Python source
    assert code_fingerprint(tmp_path) == first
    write(tmp_path, "models/contracts/decision.py", "b = 2\n")
    assert code_fingerprint(tmp_path) != first
    changed = code_fingerprint(tmp_path)
    (tmp_path / "models/contracts/decision.py").rename(tmp_path / "models/contracts/other.py")
    assert code_fingerprint(tmp_path) != changed  # a moved module counts too


def test_only_taskmanagers_with_another_fingerprint_are_stale(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    record_start(settings, "flink-taskmanager", "tm-current", "new")
    record_start(settings, "flink-taskmanager-2", "tm-old", "old")
    assert record_file(settings, "flink-taskmanager-2").read_text() == "tm-old old\n"
    registered = ["tm-current", "tm-old", "tm-started-elsewhere"]
    assert stale_taskmanagers(settings, registered, current="new") == ["tm-old"]
    # a recorded TaskManager that is no longer registered is not judged
    assert stale_taskmanagers(settings, ["tm-current"], current="new") == []
    # a restart replaces its component's record: one file per TaskManager, never more
    record_start(settings, "flink-taskmanager-2", "tm-restarted", "new")
    assert stale_taskmanagers(settings, ["tm-old", "tm-restarted"], current="new") == []
    assert len(list(record_file(settings, "x").parent.glob("*.job-code"))) == 2


class FakeRest:
    def __init__(self, body: Any) -> None:
        self.body = body

    def get(self, path: str) -> Any:
        assert path == "/taskmanagers"
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


def test_a_submission_check_names_the_stale_taskmanager_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path)
    record_start(settings, "flink-taskmanager", "fraudctl-taskmanager-6124")
    record_start(settings, "flink-taskmanager-2", "fraudctl-flink-taskmanager-2", "0123abcd")
    body = {"taskmanagers": [{"id": "fraudctl-taskmanager-6124"}]}
    monkeypatch.setattr(FlinkRest, "of", lambda *_a, **_k: FakeRest(body))
    check_job_code(settings)  # the only registered one runs this code
    body["taskmanagers"].append({"id": "fraudctl-flink-taskmanager-2"})
    with pytest.raises(StaleJobCode) as refused:
        check_job_code(settings)
    message = str(refused.value)
    assert "fraudctl-flink-taskmanager-2" in message
    assert "fraudctl-taskmanager-6124" not in message
    assert "fraudctl down" in message and "fraudctl up" in message


def test_an_unreachable_cluster_is_left_to_the_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path)
    record_start(settings, "flink-taskmanager", "tm", "old")
    down = FakeRest(FlinkUnreachable("GET /taskmanagers failed: refused"))
    monkeypatch.setattr(FlinkRest, "of", lambda *_a, **_k: down)
    check_job_code(settings)
