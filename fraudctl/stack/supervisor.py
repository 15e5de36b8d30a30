"""The supervisor: a small watcher process `fraudctl up` leaves running next to the stack.

Every second it checks each component in dependency order (redis, kafka, the JobManager,
every TaskManager, gateway, dashboard) for a live process; every `probe_every_s` (5 s) it
also runs their health probes, which cost far more than a pid check and would otherwise
compete with the JVMs for the CPU. A component whose process is gone, or whose health
probe failed `probe_limit` times in a row while its dependencies are healthy, is restarted
through the stack manager (the same start as `fraudctl up`: stale pid file cleared,
orphans of its process group killed, config rewritten, health awaited). A failed restart
is retried with exponential backoff; after `max_failures` failures in a row the component
is marked "failed" and left alone, loudly: in this log, in the component's log, in
`fraudctl status` and the console. Then it keeps the scoring job running: after a
JobManager restart the job is resumed from its newest retained checkpoint (fraudctl/jobs.py
`keep_job_running`). Everything it does is written to `run/supervisor-state.json`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from fraudctl.stack.errors import StackError
from fraudctl.stack.manager import StackManager
from fraudctl.stack.supervision import (
    JOB,
    JobCheck,
    Supervised,
    SupervisionState,
    Watch,
    read_state,
    write_state,
)

DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "flink-taskmanager": ("flink-jobmanager",),  # and every flink-taskmanager-N
    "gateway": ("kafka",),
    "dashboard": ("redis",),
}


def depends_on(name: str) -> tuple[str, ...]:
    if name.startswith("flink-taskmanager"):
        return DEPENDS_ON["flink-taskmanager"]
    return DEPENDS_ON.get(name, ())


log = logging.getLogger("fraudctl.supervisor")


JobKeeper = Callable[[], JobCheck]


class Supervisor:
    """Watches one state dir's components; `check_once()` is one round, `run()` loops."""

    def __init__(
        self,
        manager: StackManager,
        *,
        job_keeper: JobKeeper | None = None,
        probe_limit: int = 3,
        probe_every_s: float = 5.0,
        max_failures: int = 5,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        slot_patience_s: float = 45.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manager = manager
        self.job_keeper = job_keeper
        self.probe_limit = probe_limit
        self.probe_every_s = probe_every_s
        self.max_failures = max_failures
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.slot_patience_s = slot_patience_s
        self.clock = clock
        # Restart counts survive a supervisor restart; a verdict does not: a new supervisor
        # comes with `fraudctl up`, i.e. after the operator acted on a "failed".
        previous = read_state(manager.paths)
        self.state = SupervisionState(items=previous.items)
        for item in self.state.items.values():
            item.state, item.failures, item.detail = "ok", 0, ""
        self._probe_failures: dict[str, int] = {}
        self._probed_at: dict[str, float] = {}
        self._next_try: dict[str, float] = {}
        self._job_waiting_since: float | None = None
        self._resumes: list[float] = []

    # -- one round ----------------------------------------------------------------------
    def taskmanagers(self, names: list[str] | None = None) -> list[str]:
        names = self.manager.names() if names is None else names
        return [name for name in names if name.startswith("flink-taskmanager")]

    def check_once(self) -> None:
        down: set[str] = set()
        names = self.manager.names()  # one look at the pid files per round
        for name in names:
            item = self.state.get(name)
            if item.state == "failed":
                down.add(name)
                continue
            blocked = any(dep in down for dep in depends_on(name))
            why = self._trouble(name, blocked=blocked)
            if why is None:
                if item.state != "ok":
                    self._set(name, "ok", "")
                continue
            down.add(name)
            if blocked:
                self._set(name, "down", f"{why}; waiting for {', '.join(depends_on(name))}")
                continue
            if self.clock() < self._next_try.get(name, 0.0):
                continue
            if self.restart(name, why):
                down.discard(name)
        if self.job_keeper is not None and not down & {"flink-jobmanager", "kafka", "redis"}:
            self._keep_job(any(name in down for name in self.taskmanagers(names)))

    def _trouble(self, name: str, *, blocked: bool) -> str | None:
        """Why `name` needs a restart, or None when it is fine (or must not be judged yet)."""
        proc = self.manager.process(name)
        if not proc.is_running():
            return "its process is gone"
        if blocked:  # a gateway is expected to fail its probe while Kafka is down
            self._probe_failures[name] = 0
            return None
        now = self.clock()
        if now - self._probed_at.get(name, -math.inf) < self.probe_every_s:
            return None
        self._probed_at[name] = now
        reason = self.manager.component(name).probe(proc.log_since_start())
        if reason is None:
            self._probe_failures[name] = 0
            return None
        count = self._probe_failures.get(name, 0) + 1
        self._probe_failures[name] = count
        if count < self.probe_limit:
            return None
        return f"its health probe failed {count} times in a row ({reason})"

    # -- acting -------------------------------------------------------------------------
    def restart(self, name: str, why: str) -> bool:
        """Restart one component now; True when it came back healthy."""
        item = self.state.get(name)
        attempt = item.failures + 1
        self._announce(name, f"{name} is down: {why}; restarting it (attempt {attempt})")
        self._set(name, "restarting", why)
        proc = self.manager.process(name)
        try:
            proc.stop(timeout_s=10)  # a hung process (probe failures) or orphans of a dead one
            proc.kill_orphans()
            self.manager.start(name)
        except (StackError, OSError) as error:
            return self._restart_failed(name, error)
        item.restarts += 1
        item.last_restart_at = time.time()
        item.failures = 0
        self._probe_failures[name] = 0
        self._probed_at[name] = self.clock()  # start() has just awaited its health
        self._next_try.pop(name, None)
        self._announce(name, f"{name} restarted and healthy (restart #{item.restarts})")
        self._set(name, "ok", "")
        return True

    def _restart_failed(self, name: str, error: BaseException) -> bool:
        item = self.state.get(name)
        item.failures += 1
        first_line = _summary(error)
        if item.failures >= self.max_failures:
            self._announce(
                name,
                f"GIVING UP on {name} after {item.failures} failed restarts: {first_line}. "
                f"Read `fraudctl logs {name}`, fix the cause, then run `fraudctl up`.",
                level=logging.ERROR,
            )
            self._set(name, "failed", f"gave up after {item.failures} restarts: {first_line}")
            return False
        wait = min(self.max_backoff_s, self.first_backoff_s * 2 ** (item.failures - 1))
        self._next_try[name] = self.clock() + wait
        self._announce(
            name,
            f"restarting {name} failed ({first_line}); next try in {wait:.0f} s",
            level=logging.WARNING,
        )
        self._set(name, "down", f"restart failed: {first_line}")
        return False

    def _keep_job(self, taskmanager_down: bool) -> None:
        assert self.job_keeper is not None
        item = self.state.get(JOB)
        if item.state == "failed":
            return
        try:
            check = self.job_keeper()
        except Exception as error:  # a transient REST/Kafka hiccup: try again next round
            log.warning("checking the scoring job failed: %s", error)
            return
        if check.resumed:
            item.restarts += 1
            item.last_restart_at = time.time()
            self._resumes = [t for t in self._resumes if self.clock() - t < 600] + [self.clock()]
            self._announce("flink-jobmanager", f"scoring job {check.detail}")
            if len(self._resumes) > self.max_failures:
                check = JobCheck(
                    "failed",
                    f"resumed {len(self._resumes)} times within 10 minutes; it keeps failing. "
                    "Read `fraudctl logs flink-jobmanager`, then `fraudctl submit`.",
                )
        if check.state == "failed":
            self._announce(
                "flink-jobmanager", f"GIVING UP on the scoring job: {check.detail}", logging.ERROR
            )
        if check.state == "down" and "slots" in check.detail and not taskmanager_down:
            self._nudge_taskmanager(check.detail)
        else:
            self._job_waiting_since = None
        if (item.state, item.detail) != (check.state, check.detail) or check.resumed:
            self._set(JOB, check.state, check.detail)

    def _nudge_taskmanager(self, detail: str) -> None:
        """A TaskManager that outlived its JobManager may take long to register with the new
        one; after `slot_patience_s` without slots it is restarted, which registers at once."""
        now = self.clock()
        if self._job_waiting_since is None:
            self._job_waiting_since = now
            return
        if now - self._job_waiting_since >= self.slot_patience_s:
            self._job_waiting_since = None
            for name in self.taskmanagers():
                self.restart(name, f"no task slots registered ({detail})")

    # -- reporting ----------------------------------------------------------------------
    def _set(self, name: str, state: Watch, detail: str) -> None:
        item: Supervised = self.state.get(name)
        item.state, item.detail = state, detail
        write_state(self.manager.paths, self.state)

    def _announce(self, name: str, message: str, level: int = logging.WARNING) -> None:
        """One line in the supervisor's log and one in the component's own log."""
        log.log(level, message)
        log_file = self.manager.process(name).log_file
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("a") as handle:
                handle.write(f"\n=== fraudctl supervisor {stamp}: {message} ===\n")
        except OSError as error:
            log.warning("cannot write to %s: %s", log_file, error)

    def run(self, interval_s: float = 1.0) -> None:
        """Check every `interval_s` until SIGTERM/SIGINT."""
        stopping = False

        def stop(_signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.state.pid = os.getpid()
        write_state(self.manager.paths, self.state)
        names = ", ".join(self.manager.names())
        log.info("supervising %s (state dir %s)", names, self.manager.paths.root)
        while not stopping:
            started = self.clock()
            _reap_children()  # components it restarted are its children: no zombies
            try:
                self.check_once()
            except StackError as error:
                log.warning("supervision round failed: %s", error)
            time.sleep(max(0.05, interval_s - (self.clock() - started)))


def _reap_children() -> None:
    """Collect the exit status of dead children (between rounds, never during a `flink run`)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _summary(error: BaseException) -> str:
    """An error on one line: its first line and, for a log tail, the tail's last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return repr(error)
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: list[str] | None = None) -> None:
    """The supervisor process: `python -m fraudctl.stack.supervisor [--no-job]`; its settings
    come from the FRAUDCTL_* environment `fraudctl up` passes down."""
    parser = argparse.ArgumentParser(description="Keep the local fraudctl stack running.")
    parser.add_argument("--no-job", action="store_true", help="do not keep the scoring job")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    for noisy in ("httpx", "httpcore", "kafka", "confluent_kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per probe is noise
    from foundation.settings import Settings
    from fraudctl.jobs import keep_job_running  # jobs.py imports the stack package
    from fraudctl.stack.hardening import secure_stack

    settings = Settings()
    secure_stack(settings)  # the secrets `fraudctl up` generated, for the restarted children
    keeper: JobKeeper | None = None if args.no_job else (lambda: keep_job_running(settings))
    Supervisor(StackManager(settings), job_keeper=keeper).run(args.interval)


if __name__ == "__main__":
    main()
