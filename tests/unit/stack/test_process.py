"""ManagedProcess with real short-lived processes (no services needed)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import psutil

from fraudctl.stack.process import ManagedProcess, port_owner
from tests.fixtures.stack import crash

SLEEPER = [sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"]


def test_start_stop_and_pid_file(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "logs")
    rec = proc.start(SLEEPER, env={}, cwd=tmp_path)
    try:
        assert proc.is_running()
        assert json.loads(proc.pid_file.read_text())["pid"] == rec.pid
        # started in its own session, so the CLI exiting does not take it down
        assert psutil.Process(rec.pid).as_dict(["pid"])["pid"] == rec.pid
        assert os.getsid(rec.pid) == rec.pid
    finally:
        assert proc.stop(timeout_s=5)
    assert not proc.is_running()
    assert not proc.pid_file.exists()
    assert not psutil.pid_exists(rec.pid) or psutil.Process(rec.pid).status() == "zombie"


def test_killed_process_leaves_a_stale_pid_file_that_is_recognised(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "logs")
    proc.start(SLEEPER, env={}, cwd=tmp_path)
    crash(proc)
    assert proc.is_stale()
    proc.clear_stale()
    assert not proc.pid_file.exists()


def test_recycled_pid_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    proc = ManagedProcess("other", tmp_path / "run", tmp_path / "logs")
    proc.pid_file.parent.mkdir(parents=True)
    me = psutil.Process()
    record = {
        "pid": me.pid,
        "create_time": me.create_time() - 1000,
        "started_at": 0,
        "log_offset": 0,
        "argv": ["x"],
    }
    proc.pid_file.write_text(json.dumps(record))
    assert proc.process() is None
    assert proc.is_stale()


def test_log_since_start_only_shows_the_latest_run(tmp_path: Path) -> None:
    proc = ManagedProcess("echo", tmp_path / "run", tmp_path / "logs")
    first = [sys.executable, "-c", "print('first run')"]
    proc.start(first, env={}, cwd=tmp_path)
    psutil.wait_procs([psutil.Process(proc.record().pid)], timeout=10)  # type: ignore[union-attr]
    proc.start(SLEEPER, env={}, cwd=tmp_path)
    try:
        for _ in range(50):
            if "hello" in proc.log_since_start():
                break
            time.sleep(0.1)
        text = proc.log_since_start()
        assert "hello" in text and "first run" not in text
        assert "first run" in proc.tail(50)
    finally:
        proc.stop(timeout_s=5)


def test_port_owner_names_the_listening_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        owner = port_owner("127.0.0.1", port)
        assert owner is not None
        assert str(psutil.Process().pid) in owner or owner == "an unknown process"
    assert port_owner("127.0.0.1", port) is None


def test_a_child_does_not_inherit_the_signals_held_during_start(tmp_path: Path) -> None:
    """start() holds SIGTERM while it writes the pid file; the child must still obey it."""
    proc = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "logs")
    rec = proc.start(SLEEPER, env={}, cwd=tmp_path)
    blocked = psutil.Process(rec.pid)
    mask = next(
        int(line.split()[1], 16)
        for line in Path(f"/proc/{rec.pid}/status").read_text().splitlines()
        if line.startswith("SigBlk:")
    )
    assert mask & (1 << (15 - 1)) == 0, "SIGTERM is blocked in the child"
    started = time.monotonic()
    assert proc.stop(timeout_s=10)
    assert time.monotonic() - started < 5, "SIGTERM was ignored; only SIGKILL stopped it"
    assert not blocked.is_running() or blocked.status() == psutil.STATUS_ZOMBIE


def test_orphans_of_a_killed_leader_are_found_and_killed(tmp_path: Path) -> None:
    proc = ManagedProcess("wrapper", tmp_path / "run", tmp_path / "logs")
    rec = proc.start(["bash", "-c", "sleep 60 & wait"], env=dict(os.environ), cwd=tmp_path)
    deadline = time.monotonic() + 5
    while not psutil.Process(rec.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = psutil.Process(rec.pid).children()[0]
    os.kill(rec.pid, 9)  # only the leader: its child keeps running, as a JVM under a script
    psutil.wait_procs([psutil.Process(rec.pid)], timeout=5)
    assert [p.pid for p in proc.orphans()] == [child.pid]
    assert proc.kill_orphans() == 1
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert proc.orphans() == []
