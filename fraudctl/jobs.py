"""The scoring job's lifecycle on the local Flink session cluster: one copy, found by name.

`ensure_job_running` is what `fraudctl up` calls: it returns the running job, or submits
it. A submission restores the state (per-user features, Kafka offsets) of the previous
run from its last retained checkpoint, so `down`/`up` does not forget every user's
history; `fresh=True` starts empty (offsets then come from the consumer group, i.e.
where the last run's last checkpoint left them, or the earliest on a first start).
A restore that fails stops with the ways to go on; it never falls back to empty state.
`keep_job_running` is the supervisor's: after a JobManager restart it resumes the job
once the TaskManagers' slots are back. Every submission holds a file lock, checks the
cluster's job list first and fixes the new job's id, so nothing ever runs twice.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from foundation import flink_rest
from foundation.clock import now_ms
from foundation.flink_rest import FlinkJob, FlinkRest
from foundation.kafka_topics import KafkaTopicError, ensure_topics, pipeline_topics
from foundation.settings import Settings
from fraudctl.job_record import (
    checkpoint_root,
    forget_failed_start,
    latest_checkpoint,
    mark_wanted,
    read_record,
    remember_savepoint,
    savepoint_root,
    submission_lock,
    write_record,
)
from fraudctl.stack.errors import StackError
from fraudctl.stack.flink_submit import JobSubmitFailed, submit_python_job
from fraudctl.stack.job_code import StaleJobCode, check_job_code
from fraudctl.stack.supervision import JobCheck
from models.artifacts import CARD_FILE, ensure_model

JOB_SCRIPT = Path(__file__).resolve().parent.parent / "flink_job" / "main.py"


class JobAlreadyRunning(StackError):
    """A second copy of the scoring job was asked for."""


class JobNotRunning(StackError):
    """The scoring job is not on the cluster."""


class FlinkUnreachable(StackError):
    """The JobManager's REST API does not answer."""


class RestoreFailed(StackError):
    """The job could not be resumed from its state; the operator must choose how to go on."""


SLOT_WAIT_S = 120.0  # how long a submission waits for TaskManagers to offer their slots


@dataclass(frozen=True, slots=True)
class JobInfo(FlinkJob):
    """The scoring job: Flink's record of it plus what this host remembers of its submission."""

    model_version: str | None = None
    restored_from: str | None = None
    submitted: bool = False  # by this call: its JVM paths are not warm yet (fraudctl/warmup.py)


@dataclass(frozen=True)
class JobStatus:
    """What `fraudctl job status` shows."""

    job: JobInfo
    uptime_s: float | None
    restarts: int | None
    checkpoints_completed: int | None
    checkpoints_failed: int | None
    last_checkpoint_age_s: float | None
    # Records into the scoring operator since the job (re)started: valid transactions (the
    # warm-up's too) plus every label and rule change once per subtask (its broadcast
    # input). Flink counts a two-input task's inputs together.
    transactions_in: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _flink_errors(settings: Settings) -> Iterator[None]:
    """The REST client's errors as stack errors that say what to do."""
    try:
        yield
    except flink_rest.FlinkUnreachable as error:
        raise FlinkUnreachable(
            f"the Flink JobManager does not answer at {settings.flink.rest_url} ({error}). "
            "Start the stack with `fraudctl up` (or check `fraudctl status`)."
        ) from None
    except flink_rest.FlinkRestError as error:
        raise StackError(str(error)) from None


def _rest(settings: Settings, path: str) -> Any:
    with _flink_errors(settings):
        return FlinkRest.of(settings).get(path)


def scoring_jobs(settings: Settings) -> list[FlinkJob]:
    """Active copies of the scoring job (normally zero or one), newest first."""
    with _flink_errors(settings):
        return FlinkRest.of(settings).active_jobs(settings.flink.job_name)


def find_job(settings: Settings) -> JobInfo | None:
    jobs = scoring_jobs(settings)
    if not jobs:
        return None
    record = read_record(settings)
    model = record.get("model_version") if record.get("job_id") == jobs[0].job_id else None
    return _info(jobs[0], model)


def _info(
    job: FlinkJob,
    model_version: str | None,
    restored_from: str | None = None,
    submitted: bool = False,
) -> JobInfo:
    return JobInfo(
        job.job_id,
        job.name,
        job.state,
        job.start_time_ms,
        job.end_time_ms,
        model_version=model_version,
        restored_from=restored_from,
        submitted=submitted,
    )


def ensure_job_running(settings: Settings, wait_timeout_s: float = 180.0) -> JobInfo:
    """The running scoring job; submitted first when it is not on the cluster."""
    with submission_lock(settings):
        running = find_job(settings)
        if running is not None:
            mark_wanted(settings, True)
            return running
        return _submit(settings, fresh=False, wait_timeout_s=wait_timeout_s)


def keep_job_running(settings: Settings) -> JobCheck:
    """One look for the supervisor: the job runs, or is resumed from its latest retained
    checkpoint. Never blocks on another submission (`fraudctl up` may be submitting).

    After a JobManager restart it submits as soon as the JobManager answers: building the
    job graph takes the client 15-20 s, in which the TaskManagers re-register, and Flink's
    scheduler holds the job until their slots are there (it waits; it never fails on zero
    slots). A job still waiting for slots reads "down … waiting for task slots", which
    makes the supervisor restart a TaskManager that does not register in time."""
    record = read_record(settings)
    if not record.get("wanted", bool(record.get("job_id"))):  # older records lack "wanted"
        return JobCheck("ok", "not kept running (cancelled, or never submitted)")
    with submission_lock(settings, wait=False) as locked:
        if not locked:
            return JobCheck("ok", "a submission is in progress")
        running = scoring_jobs(settings)
        if running:
            have, needed = _slots(settings)
            what = f"{running[0].state} {running[0].job_id}"
            if have < needed:
                return JobCheck("down", f"{what}, waiting for task slots ({have} of {needed})")
            return JobCheck("ok", what)
        try:
            info = _submit(settings, fresh=False, wait_timeout_s=0, slot_wait_s=None)
        except (RestoreFailed, StaleJobCode) as error:
            return JobCheck("failed", str(error))
        where = info.restored_from or "no earlier run (first start)"
        return JobCheck("restarting", f"resumed as {info.job_id} from {where}", resumed=True)


def submit_job(
    settings: Settings,
    *,
    fresh: bool = False,
    from_savepoint: Path | None = None,
    allow_non_restored_state: bool = False,
    wait_timeout_s: float = 180.0,
) -> JobInfo:
    """Submit the job and wait until it runs; refuses when a copy is already active.

    Default: resume from the newest savepoint/checkpoint of the earlier runs. `fresh`
    starts with empty state; `from_savepoint` resumes from that directory instead.
    """
    if from_savepoint is not None and not (from_savepoint / "_metadata").is_file():
        raise RestoreFailed(
            f"{from_savepoint} is not a complete checkpoint or savepoint (no _metadata file "
            "in it): pass a chk-N or savepoint-… directory"
        )
    with submission_lock(settings):
        running = find_job(settings)
        if running is not None:
            raise JobAlreadyRunning(
                f"the scoring job is already {running.state} (job id {running.job_id}); "
                "a second copy would score every transaction twice. "
                "Run `fraudctl job cancel` first to replace it."
            )
        return _submit(
            settings,
            fresh=fresh,
            restore_from=from_savepoint,
            allow_non_restored_state=allow_non_restored_state,
            wait_timeout_s=wait_timeout_s,
        )


def cancel_scoring_job(
    settings: Settings, timeout_s: float = 90.0, *, savepoint: bool = True
) -> list[FlinkJob]:
    """Stop every active copy, taking a savepoint first so the next submit resumes from it.

    Without a savepoint (or when taking one fails, e.g. while Redis is down and the job
    waits for it) the job is cancelled; its last retained checkpoint is used instead.
    """
    mark_wanted(settings, False)  # the supervisor must not bring it back
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
            with _flink_errors(settings):
                FlinkRest.of(settings).cancel(job.job_id, timeout_s)
        else:
            remember_savepoint(settings, job.job_id, location)
    return jobs


def _stop_with_savepoint(settings: Settings, job_id: str, timeout_s: float) -> str | None:
    """Stop the job with a savepoint; its location, or None when that did not work."""
    target = savepoint_root(settings)
    return FlinkRest.of(settings, timeout_s=10).stop_with_savepoint(job_id, str(target), timeout_s)


def job_status(settings: Settings) -> JobStatus:
    job = find_job(settings)
    if job is None:
        raise JobNotRunning(
            f"the scoring job is not running on {settings.flink.rest_url}: "
            "start it with `fraudctl submit` (or `fraudctl up`)"
        )
    detail = _rest(settings, f"/jobs/{job.job_id}")
    checkpoints = _optional(settings, f"/jobs/{job.job_id}/checkpoints")
    restarts = FlinkRest.of(settings).restarts(job.job_id)
    vertices = detail.get("vertices", [])
    now = now_ms()
    completed = failed = None
    age = None
    if checkpoints:
        counts = checkpoints.get("counts", {})
        completed, failed = counts.get("completed"), counts.get("failed")
        latest = (checkpoints.get("latest") or {}).get("completed") or {}
        if latest.get("latest_ack_timestamp"):
            age = max(0.0, (now - latest["latest_ack_timestamp"]) / 1000)
    return JobStatus(
        job=job,
        uptime_s=(now - job.start_time_ms) / 1000 if job.start_time_ms else None,
        restarts=restarts,
        checkpoints_completed=completed,
        checkpoints_failed=failed,
        last_checkpoint_age_s=age,
        transactions_in=_vertex_metric(vertices, "score per user", "read-records"),
    )


# -- internals ------------------------------------------------------------------------------


def check_parallelism(settings: Settings, slot_wait_s: float = SLOT_WAIT_S) -> None:
    """Refuse a parallelism the cluster cannot run, before the job waits for slots forever.

    TaskManagers register some seconds after the JobManager (re)starts: zero slots means
    "not yet", so this waits up to `slot_wait_s` for them before saying anything.
    """
    wanted = settings.job.parallelism
    partitions = settings.kafka.partitions
    if wanted > partitions:
        raise StackError(
            f"job parallelism {wanted} is above the {partitions} partitions of "
            f"{settings.kafka.transactions_topic!r}: lower FRAUDCTL_JOB__PARALLELISM, or "
            "raise FRAUDCTL_KAFKA__PARTITIONS on a fresh stack"
        )
    deadline = time.monotonic() + slot_wait_s
    slots, needed = _slots(settings)
    while slots < needed and time.monotonic() < deadline:
        time.sleep(0.5)
        slots, needed = _slots(settings)
    if needed > slots:
        raise StackError(
            f"the job needs {needed} task slots but only {slots} registered within "
            f"{slot_wait_s:.0f} s: check that the TaskManagers are up (`fraudctl status`, "
            "`fraudctl logs flink-taskmanager`), or lower FRAUDCTL_JOB__PARALLELISM / raise "
            "FRAUDCTL_FLINK__SLOTS (then `fraudctl down` and `fraudctl up`)"
        )


def _slots(settings: Settings) -> tuple[int, int]:
    """(task slots registered now, slots the job needs)."""
    have = int(_rest(settings, "/overview").get("slots-total", 0))
    needed = max(settings.job.parallelism, min(settings.kafka.partitions, settings.flink.slots))
    return have, needed


def prepare_topics(settings: Settings) -> None:
    """Make sure every pipeline topic exists with its declared config (e.g. the job's output
    topics stamped with the broker's clock); idempotent, also for a stack made earlier."""
    try:
        ensure_topics(settings.kafka.bootstrap, pipeline_topics(settings.kafka))
    except KafkaTopicError as error:
        raise StackError(f"{error}; is Kafka up (`fraudctl status`)?") from None


def model_version(settings: Settings) -> str:
    """The version of the model the next submission ships, from its model card (training
    the model first when there is no usable one, as `fraudctl up` does)."""
    artifacts = settings.model.artifacts_dir
    try:
        card = json.loads((ensure_model(artifacts) / CARD_FILE).read_text())
        return str(card["model_version"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise JobSubmitFailed(
            f"the model in {artifacts} cannot be used ({error}): run `fraudctl train`, or "
            "point FRAUDCTL_MODEL__ARTIFACTS_DIR at a directory that has one"
        ) from None


def _submit(
    settings: Settings,
    *,
    fresh: bool,
    wait_timeout_s: float,
    restore_from: Path | None = None,
    allow_non_restored_state: bool = False,
    slot_wait_s: float | None = SLOT_WAIT_S,
) -> JobInfo:
    """Submit under the caller's lock, after it checked that no copy is active. Waits up to
    `slot_wait_s` for task slots first (None: Flink's scheduler waits instead) and up to
    `wait_timeout_s` for RUNNING after (0: not at all)."""
    check_job_code(settings)
    version = model_version(settings)
    if slot_wait_s is not None:
        check_parallelism(settings, slot_wait_s)
    prepare_topics(settings)
    restore = restore_from if restore_from is not None or fresh else latest_checkpoint(settings)
    previous = read_record(settings)  # put back if the job never runs (forget_failed_start)
    if restore is None and not fresh and previous.get("history"):
        raise RestoreFailed(
            "the scoring job ran here before but left no complete checkpoint or savepoint "
            f"under {checkpoint_root(settings)}; starting it empty would forget every "
            f"user's history. {_HOW_TO_GO_ON}"
        )
    job_id = uuid.uuid4().hex
    try:
        submit_python_job(
            settings,
            JOB_SCRIPT,
            restore_from=restore,
            job_id=job_id,
            allow_non_restored_state=allow_non_restored_state,
        )
    except JobSubmitFailed as error:
        # A timed-out client may still have submitted: the fixed id tells.
        if not _appears(settings, job_id):
            if restore is None:
                raise
            raise RestoreFailed(
                f"the scoring job could not be restored from {restore} ({error}). "
                f"It was NOT started with empty state. {_HOW_TO_GO_ON}"
            ) from None
    write_record(settings, job_id, version, restore)
    try:
        with _flink_errors(settings):
            if wait_timeout_s > 0:
                FlinkRest.of(settings).wait_for_state(job_id, "RUNNING", wait_timeout_s)
    except StackError as error:
        if _ended(settings, job_id):
            forget_failed_start(settings, job_id, previous)
        cause = FlinkRest.of(settings).failure(job_id)  # None when it cannot say
        if restore is not None and cause is not None and UNMAPPED_STATE in cause:
            unmapped = _unmapped_state(restore, cause, explicit=restore_from is not None)
            raise RestoreFailed(unmapped) from None
        said = f"; Flink says: {cause}" if cause else ""
        raise StackError(
            f"{error}{said}. The JobManager log has the whole story: `fraudctl logs "
            "flink-jobmanager`; the TaskManager log: `fraudctl logs flink-taskmanager`."
        ) from None
    info = find_job(settings)
    if info is None or info.job_id != job_id:
        raise StackError(f"job {job_id} was submitted but is no longer active")
    return _info(info, version, str(restore) if restore else None, submitted=True)


_HOW_TO_GO_ON = (
    "To go on, either resume from another retained checkpoint or savepoint with "
    "`fraudctl submit --from-savepoint PATH` (newest first: `ls -t "
    "STATE_DIR/data/flink/checkpoints/*/chk-* STATE_DIR/data/flink/savepoints`), or "
    "knowingly start with empty state with `fraudctl submit --from-scratch`."
)


# Flink's words when a checkpoint holds state of an operator the submitted job lacks.
UNMAPPED_STATE = "Cannot map checkpoint/savepoint state"


def _ended(settings: Settings, job_id: str) -> bool:
    try:
        state = FlinkRest.of(settings).job_detail(job_id).get("state")
    except flink_rest.FlinkRestError:
        return False
    return state in flink_rest.ENDED_STATES


def _unmapped_state(restore: Path, cause: str, *, explicit: bool) -> str:
    """A restore Flink refused because the checkpoint has state no operator of this job
    claims (an upgrade that changed the job's operators, or another job's checkpoint)."""
    again = "fraudctl submit --allow-non-restored-state"
    if explicit:
        again += f" --from-savepoint {restore}"
    return (
        f"the scoring job could not be restored from {restore}: that checkpoint holds state "
        "of operators this version of the job does not have (Flink says: "
        f"{cause}). It was NOT started with empty state. If it is this job's own checkpoint "
        f"from an earlier version, `{again}` starts it with the state it can use and "
        f"drops the rest for good. {_HOW_TO_GO_ON}"
    )


def _appears(settings: Settings, job_id: str, within_s: float = 15.0) -> bool:
    """Whether the cluster knows `job_id` (a submission may land after its client died)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if any(job.job_id == job_id for job in FlinkRest.of(settings).jobs()):
                return True
        except flink_rest.FlinkUnreachable:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


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
