"""N TaskManagers: names, their own conf and ports, and the manager's component list."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from foundation.settings import Settings
from fraudctl.stack.components.flink import (
    TaskManagerComponent,
    taskmanager_index,
    taskmanager_name,
    taskmanager_names,
)
from fraudctl.stack.jars import Jars
from fraudctl.stack.manager import StackManager


def settings(tmp_path: Path, taskmanagers: int) -> Settings:
    return Settings(state_dir=tmp_path, flink={"taskmanagers": taskmanagers})  # type: ignore[arg-type]


def test_names_round_trip_and_the_first_keeps_the_plain_name() -> None:
    assert taskmanager_names(3) == [
        "flink-taskmanager",
        "flink-taskmanager-2",
        "flink-taskmanager-3",
    ]
    assert [taskmanager_index(taskmanager_name(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    for other in ("flink-taskmanager-1", "flink-taskmanager-02", "flink-taskmanager-x", "kafka"):
        assert taskmanager_index(other) is None


def test_the_manager_lists_every_taskmanager_in_place(tmp_path: Path) -> None:
    names = StackManager(settings(tmp_path, 2)).names()
    at = names.index("flink-taskmanager")
    assert names[at : at + 2] == ["flink-taskmanager", "flink-taskmanager-2"]
    assert StackManager(settings(tmp_path, 2)).canonical("flink-taskmanager-2")


def test_a_taskmanager_still_running_from_a_bigger_up_is_still_listed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "flink-taskmanager-3.pid").write_text("{}")
    names = StackManager(settings(tmp_path, 1)).names()
    assert "flink-taskmanager-3" in names and "flink-taskmanager-2" not in names


def test_further_taskmanagers_get_their_own_conf_pid_dir_and_ephemeral_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fraudctl.stack.components.flink.check_java", lambda: None)
    manager = StackManager(settings(tmp_path, 2))
    jars = Jars(tmp_path, tmp_path)
    first = TaskManagerComponent(manager.settings, manager.paths, jars=jars)
    second = TaskManagerComponent(manager.settings, manager.paths, jars=jars, index=1)
    assert second.name == "flink-taskmanager-2" and second.ports() == []
    assert first.ports() and first.conf_dir != second.conf_dir
    second.prepare()
    config = json.loads((second.conf_dir / "config.yaml").read_text())["taskmanager"]
    assert config["rpc"] == {"port": 0} and config["data"] == {"port": 0}
    assert config["resource-id"] == second.resource_id
    assert second.resource_id.startswith("fraudctl-flink-taskmanager-2-run-")
    earlier = second.resource_id
    second.prepare()  # a restart is a new TaskManager to the JobManager, not the dead one
    assert second.resource_id != earlier
    config = json.loads((second.conf_dir / "config.yaml").read_text())["taskmanager"]
    assert config["resource-id"] == second.resource_id
    assert config["load-balance"] == {"mode": "SLOTS"}
    assert second.env()["FLINK_PID_DIR"] != first.env()["FLINK_PID_DIR"]
    assert not (second.paths.data("flink") / "lib").exists()  # the shared lib is left alone


def test_the_flink_jvms_start_at_the_configured_niceness(tmp_path: Path) -> None:
    plain = StackManager(
        Settings(state_dir=tmp_path, flink={"taskmanagers": 2, "nice": 0})  # type: ignore[arg-type]
    )
    for name in ("flink-jobmanager", "flink-taskmanager", "flink-taskmanager-2"):
        assert plain.component(name).argv()[0] == "bash"  # type: ignore[attr-defined]
    niced = StackManager(
        Settings(state_dir=tmp_path, flink={"taskmanagers": 2, "nice": 10})  # type: ignore[arg-type]
    )
    for name in ("flink-jobmanager", "flink-taskmanager", "flink-taskmanager-2"):
        argv = niced.component(name).argv()  # type: ignore[attr-defined]
        assert argv[:4] == ["nice", "-n", "10", "bash"]
        assert argv[-1] == "start-foreground"
    assert niced.component("gateway").argv()[0] != "nice"  # type: ignore[attr-defined]


def _running_jobmanager(run: Path, process: psutil.Process) -> None:
    """A JobManager pid file naming `process` (alive), as the manager writes it."""
    run.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": process.pid,
        "create_time": process.create_time(),
        "started_at": process.create_time(),
        "log_offset": 0,
        "argv": ["jobmanager.sh"],
    }
    (run / "flink-jobmanager.pid").write_text(json.dumps(record))


def test_the_first_taskmanager_restarted_under_the_same_jobmanager_takes_a_fresh_rpc_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fraudctl.stack.components.flink.check_java", lambda: None)
    manager = StackManager(settings(tmp_path, 1))
    first = TaskManagerComponent(manager.settings, manager.paths, jars=Jars(tmp_path, tmp_path))
    configured = {"port": manager.settings.flink.taskmanager_rpc_port}

    def rpc() -> object:
        return json.loads((first.conf_dir / "config.yaml").read_text())["taskmanager"]["rpc"]

    first.prepare()  # no JobManager running
    assert rpc() == configured
    _running_jobmanager(manager.paths.run, psutil.Process())
    first.prepare()  # its first start under this JobManager
    assert rpc() == configured
    first.prepare()  # restarted (after a crash) under the same JobManager
    assert rpc() == {"port": 0}
    assert first.ports() == [  # still checked free: the fixed ports are its own
        (manager.settings.flink.host, configured["port"]),
        (manager.settings.flink.host, manager.settings.flink.taskmanager_data_port),
    ]
    _running_jobmanager(manager.paths.run, psutil.Process().parent())  # another JobManager
    first.prepare()
    assert rpc() == configured
