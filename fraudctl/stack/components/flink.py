"""A Flink standalone session cluster run from the PyFlink pip distribution.

Nothing in site-packages is edited: the cluster gets its own config dir and lib dir (links
to PyFlink's jars plus the Kafka connector and flink-python) under the state directory,
passed to Flink's own launch scripts through FLINK_CONF_DIR / FLINK_LIB_DIR.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from foundation.flink_rest import FlinkRest, FlinkUnreachable
from foundation.settings import settings_env
from fraudctl.stack.components.base import Component, python_executable
from fraudctl.stack.jars import Jars
from fraudctl.stack.job_code import record_start
from fraudctl.stack.prereqs import check_java
from fraudctl.stack.process import ManagedProcess

TM_REGISTERED = "Successful registration at resource manager"
TASKMANAGER = "flink-taskmanager"
JOBMANAGER = "flink-jobmanager"


def taskmanager_name(index: int) -> str:
    """The component name of TaskManager `index`: the first keeps the plain name."""
    return TASKMANAGER if index == 0 else f"{TASKMANAGER}-{index + 1}"


def taskmanager_index(name: str) -> int | None:
    """The index `taskmanager_name` gave `name` (None: not a TaskManager's name)."""
    if name == TASKMANAGER:
        return 0
    prefix = f"{TASKMANAGER}-"
    suffix = name[len(prefix) :] if name.startswith(prefix) else ""
    if suffix.isdigit() and int(suffix) >= 2 and not suffix.startswith("0"):
        return int(suffix) - 1
    return None


def taskmanager_names(count: int) -> list[str]:
    return [taskmanager_name(index) for index in range(count)]


def pyflink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


class _FlinkProcess(Component):
    script: str

    def __init__(self, *args: object, jars: Jars, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.jars = jars

    @property
    def conf_dir(self) -> Path:
        return self.paths.conf("flink")

    @property
    def lib_dir(self) -> Path:
        return self.paths.data("flink") / "lib"

    def prepare(self) -> None:
        home = self._write_conf()
        self._link_lib(home)
        for sub in ("tmp", "checkpoints", "savepoints", "web-upload", "pids"):
            (self.paths.data("flink") / sub).mkdir(parents=True, exist_ok=True)

    def _link_lib(self, home: Path) -> None:
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        wanted = {p.name: p for p in (home / "lib").glob("*.jar")}
        for extra in [
            *self.jars.flink_lib.glob("*.jar"),
            *(home / "opt").glob("flink-python*.jar"),
        ]:
            wanted[extra.name] = extra
        for existing in self.lib_dir.iterdir():
            if existing.name not in wanted or existing.resolve() != wanted[existing.name]:
                existing.unlink()
        for name, target in wanted.items():
            link = self.lib_dir / name
            if not link.exists():
                link.symlink_to(target)

    def _write_conf(self) -> Path:
        """This process's conf dir (config.yaml and the logging files); the PyFlink home."""
        check_java()
        home = pyflink_home()
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "config.yaml").write_text(self._config_yaml())
        for name in ("log4j-console.properties", "log4j-cli.properties", "logback-console.xml"):
            shutil.copy(home / "conf" / name, self.conf_dir / name)
        return home

    def _taskmanager_config(self) -> dict[str, object]:
        cfg = self.settings.flink
        return {
            "bind-host": cfg.host,
            "host": cfg.host,
            "resource-id": f"fraudctl-taskmanager-{cfg.taskmanager_rpc_port}",
            "rpc": {"port": cfg.taskmanager_rpc_port},
            "data": {"port": cfg.taskmanager_data_port},
            "numberOfTaskSlots": cfg.slots,
            "memory": {"process": {"size": cfg.taskmanager_memory}},
            # With several TaskManagers a job's subtasks go to all of them (each has its
            # own Python interpreter), not to the first one's free slots.
            "load-balance": {"mode": "SLOTS"},
        }

    def _config_yaml(self) -> str:
        cfg = self.settings.flink
        data = self.paths.data("flink")
        config = {
            "jobmanager": {
                "bind-host": cfg.host,
                "rpc": {"address": cfg.host, "port": cfg.rpc_port},
                "memory": {"process": {"size": cfg.jobmanager_memory}},
                "execution": {"failover-strategy": "region"},
            },
            "taskmanager": self._taskmanager_config(),
            "rest": {"address": cfg.host, "bind-address": cfg.host, "port": cfg.rest_port},
            "blob": {"server": {"port": str(cfg.blob_port)}},
            "parallelism": {"default": 1},
            "heartbeat": {"interval": 5000, "timeout": 20000},
            "io": {"tmp": {"dirs": str(data / "tmp")}},
            # REST binds loopback (above). `flink run` submits through POST /jobs, which
            # carries its own jars, so the web UI's jar upload and run stay off.
            "web": {"upload": {"dir": str(data / "web-upload")}, "submit": {"enable": False}},
            "execution": {
                "checkpointing": {
                    "dir": f"file://{data / 'checkpoints'}",
                    "savepoint-dir": f"file://{data / 'savepoints'}",
                }
            },
            "python": {
                "executable": python_executable(),
                "client": {"executable": python_executable()},
            },
            "env": {"java": {"opts": {"all": _java_opts_from_dist()}}},
        }
        # JSON is valid YAML 1.2, which is what Flink 2's config.yaml parser reads.
        return json.dumps(config, indent=2) + "\n"

    def env(self) -> dict[str, str]:
        env = super().env()
        # The job's Python (inside the TaskManager) reads Redis credentials from the settings.
        env.update(settings_env(self.settings))
        env.update(
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LIB_DIR=str(self.lib_dir),
            FLINK_LOG_DIR=str(self.paths.logs),
            FLINK_PID_DIR=str(self.paths.data("flink") / "pids"),
        )
        return env

    def argv(self) -> list[str]:
        script = ["bash", str(pyflink_home() / "bin" / self.script), "start-foreground"]
        niceness = self.settings.flink.nice
        # `nice` execs the script: the pid recorded is still the JVM's launcher.
        return ["nice", "-n", str(niceness), *script] if niceness else script


def _java_opts_from_dist() -> str:
    """The --add-opens list PyFlink ships in its default config (Flink needs it on Java 17)."""
    text = (pyflink_home() / "conf" / "config.yaml").read_text()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("all:") and "--add-" in stripped:
            return stripped.split(":", 1)[1].strip()
    return ""


class JobManagerComponent(_FlinkProcess):
    name = JOBMANAGER
    script = "jobmanager.sh"
    health_timeout_s = 180.0

    def ports(self) -> list[tuple[str, int]]:
        cfg = self.settings.flink
        return [(cfg.host, cfg.rest_port), (cfg.host, cfg.rpc_port), (cfg.host, cfg.blob_port)]

    def probe(self, log_since_start: str) -> str | None:
        try:
            FlinkRest.of(self.settings, timeout_s=2).overview()
        except FlinkUnreachable as exc:
            return f"REST API not answering: {exc}"
        return None

    def url(self) -> str | None:
        return self.settings.flink.rest_url

    def port_flag(self) -> str:
        return "--flink-port / FRAUDCTL_FLINK__REST_PORT (RPC: FRAUDCTL_FLINK__RPC_PORT)"


class TaskManagerComponent(_FlinkProcess):
    """TaskManager `index` (0: the one on the configured ports, with the JobManager's conf
    dir). Each further one (`fraudctl up --taskmanagers N`) is its own JVM with its own
    embedded Python, conf dir and ephemeral RPC/data ports."""

    name = TASKMANAGER
    script = "taskmanager.sh"
    health_timeout_s = 180.0

    def __init__(self, *args: object, jars: Jars, index: int = 0, **kwargs: object) -> None:
        super().__init__(*args, jars=jars, **kwargs)
        self.index = index
        self.name = taskmanager_name(index)
        self.resource_id = ""  # chosen afresh by every start (prepare)
        self.fresh_rpc_port = False  # TaskManager 0 restarted under the same JobManager

    @property
    def conf_dir(self) -> Path:
        return self.paths.conf("flink" if self.index == 0 else self.name)

    @property
    def pid_dir(self) -> Path:
        pids = self.paths.data("flink") / "pids"
        return pids if self.index == 0 else pids / self.name

    def prepare(self) -> None:
        # A new identity for every start. Restarted after a crash under the dead one's id,
        # a TaskManager was taken for the dead one: the JobManager closed its connection
        # when the dead one's heartbeat ran out, it re-registered, and the job waited a
        # minute or more for its slots. The dead id now just times out on its own.
        self.resource_id = f"fraudctl-{self.name}-run-{secrets.token_hex(4)}"
        # ...and the job code its Python will load, so a submission can tell it is stale.
        record_start(self.settings, self.name, self.resource_id)
        if self.index == 0:  # the JobManager prepared the shared conf and lib dirs
            # Restarted under the JobManager that knew the dead one, it binds a fresh RPC
            # port like the others: on the dead one's address, the JobManager's stale
            # connection to it sometimes kept the new one from ever registering ("read-only
            # association", "Could not resolve ResourceManager address").
            jobmanager = self._jobmanager_identity()
            marker = self.paths.data("flink") / "taskmanager-0-jobmanager"
            seen = marker.read_text() if marker.exists() else None
            self.fresh_rpc_port = jobmanager is not None and jobmanager == seen
            super().prepare()
            if jobmanager is not None:
                marker.write_text(jobmanager)
            return
        # Only its own conf: the lib dir is shared, and TaskManager 0 refreshes it meanwhile.
        self._write_conf()
        self.pid_dir.mkdir(parents=True, exist_ok=True)

    def _taskmanager_config(self) -> dict[str, object]:
        config = super()._taskmanager_config()
        if self.resource_id:
            config["resource-id"] = self.resource_id
        if self.index:
            config.update({"rpc": {"port": 0}, "data": {"port": 0}})
        elif self.fresh_rpc_port:
            config["rpc"] = {"port": 0}
        return config

    def _jobmanager_identity(self) -> str | None:
        """The running JobManager's pid and start time (None: it is not running)."""
        process = ManagedProcess(JOBMANAGER, self.paths.run, self.paths.logs)
        record = process.record()
        if record is None or process.process() is None:
            return None
        return f"{record.pid}@{record.create_time}"

    def env(self) -> dict[str, str]:
        env = super().env()
        env["FLINK_PID_DIR"] = str(self.pid_dir)
        return env

    def ports(self) -> list[tuple[str, int]]:
        if self.index:
            return []  # ephemeral
        cfg = self.settings.flink
        return [(cfg.host, cfg.taskmanager_rpc_port), (cfg.host, cfg.taskmanager_data_port)]

    def probe(self, log_since_start: str) -> str | None:
        if TM_REGISTERED not in log_since_start:
            return "not registered with the JobManager yet"
        return None

    def port_flag(self) -> str:
        return "FRAUDCTL_FLINK__TASKMANAGER_RPC_PORT / FRAUDCTL_FLINK__TASKMANAGER_DATA_PORT"
