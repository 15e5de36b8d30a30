"""One managed OS process: started in its own session, tracked by a pid file, stopped by pid.

The pid file records the process's create time as well, so a recycled pid after a reboot or
crash is never mistaken for ours (a stale pid file is recognised and removed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class PidRecord:
    pid: int
    create_time: float
    started_at: float
    log_offset: int
    argv: list[str]


class ManagedProcess:
    """A process with a pid file and a log file under the state directory."""

    def __init__(self, name: str, run_dir: Path, log_dir: Path) -> None:
        self.name = name
        self.pid_file = run_dir / f"{name}.pid"
        self.log_file = log_dir / f"{name}.log"

    def record(self) -> PidRecord | None:
        """The pid record, or None when there is no (readable) pid file."""
        try:
            data = json.loads(self.pid_file.read_text())
            return PidRecord(**data)
        except (OSError, ValueError, TypeError):
            return None

    def process(self) -> psutil.Process | None:
        """The live process this pid file describes, or None (dead, recycled pid, no file)."""
        rec = self.record()
        if rec is None:
            return None
        try:
            proc = psutil.Process(rec.pid)
            if abs(proc.create_time() - rec.create_time) > 1.0:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def is_running(self) -> bool:
        return self.process() is not None

    def is_stale(self) -> bool:
        """A pid file is there but its process is gone."""
        return self.pid_file.exists() and not self.is_running()

    def clear_stale(self) -> None:
        if self.is_stale():
            self.pid_file.unlink(missing_ok=True)

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> PidRecord:
        """Start detached (own session), append output to the log file, write the pid file."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # A SIGTERM between the fork and the pid file would leave a process nobody tracks.
        with _signals_held() as unmask, self.log_file.open("ab") as log:
            offset = log.tell()
            log.write(f"\n=== fraudctl: starting {self.name} at {time.ctime()} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=unmask,  # the child must not inherit the held signals
            )
            rec = PidRecord(
                pid=proc.pid,
                create_time=psutil.Process(proc.pid).create_time(),
                started_at=time.time(),
                log_offset=offset,
                argv=argv,
            )
            tmp = self.pid_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(rec)))
            tmp.replace(self.pid_file)
        return rec

    def orphans(self) -> list[psutil.Process]:
        """Survivors of a dead process's group (e.g. the JVM under a killed launch script):
        processes in the process group the pid file names, started no earlier than it."""
        rec = self.record()
        if rec is None or self.is_running():
            return []
        found = []
        for candidate in psutil.process_iter(["pid", "create_time"]):
            with contextlib.suppress(psutil.Error, OSError):
                if candidate.info["create_time"] + 1.0 < rec.create_time:
                    continue
                if candidate.status() == psutil.STATUS_ZOMBIE or candidate.pid == os.getpid():
                    continue
                if os.getpgid(candidate.pid) == rec.pid:
                    found.append(candidate)
        return found

    def kill_orphans(self) -> int:
        """SIGKILL what `orphans()` finds (they would hold the ports); how many there were."""
        found = self.orphans()
        for proc in found:
            _kill_quietly(proc)
        psutil.wait_procs(found, timeout=5)
        return len(found)

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after the timeout. True if something was stopped."""
        proc = self.process()
        if proc is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        group = _group_members(proc)
        _signal_group(proc.pid, signal.SIGTERM)
        _gone, alive = psutil.wait_procs(group, timeout=timeout_s)
        if alive:
            _signal_group(proc.pid, signal.SIGKILL)
            for p in alive:
                _kill_quietly(p)
            psutil.wait_procs(alive, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return True

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children."""
        proc = self.process()
        if proc is None:
            return 0
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def log_since_start(self) -> str:
        """The log written since the latest start (health checks look for markers in it)."""
        rec = self.record()
        offset = rec.log_offset if rec else 0
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 20) -> str:
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _signals_held() -> Iterator[Callable[[], None] | None]:
    """Hold SIGTERM/SIGINT (delivered on exit of the block) in the main thread; yields what
    a child must run to get the previous mask back (None when nothing was held)."""
    held = {signal.SIGTERM, signal.SIGINT}
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)

    def unmask() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    try:
        yield unmask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _group_members(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _kill_quietly(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.kill()


def port_owner(host: str, port: int) -> str | None:
    """Who listens on host:port: 'pid 123 (java)', 'an unknown process', or None if free."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return None
        except OSError:
            pass
    try:
        for conn in psutil.net_connections(kind="inet"):
            port_of = getattr(conn.laddr, "port", None)
            if conn.status == psutil.CONN_LISTEN and port_of == port and conn.pid:
                try:
                    name = psutil.Process(conn.pid).name()
                except psutil.Error:
                    name = "?"
                return f"pid {conn.pid} ({name})"
    except (psutil.Error, OSError):
        pass
    return "an unknown process"
