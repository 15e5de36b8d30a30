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


def _records_dir(settings: Settings) -> Path:
    return StackPaths(settings.state_dir.expanduser()).data("flink") / "pids"


def record_file(settings: Settings, component: str) -> Path:
    """Where a TaskManager component's start is recorded: `<resource id> <fingerprint>`."""
    return _records_dir(settings) / f"{component}.job-code"


def record_start(
    settings: Settings, component: str, resource_id: str, fingerprint: str | None = None
) -> None:
    """Called as a TaskManager starts: its identity and the job code it will load."""
    path = record_file(settings, component)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{resource_id} {fingerprint or code_fingerprint()}\n")


def recorded_starts(settings: Settings) -> dict[str, str]:
    """Resource id -> job-code fingerprint of each TaskManager component's latest start."""
    starts: dict[str, str] = {}
    for path in sorted(_records_dir(settings).glob("*.job-code")):
        fields = path.read_text().split()
        if len(fields) == 2:
            starts[fields[0]] = fields[1]
    return starts


def stale_taskmanagers(
    settings: Settings, registered: list[str], current: str | None = None
) -> list[str]:
    """The registered TaskManagers (resource ids) started with other job code. One that
    left no record (started by other means, e.g. compose) is not judged."""
    current = current or code_fingerprint()
    starts = recorded_starts(settings)
    return [tm for tm in registered if tm in starts and starts[tm] != current]


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
            f"TaskManager(s) {', '.join(stale)} started before the job's code changed "
            f"(flink_job, models or foundation under {SOURCE_ROOT}); its Python keeps the "
            "modules it loaded, so the job would run old and new code mixed. Restart the "
            "Flink processes first: `fraudctl down`, then `fraudctl up` (the job resumes "
            "from its newest checkpoint; `fraudctl job cancel` before them takes a "
            "savepoint to resume from instead)."
        )
