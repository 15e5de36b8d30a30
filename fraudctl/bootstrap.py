"""Everything `fraudctl up` does beyond starting processes: the model and the scoring job.

Order matters: the model must exist before the job is submitted (the job ships the model
artifacts), and the job needs the whole stack healthy. Each step reports as a StackEvent
so the CLI shows one progress table for all of it.
"""

from __future__ import annotations

from fraudctl.jobs import ensure_job_running
from fraudctl.stack import StackEvent, StackManager
from fraudctl.stack.manager import EventSink
from models.artifacts import ensure_model, model_problem

MODEL_STEP = "model"
JOB_STEP = "scoring-job"


def bring_up(
    manager: StackManager,
    on_event: EventSink,
    only: list[str] | None = None,
    with_job: bool = True,
) -> None:
    """Ensure the model, start the stack, and keep exactly one scoring job running."""
    artifacts = manager.settings.model.artifacts_dir
    problem = model_problem(artifacts)
    if problem is not None:
        on_event(StackEvent(MODEL_STEP, "starting", f"training: {problem}"))
        ensure_model(artifacts)
    on_event(StackEvent(MODEL_STEP, "healthy", str(artifacts)))
    manager.up(on_event, only=only)
    if not with_job or only:
        return
    on_event(StackEvent(JOB_STEP, "checking"))
    job = ensure_job_running(manager.settings)
    on_event(StackEvent(JOB_STEP, "healthy", f"{job.state} {job.job_id}"))
