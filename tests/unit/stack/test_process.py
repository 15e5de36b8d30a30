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
    proc.kill()
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
