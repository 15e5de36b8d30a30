"""Which version of the job's Python code each TaskManager runs.

A TaskManager's embedded Python imports the job's modules (flink_job, models, foundation)
the first time it runs the job and keeps them until the TaskManager stops: a job submitted
after that code changed runs the new job graph with the old modules, a mix that fails in
odd ways (an attribute the pickled functions expect is missing) or, worse, scores with old
features. So every TaskManager start records a fingerprint of that code beside its pid
file, and a submission refuses while a registered TaskManager carries another one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from foundation.flink_rest import FlinkRest, FlinkUnreachable
from foundation.settings import Settings
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.errors import StackError

JOB_PACKAGES = ("flink_job", "models", "foundation")
SOURCE_ROOT = Path(__file__).resolve().parents[2]


class StaleJobCode(StackError):
    """A TaskManager runs older job code than this installation would submit."""


def code_fingerprint(root: Path = SOURCE_ROOT) -> str:
    """A digest of every .py file of the packages the TaskManagers import (path + bytes)."""
    digest = hashlib.sha256()
    for package in JOB_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def fingerprint_file(settings: Settings, resource_id: str) -> Path:
    return (
        StackPaths(settings.state_dir.expanduser()).data("flink")
        / "pids"
        / (f"{resource_id}.job-code")
    )


def record_start(settings: Settings, resource_id: str, fingerprint: str | None = None) -> None:
    """Called as a TaskManager starts: the job code it will load from now on."""
    path = fingerprint_file(settings, resource_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((fingerprint or code_fingerprint()) + "\n")


def stale_taskmanagers(
    settings: Settings, registered: list[str], current: str | None = None
) -> list[str]:
    """The registered TaskManagers (resource ids) started with other job code. One that
    left no fingerprint (started by other means, e.g. compose) is not judged."""
    current = current or code_fingerprint()
    stale = []
    for resource_id in registered:
        path = fingerprint_file(settings, resource_id)
        if path.is_file() and path.read_text().strip() != current:
            stale.append(resource_id)
    return stale


def check_job_code(settings: Settings) -> None:
    """Refuse to submit while a TaskManager would run the job with older modules."""
    try:
        body = FlinkRest.of(settings).get("/taskmanagers")
    except FlinkUnreachable:
        return  # the submission itself reports an unreachable cluster
    registered = [str(tm.get("id", "")) for tm in body.get("taskmanagers", [])]
    stale = stale_taskmanagers(settings, registered)
    if stale:
        raise StaleJobCode(
            f"TaskManager {', '.join(stale)} was started before the job's code changed "
            f"(flink_job, models or foundation under {SOURCE_ROOT}); its Python keeps the "
            "modules it loaded, so the job would run old and new code mixed. Restart the "
            "Flink processes first: `fraudctl down`, then `fraudctl up` (the job resumes "
            "from its newest checkpoint; `fraudctl job cancel` before them takes a "
            "savepoint to resume from instead)."
        )
