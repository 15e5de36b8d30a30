"""Submitting, finding and cancelling jobs on the local Flink session cluster.

Submission goes through Flink's own `flink run -py` client from the PyFlink distribution,
pointed at the stack's config dir, so the connector jars and the venv's python are the
ones the cluster uses.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from fraudctl.settings import Settings, settings_env
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.components.flink import pyflink_home
from fraudctl.stack.errors import StackError

ACTIVE_STATES = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "FAILING"}
JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class JobSubmitFailed(StackError):
    """`flink run` did not submit the job."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str


def list_jobs(settings: Settings) -> list[JobInfo]:
    response = httpx.get(f"{settings.flink.rest_url}/jobs/overview", timeout=5)
    response.raise_for_status()
    return [JobInfo(j["jid"], j["name"], j["state"]) for j in response.json()["jobs"]]


def active_jobs(settings: Settings, name: str) -> list[JobInfo]:
    return [j for j in list_jobs(settings) if j.name == name and j.state in ACTIVE_STATES]


def submit_python_job(
    settings: Settings,
    script: Path,
    args: list[str] | None = None,
    py_files: list[Path] | None = None,
    timeout_s: float = 180.0,
    restore_from: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Run `flink run -d -py script` against the stack's cluster; the new job's id.

    `restore_from` is a checkpoint or savepoint directory to start from (state that no
    longer matches an operator is skipped); `extra_env` reaches the script's process.
    """
    paths = StackPaths(settings.state_dir.expanduser())
    home = pyflink_home()
    argv = ["bash", str(home / "bin" / "flink"), "run", "-d"]
    if restore_from is not None:
        argv += ["-s", str(restore_from), "-n"]
    argv += ["-py", str(script)]
    if py_files:
        argv += ["-pyfs", ",".join(str(p) for p in py_files)]
    argv += args or []
    env = {
        **_base_env(),
        **settings_env(settings),
        "FLINK_CONF_DIR": str(paths.conf("flink")),
        "FLINK_LIB_DIR": str(paths.data("flink") / "lib"),
        "FLINK_LOG_DIR": str(paths.logs),
        **(extra_env or {}),
    }
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise JobSubmitFailed(f"`flink run` did not finish within {timeout_s:.0f} s") from exc
    output = result.stdout + result.stderr
    match = JOB_ID.search(output)
    if result.returncode != 0 or match is None:
        raise JobSubmitFailed(
            f"`flink run -py {script.name}` failed (exit {result.returncode}):\n{output[-3000:]}"
        )
    return str(match.group(1))


def wait_for_state(
    settings: Settings, job_id: str, wanted: str = "RUNNING", timeout_s: float = 120.0
) -> str:
    """Poll the REST API until the job reaches `wanted` (and all its tasks run)."""
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{settings.flink.rest_url}/jobs/{job_id}", timeout=5)
            if response.status_code == 200:
                body = response.json()
                state = str(body["state"])
                if state == wanted and (wanted != "RUNNING" or _all_tasks_running(body)):
                    return state
                if state in ("FAILED", "CANCELED", "FINISHED") and state != wanted:
                    raise StackError(f"job {job_id} ended in state {state}, not {wanted}")
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"job {job_id} is {state}, not {wanted}, after {timeout_s:.0f} s")


def _all_tasks_running(body: dict[str, object]) -> bool:
    vertices = body.get("vertices", [])
    assert isinstance(vertices, list)
    return all(v.get("status") == "RUNNING" for v in vertices)


def cancel_job(settings: Settings, job_id: str, timeout_s: float = 60.0) -> None:
    httpx.patch(f"{settings.flink.rest_url}/jobs/{job_id}?mode=cancel", timeout=10)
    wait_for_state(settings, job_id, "CANCELED", timeout_s)


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
