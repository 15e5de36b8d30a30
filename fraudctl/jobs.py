"""The scoring job's lifecycle on the local Flink session cluster: one copy, found by name.

`ensure_job_running` is what `fraudctl up` calls: it returns the running job, or submits
it. A submission restores the state (per-user features, Kafka offsets) of the previous
run from its last retained checkpoint, so `down`/`up` does not forget every user's
history; `fresh=True` starts empty (offsets then come from the consumer group, i.e.
where the last run's last checkpoint left them, or the earliest on a first start).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from fraudctl.settings import Settings
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.errors import StackError
from fraudctl.stack.flink_client import (
    ACTIVE_STATES,
    JobSubmitFailed,
    cancel_job,
    submit_python_job,
    wait_for_state,
)

JOB_SCRIPT = Path(__file__).resolve().parent.parent / "flink_job" / "main.py"
RECORD_FILE = "scoring-job.json"
LOCK_FILE = "scoring-job.lock"
KEEP_RUNS = 2  # checkpoint directories of older runs are removed


class JobAlreadyRunning(StackError):
    """A second copy of the scoring job was asked for."""


class JobNotRunning(StackError):
    """The scoring job is not on the cluster."""


class FlinkUnreachable(StackError):
    """The JobManager's REST API does not answer."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str
    start_time_ms: int | None = None
    model_version: str | None = None
    restored_from: str | None = None


@dataclass(frozen=True)
class JobStatus:
    """What `fraudctl job status` shows."""

    job: JobInfo
    uptime_s: float | None
    restarts: int | None
    checkpoints_completed: int | None
    checkpoints_failed: int | None
    last_checkpoint_age_s: float | None
    transactions_in: int | None  # valid transactions that reached the scoring operator

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rest(settings: Settings, path: str) -> Any:
    url = f"{settings.flink.rest_url}{path}"
    try:
        response = httpx.get(url, timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise FlinkUnreachable(
            f"the Flink JobManager does not answer at {settings.flink.rest_url} ({error}). "
            "Start the stack with `fraudctl up` (or check `fraudctl status`)."
        ) from None
    return response.json()


def scoring_jobs(settings: Settings) -> list[JobInfo]:
    """Active copies of the scoring job (normally zero or one), newest first."""
    overview = _rest(settings, "/jobs/overview")["jobs"]
    found = [
        JobInfo(job["jid"], job["name"], job["state"], job.get("start-time"))
        for job in overview
        if job["name"] == settings.flink.job_name and job["state"] in ACTIVE_STATES
    ]
    return sorted(found, key=lambda job: -(job.start_time_ms or 0))


def find_job(settings: Settings) -> JobInfo | None:
    jobs = scoring_jobs(settings)
    if not jobs:
        return None
    record = _read_record(settings)
    model = record.get("model_version") if record.get("job_id") == jobs[0].job_id else None
    return JobInfo(jobs[0].job_id, jobs[0].name, jobs[0].state, jobs[0].start_time_ms, model)


def ensure_job_running(settings: Settings, wait_timeout_s: float = 180.0) -> JobInfo:
    """The running scoring job; submitted first when it is not on the cluster."""
    with _submission_lock(settings):
        running = find_job(settings)
        if running is not None:
            return running
        return _submit(settings, fresh=False, wait_timeout_s=wait_timeout_s)


def submit_job(
    settings: Settings, *, fresh: bool = False, wait_timeout_s: float = 180.0
) -> JobInfo:
    """Submit the job and wait until it runs; refuses when a copy is already active."""
    with _submission_lock(settings):
        running = find_job(settings)
        if running is not None:
            raise JobAlreadyRunning(
                f"the scoring job is already {running.state} (job id {running.job_id}); "
                "a second copy would score every transaction twice. "
                "Run `fraudctl job cancel` first to replace it."
            )
        return _submit(settings, fresh=fresh, wait_timeout_s=wait_timeout_s)


def cancel_scoring_job(
    settings: Settings, timeout_s: float = 90.0, *, savepoint: bool = True
) -> list[JobInfo]:
    """Stop every active copy, taking a savepoint first so the next submit resumes from it.

    Without a savepoint (or when taking one fails, e.g. while Redis is down and the job
    waits for it) the job is cancelled; its last retained checkpoint is used instead.
    """
    jobs = scoring_jobs(settings)
    if not jobs:
        raise JobNotRunning(
            f"no job named {settings.flink.job_name!r} is running on "
            f"{settings.flink.rest_url}; nothing to cancel"
        )
    for job in jobs:
        location = None
        if savepoint and job.state == "RUNNING":
            location = _stop_with_savepoint(settings, job.job_id, timeout_s)
        if location is None:
            cancel_job(settings, job.job_id, timeout_s)
        else:
            _remember_savepoint(settings, job.job_id, location)
    return jobs


def _stop_with_savepoint(settings: Settings, job_id: str, timeout_s: float) -> str | None:
    """Stop the job with a savepoint; its location, or None when that did not work."""
    target = _paths(settings).data("flink") / "savepoints"
    base = f"{settings.flink.rest_url}/jobs/{job_id}"
    try:
        response = httpx.post(
            f"{base}/stop", json={"drain": False, "targetDirectory": str(target)}, timeout=10
        )
        response.raise_for_status()
        request_id = response.json()["request-id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/savepoints/{request_id}", timeout=10).json()
            if status.get("status", {}).get("id") == "COMPLETED":
                operation = status.get("operation", {})
                if "location" not in operation:
                    return None
                wait_for_state(settings, job_id, "FINISHED", timeout_s)
                return str(operation["location"]).removeprefix("file:")
            time.sleep(0.5)
    except (httpx.HTTPError, KeyError, ValueError, StackError):
        return None
    return None


def job_status(settings: Settings) -> JobStatus:
    job = find_job(settings)
    if job is None:
        raise JobNotRunning(
            f"the scoring job is not running on {settings.flink.rest_url}: "
            "start it with `fraudctl submit` (or `fraudctl up`)"
        )
    detail = _rest(settings, f"/jobs/{job.job_id}")
    checkpoints = _optional(settings, f"/jobs/{job.job_id}/checkpoints")
    restarts = _optional(settings, f"/jobs/{job.job_id}/metrics?get=numRestarts")
    vertices = detail.get("vertices", [])
    now_ms = time.time() * 1000
    completed = failed = None
    age = None
    if checkpoints:
        counts = checkpoints.get("counts", {})
        completed, failed = counts.get("completed"), counts.get("failed")
        latest = (checkpoints.get("latest") or {}).get("completed") or {}
        if latest.get("latest_ack_timestamp"):
            age = max(0.0, (now_ms - latest["latest_ack_timestamp"]) / 1000)
    return JobStatus(
        job=job,
        uptime_s=(now_ms - job.start_time_ms) / 1000 if job.start_time_ms else None,
        restarts=int(restarts[0]["value"]) if restarts else None,
        checkpoints_completed=completed,
        checkpoints_failed=failed,
        last_checkpoint_age_s=age,
        transactions_in=_vertex_metric(vertices, "score per user", "read-records"),
    )


def latest_checkpoint(settings: Settings) -> Path | None:
    """Where the next submission resumes from: the savepoint the last stop took, else the
    newest complete retained checkpoint of an earlier run of the scoring job."""
    record = _read_record(settings)
    root = _checkpoint_root(settings)
    history: list[str] = [str(job_id) for job_id in record.get("history", [])]
    savepoint = record.get("savepoint")
    if savepoint and history and record.get("savepoint_of") == history[0]:
        path = Path(str(savepoint))
        if (path / "_metadata").is_file():
            return path
    for job_id in history:
        chk_dirs: list[Path] = sorted(
            (path for path in (root / job_id).glob("chk-*") if (path / "_metadata").is_file()),
            key=lambda path: int(path.name.removeprefix("chk-")),
            reverse=True,
        )
        if chk_dirs:
            return chk_dirs[0]
    return None


# -- internals ------------------------------------------------------------------------------


def check_parallelism(settings: Settings) -> None:
    """Refuse a parallelism the cluster cannot run, before the job waits for slots forever."""
    wanted = settings.job.parallelism
    partitions = settings.kafka.partitions
    if wanted > partitions:
        raise StackError(
            f"job parallelism {wanted} is above the {partitions} partitions of "
            f"{settings.kafka.transactions_topic!r}: lower FRAUDCTL_JOB__PARALLELISM, or "
            "raise FRAUDCTL_KAFKA__PARTITIONS on a fresh stack"
        )
    slots = int(_rest(settings, "/overview").get("slots-total", 0))
    needed = max(wanted, min(partitions, settings.flink.slots))
    if needed > slots:
        raise StackError(
            f"the job needs {needed} task slots but the cluster has {slots}: lower "
            "FRAUDCTL_JOB__PARALLELISM or raise FRAUDCTL_FLINK__SLOTS (then `fraudctl down` "
            "and `fraudctl up`), and check that the TaskManager is up (`fraudctl status`)"
        )


def prepare_output_topics(settings: Settings) -> None:
    """Stamp the job's output topics with the broker's clock (LogAppendTime).

    Flink's KafkaSink gives each record the element's timestamp, which for this job is the
    transaction's event time: the broker would reject one more than an hour ahead of its
    clock, and delete an old one at once by time-based retention. Idempotent.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
    )

    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    entry = ConfigEntry(
        "message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET
    )
    resources = [
        ConfigResource("TOPIC", topic, incremental_configs=[entry])
        for topic in (settings.kafka.scores_topic, settings.kafka.dlq_topic)
    ]
    for resource, future in admin.incremental_alter_configs(resources).items():
        try:
            future.result(timeout=15)
        except KafkaException as error:
            raise StackError(
                f"could not configure topic {resource.name} on {settings.kafka.bootstrap} "
                f"({error}); is Kafka up (`fraudctl status`)?"
            ) from None


def _submit(settings: Settings, *, fresh: bool, wait_timeout_s: float) -> JobInfo:
    from flink_job.model import ModelMissing, ModelPackage

    try:
        package = ModelPackage.load(settings.model.artifacts_dir)
    except ModelMissing as error:
        raise JobSubmitFailed(str(error)) from None
    check_parallelism(settings)
    prepare_output_topics(settings)
    restore = None if fresh else latest_checkpoint(settings)
    try:
        job_id = submit_python_job(settings, JOB_SCRIPT, restore_from=restore)
    except JobSubmitFailed:
        if restore is None:
            raise
        # An unusable checkpoint (e.g. from an incompatible version) must not block a start.
        restore = None
        job_id = submit_python_job(settings, JOB_SCRIPT)
    _write_record(settings, job_id, package.model_version, restore)
    try:
        wait_for_state(settings, job_id, "RUNNING", wait_timeout_s)
    except StackError as error:
        raise StackError(
            f"{error}. The JobManager log has the cause: `fraudctl logs flink-jobmanager`; "
            "the TaskManager log: `fraudctl logs flink-taskmanager`."
        ) from None
    info = find_job(settings)
    if info is None or info.job_id != job_id:
        raise StackError(f"job {job_id} was submitted but is no longer active")
    return JobInfo(
        info.job_id,
        info.name,
        info.state,
        info.start_time_ms,
        package.model_version,
        str(restore) if restore else None,
    )


def _vertex_metric(vertices: list[dict[str, Any]], name_prefix: str, metric: str) -> int | None:
    for vertex in vertices:
        if str(vertex.get("name", "")).startswith(name_prefix):
            value = vertex.get("metrics", {}).get(metric)
            return int(value) if value is not None else None
    return None


def _optional(settings: Settings, path: str) -> Any:
    try:
        return _rest(settings, path)
    except FlinkUnreachable:
        return None


def _paths(settings: Settings) -> StackPaths:
    return StackPaths(settings.state_dir.expanduser())


def _checkpoint_root(settings: Settings) -> Path:
    return _paths(settings).data("flink") / "checkpoints"


def _record_path(settings: Settings) -> Path:
    return _paths(settings).run / RECORD_FILE


def _read_record(settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_record(
    settings: Settings, job_id: str, model_version: str, restored_from: Path | None
) -> None:
    previous = _read_record(settings).get("history", [])
    history = [job_id, *[old for old in previous if old != job_id]]
    for stale in history[KEEP_RUNS:]:
        shutil.rmtree(_checkpoint_root(settings) / stale, ignore_errors=True)
    savepoints = sorted(
        (_paths(settings).data("flink") / "savepoints").glob("savepoint-*"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for stale_savepoint in savepoints[KEEP_RUNS:]:
        shutil.rmtree(stale_savepoint, ignore_errors=True)
    record = {
        "job_id": job_id,
        "submitted_at_ms": int(time.time() * 1000),
        "model_version": model_version,
        "restored_from": str(restored_from) if restored_from else None,
        "history": history[:KEEP_RUNS],
    }
    _save_record(settings, record)


def _remember_savepoint(settings: Settings, job_id: str, location: str) -> None:
    record = _read_record(settings)
    record.update(savepoint=location, savepoint_of=job_id)
    _save_record(settings, record)


def _save_record(settings: Settings, record: dict[str, Any]) -> None:
    path = _record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)


@contextmanager
def _submission_lock(settings: Settings) -> Iterator[None]:
    """Two `fraudctl up`/`submit` at once must not both submit."""
    path = _paths(settings).run / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
