"""Everything `fraudctl up` does beyond starting processes: the model and the scoring job.

Order matters: the model must exist before the job is submitted (the job ships the model
artifacts), and the job needs the whole stack healthy. A job this `up` submitted is warmed
up (fraudctl/warmup.py) before `up` returns, so the first real decisions are not slow.
Each step reports as a StackEvent so the CLI shows one progress table for all of it.
"""

from __future__ import annotations

from fraudctl.jobs import ensure_job_running
from fraudctl.stack import StackEvent, StackManager
from fraudctl.stack.manager import EventSink
from fraudctl.warmup import warm_up_job
from models.artifacts import ensure_model, model_problem

MODEL_STEP = "model"
JOB_STEP = "scoring-job"
WARMUP_STEP = "warm-up"
SUPERVISOR_STEP = "supervisor"


def bring_up(
    manager: StackManager,
    on_event: EventSink,
    only: list[str] | None = None,
    with_job: bool = True,
    supervise: bool = True,
) -> None:
    """Ensure the model, start the stack, keep exactly one scoring job running and leave
    the supervisor watching it all (only after a whole-stack `up`: a partial one leaves
    the rest to the operator)."""
    artifacts = manager.settings.model.artifacts_dir
    problem = model_problem(artifacts)
    if problem is not None:
        on_event(StackEvent(MODEL_STEP, "starting", f"training: {problem}"))
        ensure_model(artifacts)
    on_event(StackEvent(MODEL_STEP, "healthy", str(artifacts)))
    manager.up(on_event, only=only)
    if only:
        return
    if with_job:
        on_event(StackEvent(JOB_STEP, "checking"))
        job = ensure_job_running(manager.settings)
        on_event(StackEvent(JOB_STEP, "healthy", f"{job.state} {job.job_id}"))
        if job.submitted:  # a job this `up` started: its first decisions come after this
            on_event(StackEvent(WARMUP_STEP, "starting", "synthetic transactions"))
            warmed = warm_up_job(manager.settings)  # incomplete: said, not fatal
            on_event(StackEvent(WARMUP_STEP, "healthy", warmed.describe()))
    if supervise:
        pid = manager.start_supervisor(keep_job=with_job)
        log = manager.supervisor_process().log_file
        on_event(StackEvent(SUPERVISOR_STEP, "healthy", f"pid {pid}, log {log}"))
